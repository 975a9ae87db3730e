"""
The update as the training loop wires it, recomputed by hand from the networks (spec sections 2-5).

One gradient step of ``train()`` is recorded (its batch, the random states its actors sampled with, the target noise);
the same losses are then written out here from a copy of the networks taken before the step, without the loop's loss
functions, and their gradients must equal the gradients the loop applied: the reward critics' (expected and sampled
targets), the entropy critic's, the actor's (smallest mean over the reward critics, critics frozen,
``alpha * (Q_e - log pi)``) and the temperature's (the trajectory estimate against the budget; DSAC-T's per-step form).
"""

import math
import warnings
from typing import Any

import pytest
import torch as th
import torch.nn.functional as F
from helpers import ScaledTerminatingEnv, TinyExtractor
from stable_baselines3.common.logger import configure

from sb3_tecrl import DSACE, DSACT

GAMMA = 0.9
BATCH = 64
LOW, HIGH, ACTION_DIM = -0.4, 0.4, 2
# log((high - low) / 2) per action dimension: log-probabilities in the environment's units are log pi_sb3 - C
C = ACTION_DIM * math.log((HIGH - LOW) / 2)
NOISE_WIDENING = 2.0

VARIANTS = {
    "DSAC-E": (DSACE, {}),
    "DSAC-E w/o TEC": (DSACE, dict(trajectory_entropy_constraint=False)),
    "DSAC-T": (DSACT, {}),
    "DSAC-E n-step": (DSACE, dict(n_steps=3)),
    # the critics' own extractor has parameters: the actor's loss must not reach them through the critics' features
    "DSAC-E learned features": (DSACE, dict(policy_kwargs=dict(features_extractor_class=TinyExtractor))),
}


def model_after_one_step(algo: type[DSACE], **kwargs: Any) -> DSACE:
    """A model with terminations in its buffer (``c != 0``, alpha != 1) and one gradient step done (``b`` set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the n-step approximation warning
        model = algo(
            "MlpPolicy",
            ScaledTerminatingEnv(low=LOW, high=HIGH, dim=ACTION_DIM, episode_length=5),
            learning_starts=10_000,  # learn() only collects: the test calls train() itself
            batch_size=BATCH,
            gamma=GAMMA,
            ent_coef="auto_0.5",
            policy_delay=1,
            seed=0,
            device="cpu",
            **{**kwargs, "policy_kwargs": dict(net_arch=[16, 16], **kwargs.get("policy_kwargs", {}))},
        )
        model.learn(300)  # warns: no gradient step
    model.set_logger(configure(folder=None, format_strings=[]))
    model.train(gradient_steps=1, batch_size=BATCH)
    return model


def record_one_step(model: DSACE, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """
    Run one gradient step of ``model.train`` and record what it drew at random: the batch, the torch random state
    before each actor sampled (``actor_rng``, ``actor_target_rng``) and the noise of the sampled targets.
    """
    record: dict[str, Any] = {"noise": []}
    sample = model.replay_buffer.sample

    def recorded_sample(*args: Any, **kwargs: Any) -> Any:
        record["batch"] = sample(*args, **kwargs)
        return record["batch"]

    monkeypatch.setattr(model.replay_buffer, "sample", recorded_sample)
    for name in ("actor", "actor_target"):
        actor = getattr(model, name)

        def recorded_action_log_prob(obs: Any, _original: Any = actor.action_log_prob, _name: str = name) -> Any:
            record[f"{_name}_rng"] = th.get_rng_state()
            return _original(obs)

        monkeypatch.setattr(actor, "action_log_prob", recorded_action_log_prob)
    randn_like = th.randn_like

    def recorded_randn_like(*args: Any, **kwargs: Any) -> th.Tensor:
        # twice as wide as drawn (about 13% of the samples beyond the clip at 3), and recorded before the loop clamps it in
        # place, so that the hand-written targets check the clip's bound
        record["noise"].append(NOISE_WIDENING * randn_like(*args, **kwargs))
        return record["noise"][-1].clone()

    monkeypatch.setattr(th, "randn_like", recorded_randn_like)
    model.train(gradient_steps=1, batch_size=BATCH)
    monkeypatch.undo()
    assert {"batch", "actor_rng", "actor_target_rng"} <= set(record) and len(record["noise"]) == 1, (
        "the step no longer draws its randomness as recorded here: update record_one_step"
    )
    assert (record["noise"][0].abs() > 3.0).any(), "no target noise beyond the clip: the clip's bound goes unchecked"
    return record


def sample_as_recorded(actor: Any, observations: th.Tensor, rng_state: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """:return: the actions and environment-unit log-probabilities ``(B, 1)`` the actor drew from ``rng_state``"""
    th.set_rng_state(rng_state)
    actions, log_prob_sb3 = actor.action_log_prob(observations)
    return actions, log_prob_sb3.reshape(-1, 1) - C


def huber(x: th.Tensor, y: th.Tensor) -> th.Tensor:
    return F.huber_loss(x, y, delta=50.0, reduction="none")


def hand_critic_loss(model: DSACE, reference: Any, record: dict[str, Any], alpha: float, ema: th.Tensor) -> th.Tensor:
    """Reward critics (spec section 2) plus entropy critic (section 3), written out, on ``reference``'s weights."""
    batch = record["batch"]
    g = batch.discounts if batch.discounts is not None else GAMMA
    not_done = g * (1.0 - batch.dones)
    with th.no_grad():
        next_actions, next_log_prob = sample_as_recorded(
            reference.actor_target, batch.next_observations, record["actor_target_rng"]
        )
        next_values = reference.critic_target(batch.next_observations, next_actions)
        smaller = next_values.mean.argmin(dim=0, keepdim=True)  # per sample, the target critic with the smaller mean
        next_mean = next_values.mean.gather(0, smaller)[0]
        next_std = next_values.std.gather(0, smaller)[0]
        noise = record["noise"][0].clamp(-3.0, 3.0)
        next_value, next_sample = next_mean, next_mean + noise * next_std
        if not model.separate_entropy_critic:  # DSAC-T: the soft target
            next_value, next_sample = next_value - alpha * next_log_prob, next_sample - alpha * next_log_prob
        target, target_sample = batch.rewards + not_done * next_value, batch.rewards + not_done * next_sample

    values = reference.critic(batch.observations, batch.actions)
    mean, std = values.mean, values.std
    mean_, std_ = mean.detach(), std.detach()
    batch_std = std_.mean(dim=(1, 2))
    b = th.where(ema < 0, batch_std, (1 - model.tau_b) * ema + model.tau_b * batch_std).view(-1, 1, 1)
    assert th.allclose(b.flatten(), model.critic_std_ema)  # the moving average the loop keeps
    bounded = mean_ + th.maximum(th.minimum(target_sample - mean_, 3 * b), -3 * b)
    weight = (b**2 / (std_**2 + 0.1)).clamp(0.1, 10.0)
    per_sample = weight * (huber(mean, target.expand_as(mean)) + std * (std_**2 - huber(mean_, bounded)) / (std_ + 0.1))
    loss = per_sample.mean(dim=(1, 2)).sum()
    if model.separate_entropy_critic:
        entropy_target = not_done * (next_values.entropy - next_log_prob)
        loss = loss + ((values.entropy - entropy_target) ** 2).mean()
    return loss


def hand_actor_loss_and_temperature_gradient(
    model: DSACE, reference: Any, record: dict[str, Any], alpha: float
) -> tuple[th.Tensor, th.Tensor]:
    """The actor's loss (section 4) and the gradient of the temperature's loss in ``log alpha`` (section 5)."""
    observations = record["batch"].observations
    actions, log_prob = sample_as_recorded(reference.actor, observations, record["actor_rng"])
    values = reference.critic(observations, actions)
    q_r = values.mean.min(dim=0).values  # the smallest mean over the reward critics
    if model.separate_entropy_critic:
        actor_loss = (alpha * log_prob - q_r - alpha * values.entropy).mean()
    else:
        actor_loss = (alpha * log_prob - q_r).mean()
    if model.trajectory_entropy_constraint:
        estimate = -log_prob + values.entropy  # trajectory entropy, against rho * H0 / (1 - gamma^n)
        assert model.temperature_target == pytest.approx(-ACTION_DIM / (1 - GAMMA**model.n_steps))
    else:
        estimate = -log_prob  # per-step entropy, against H0 = -dim(A)
        assert model.temperature_target == pytest.approx(-ACTION_DIM)
    # d/d(log alpha) of mean(log alpha * (H_ - target))
    return actor_loss, (estimate.detach() - model.temperature_target).mean().reshape(1)


def copy_of_the_networks(model: DSACE) -> Any:
    """:return: a policy (actor, critics and their targets) with ``model``'s current weights"""
    policy = type(model.policy)(**model.policy._get_constructor_parameters())
    policy.load_state_dict(model.policy.state_dict())
    return policy


def loop_gradients(module: th.nn.Module) -> list[th.Tensor]:
    return [p.grad.clone() for p in module.parameters()]


def assert_close(loop: list[th.Tensor], hand: tuple[th.Tensor, ...], what: str) -> None:
    for index, (a, b) in enumerate(zip(loop, hand, strict=True)):
        th.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=lambda m, i=index: f"{what}, parameter {i}: {m}")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_loops_gradients_are_those_of_the_losses_written_out_by_hand(variant: str, monkeypatch):
    algo, kwargs = VARIANTS[variant]
    model = model_after_one_step(algo, **kwargs)
    reference = copy_of_the_networks(model)
    # b far from this batch's mean standard deviation (one step in, they nearly agree), so that b's rate shows
    model.critic_std_ema = 3.0 * model.critic_std_ema
    alpha, ema = model.log_ent_coef.detach().exp().item(), model.critic_std_ema.clone()
    record = record_one_step(model, monkeypatch)
    assert 0 < record["batch"].dones.sum() < BATCH  # terminations in the batch: (1 - d) matters

    critic_loss = hand_critic_loss(model, reference, record, alpha, ema)
    assert_close(loop_gradients(model.critic), th.autograd.grad(critic_loss, list(reference.critic.parameters())), "critics")
    actor_loss, temperature_gradient = hand_actor_loss_and_temperature_gradient(model, reference, record, alpha)
    # the actor's gradient only: the critics are frozen in its loss (their gradient above holds no actor term)
    assert_close(loop_gradients(model.actor), th.autograd.grad(actor_loss, list(reference.actor.parameters())), "actor")
    assert_close([model.log_ent_coef.grad], (temperature_gradient,), "log alpha")
