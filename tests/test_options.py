"""
Options with no other test: target_update_interval, learning-rate schedules, optimize_memory_usage, the actor's log-std
bounds, NaN in a Dict observation, and non-finite actor, entropy-critic and temperature losses.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.logger import configure

from sb3_tecrl import DSACE, DSACT

TINY = dict(net_arch=[16])


def quick(algo=DSACE, env="Pendulum-v1", **kwargs) -> DSACE:
    params = dict(learning_starts=20, batch_size=16, buffer_size=2_000, policy_kwargs=dict(TINY), seed=0, device="cpu")
    params.update(kwargs)
    return algo("MlpPolicy", env, **params)


def trained_for(model: DSACE, steps: int = 30) -> DSACE:
    model.learn(steps)
    model.set_logger(configure(folder=None, format_strings=[]))
    return model


def targets(model: DSACE) -> th.Tensor:
    return th.cat([p.detach().flatten() for p in [*model.critic_target.parameters(), *model.actor_target.parameters()]])


# --- target_update_interval ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy_delay, interval", [(1, 3), (2, 2)])
def test_targets_move_every_target_update_interval_th_actor_update(policy_delay: int, interval: int):
    model = trained_for(quick(policy_delay=policy_delay, target_update_interval=interval, learning_starts=1_000))
    moved_at = []
    for _ in range(2 * policy_delay * interval):
        before = targets(model)
        model.train(gradient_steps=1, batch_size=16)
        if not th.equal(before, targets(model)):
            moved_at.append(model._n_updates)
    # actor updates at every policy_delay-th gradient step; the targets at every interval-th of those
    assert moved_at == [policy_delay * interval, 2 * policy_delay * interval]


@pytest.mark.parametrize("interval", [0, -1])
def test_target_update_interval_below_one_is_rejected(interval: int):
    with pytest.raises(ValueError, match=f"target_update_interval.*{interval}"):
        DSACE("MlpPolicy", "Pendulum-v1", target_update_interval=interval)


# --- learning-rate schedules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_learning_rate_schedules_of_actor_critics_and_temperature(algo):
    model = quick(algo, learning_rate=lambda progress: 1e-3 * progress, ent_coef_learning_rate=lambda p: 2e-3 * p)
    optimizers = {"actor": model.actor.optimizer, "critic": model.critic.optimizer, "temperature": model.ent_coef_optimizer}
    assert [opt.param_groups[0]["lr"] for opt in optimizers.values()] == pytest.approx([1e-3, 1e-3, 2e-3])
    trained_for(model)
    model._current_progress_remaining = 0.25
    model.train(gradient_steps=1, batch_size=16)
    assert [opt.param_groups[0]["lr"] for opt in optimizers.values()] == pytest.approx([2.5e-4, 2.5e-4, 5e-4])


# --- optimize_memory_usage -------------------------------------------------------------------------------------------


def test_optimize_memory_usage_trains_on_next_observations_from_the_next_row():
    model = quick(optimize_memory_usage=True, replay_buffer_kwargs=dict(handle_timeout_termination=False))
    trained_for(model, 60)
    buffer = model.replay_buffer
    assert buffer.optimize_memory_usage and model._n_updates > 0
    # the next observation of row t is the observation of row t + 1 (no second array)
    batch = buffer._get_samples(np.array([3, 10]))
    th.testing.assert_close(batch.next_observations, th.as_tensor(buffer.observations[[4, 11], 0]))
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


# --- log-std bounds --------------------------------------------------------------------------------------------------


def test_log_std_bounds_from_policy_kwargs_clamp_the_actor_and_survive_save_load(tmp_path):
    model = quick(policy_kwargs=dict(net_arch=[8], log_std_min=-3.0, log_std_max=-1.0))
    obs = th.zeros(4, 3)
    for bias, bound in ((10.0, -1.0), (-10.0, -3.0)):
        with th.no_grad():
            model.actor.log_std.weight.zero_()
            model.actor.log_std.bias.fill_(bias)
        _, log_std, _ = model.actor.get_action_dist_params(obs)
        assert th.all(log_std == bound)
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    assert (loaded.actor.log_std_min, loaded.actor.log_std_max) == (-3.0, -1.0)


@pytest.mark.parametrize("low, high", [(0.0, 0.0), (1.0, -1.0)])
def test_log_std_bounds_in_the_wrong_order_are_rejected(low: float, high: float):
    with pytest.raises(ValueError, match=rf"log_std_min \({low}\) must be smaller than log_std_max \({high}\)"):
        quick(policy_kwargs=dict(log_std_min=low, log_std_max=high))


# --- NaN in a Dict observation ---------------------------------------------------------------------------------------


class DictObservationEnv(gym.Env):
    """A Dict observation whose ``velocity`` entry turns NaN at the 5th step."""

    observation_space = spaces.Dict(
        {"position": spaces.Box(-1.0, 1.0, (2,), dtype=np.float32), "velocity": spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)}
    )
    action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.steps = 0
        return self._observation(), {}

    def _observation(self) -> dict[str, np.ndarray]:
        velocity = np.nan if self.steps >= 5 else 0.1
        return {"position": np.zeros(2, dtype=np.float32), "velocity": np.full(1, velocity, dtype=np.float32)}

    def step(self, action):
        self.steps += 1
        return self._observation(), 0.0, False, self.steps >= 50, {}


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_nan_in_a_dict_observation_is_stopped_naming_the_key(algo):
    model = algo("MultiInputPolicy", DictObservationEnv(), learning_starts=2, batch_size=2, policy_kwargs=TINY, device="cpu")
    with pytest.raises(ValueError, match=r"non-finite observation\['velocity'\] at step 5"):
        model.learn(20)
    assert model.replay_buffer.size() == 4
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


# --- non-finite losses -----------------------------------------------------------------------------------------------


def poison_entropy_critic(model: DSACE) -> None:
    with th.no_grad():
        model.critic.q_net.layers[-1].bias[2].fill_(float("inf"))  # the entropy critic only: the third member


def poison_actor(model: DSACE) -> None:
    with th.no_grad():
        model.actor.mu.bias.fill_(float("inf"))  # the target actor, which the critics' targets use, stays finite


def poison_budget(model: DSACE) -> None:
    model.temperature_target = float("inf")


@pytest.mark.parametrize(
    "algo, poison, loss",
    [
        (DSACE, poison_entropy_critic, "entropy critic loss"),
        (DSACT, poison_actor, "actor loss"),
        (DSACE, poison_budget, "ent coef loss"),
    ],
)
def test_a_non_finite_loss_raises_an_error_naming_it(algo, poison, loss: str):
    model = trained_for(quick(algo))
    poison(model)
    with pytest.raises(RuntimeError, match=f"The {loss} is not finite"):
        model.train(gradient_steps=1, batch_size=8)
