"""DSACE / DSACT as algorithms: construction checks, switches, temperature, entropy critic, delays, logging."""

import inspect
import math
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from helpers import ConstantStateEnv, ScaledTerminatingEnv
from stable_baselines3.common.logger import configure
from stable_baselines3.common.utils import set_random_seed

import sb3_tecrl
from sb3_tecrl import DSACE, DSACT, NoGradientStepWarning
from sb3_tecrl.common import losses
from sb3_tecrl.dsace import dsace as dsace_module
from sb3_tecrl.zoo.hyperparams import hyperparams_entry, hyperparams_path

TINY = dict(net_arch=[16, 16])


def make_model(algo=DSACE, env="Pendulum-v1", **kwargs) -> DSACE:
    # no training inside learn() unless asked: tests call train() themselves
    params = dict(learning_starts=10_000, batch_size=32, policy_kwargs=TINY, seed=0, device="cpu")
    if algo is DSACE:  # the paper's trajectory entropy constraint, whose maths these tests check; the default's form is
        params["trajectory_entropy_constraint"] = True  # tested by name (test_defaults_follow_the_spec...)
    params.update(kwargs)
    return algo("MlpPolicy", env, **params)


def fill_buffer(model: DSACE, n: int = 200) -> None:
    """Collect ``n`` random transitions (no gradient step: ``learning_starts`` is larger)."""
    model.learn(n)


def silent_logger(model: DSACE) -> None:
    model.set_logger(configure(folder=None, format_strings=[]))


# --- bad input at construction -------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", [DSACE, DSACT])
@pytest.mark.parametrize("action_space", [spaces.Discrete(3), spaces.MultiDiscrete([2, 3]), spaces.MultiBinary(2)])
def test_non_box_action_spaces_are_rejected(algo, action_space):
    from stable_baselines3.common.envs import IdentityEnv

    env = IdentityEnv(space=action_space)
    with pytest.raises(ValueError, match="continuous \\(Box\\) action space"):
        algo("MlpPolicy", env)
    with pytest.raises(AssertionError):  # what SB3's SAC raises, so that code written for SAC catches it
        algo("MlpPolicy", env)


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_multi_input_policy_on_a_box_observation_space_says_to_use_mlp_policy(algo):
    with pytest.raises(ValueError, match=r"MultiInputPolicy needs a Dict observation space.*'MlpPolicy'"):
        algo("MultiInputPolicy", "Pendulum-v1")


@pytest.mark.parametrize("activation_fn", ["relu", th.nn.ReLU(), 3])
def test_an_activation_that_is_not_a_module_class_is_rejected_naming_the_class_to_pass(activation_fn):
    with pytest.raises(ValueError, match=r"activation_fn'\] must be a torch.nn.Module class such as torch.nn.ReLU"):
        DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(activation_fn=activation_fn))
    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(activation_fn=th.nn.ReLU, net_arch=[8]))
    assert isinstance(model.actor.latent_pi[1], th.nn.ReLU)


def test_unbounded_action_space_is_rejected():
    from stable_baselines3.common.envs import IdentityEnvBox

    env = IdentityEnvBox()
    env.action_space = spaces.Box(-np.inf, np.inf, (1,))
    with pytest.raises(ValueError, match="finite action bounds"):
        DSACE("MlpPolicy", env)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rho=0.0), "rho must be a number > 0"),
        (dict(rho=-1.0), "rho must be a number > 0"),
        (dict(gamma=1.0, trajectory_entropy_constraint=True), "entropy_budget"),
        (dict(entropy_budget=float("nan"), trajectory_entropy_constraint=True), "finite"),
        (dict(entropy_budget=float("inf"), trajectory_entropy_constraint=True), "finite"),
        # a budget without the constraint (the default since 0.2.0) would be ignored: an error, not a silent run
        (dict(entropy_budget=-10.0), "needs trajectory_entropy_constraint=True"),
        (dict(separate_entropy_critic=False, trajectory_entropy_constraint=True), "needs the entropy critic"),
        (dict(policy_delay=0), "policy_delay"),
        (dict(entropy_units="nats"), "entropy_units must be 'env'"),
        (dict(warmup_actions="random"), "warmup_actions must be 'uniform'"),
        (dict(constraint_states="initial"), "set trajectory_entropy_constraint=True"),
    ],
)
def test_invalid_hyperparameters_fail_before_anything_is_built(kwargs, message, monkeypatch):
    # fail before the environment is even created
    monkeypatch.setattr(gym, "make", lambda *a, **k: pytest.fail("the env was built before validation"))
    with pytest.raises(ValueError, match=message):
        DSACE("MlpPolicy", "Pendulum-v1", **kwargs)


# every number and string of the signature: (parameter, bad value, the valid range the message states); the message
# also names the parameter and shows the value (the part of it that is wrong)
BAD_PARAMETERS = [
    ("policy", "MlpPolicyy", "one of"),
    ("learning_rate", 0.0, "> 0"),
    ("learning_rate", "3e-4", "> 0"),
    ("buffer_size", 0, ">= 1"),
    ("buffer_size", 1e6, "an integer"),
    ("learning_starts", -1, ">= 0"),
    ("batch_size", 0, ">= 1"),
    ("batch_size", True, "an integer"),
    ("tau", 2.0, "[0, 1]"),
    ("tau", -0.1, "[0, 1]"),
    ("gamma", 1.5, "[0, 1]"),
    ("gamma", float("nan"), "[0, 1]"),
    ("train_freq", 0, ">= 1"),
    ("train_freq", (2, "epoch"), "'step'"),
    ("train_freq", (0, "episode"), ">= 1"),
    ("gradient_steps", -2, ">= 0 or -1"),
    ("n_steps", 0, ">= 1"),
    ("ent_coef", "auto_abc", "> 0"),
    ("ent_coef", "auto_-1", "> 0"),
    ("ent_coef", "automatic", "'auto_<initial value>'"),
    ("ent_coef", -0.1, ">= 0"),
    ("ent_coef_learning_rate", -1e-3, "> 0"),
    ("target_entropy", "bogus", "a finite number"),
    ("target_entropy", float("inf"), "a finite number"),
    ("rho", "abc", "> 0"),
    ("rho", 0.0, "> 0"),
    ("rho", -1.0, "> 0"),
    ("rho", float("inf"), "> 0"),
    ("entropy_budget", float("nan"), "a finite number"),
    ("entropy_budget", "low", "a finite number"),
    ("entropy_units", "nats", "'env'"),
    ("warmup_actions", "random", "'uniform'"),
    ("constraint_states", "start", "one of"),
    ("policy_delay", 0, ">= 1"),
    ("target_update_interval", 0, ">= 1"),
    ("tau_b", 1.5, "[0, 1]"),
    ("entropy_tau", -0.5, "[0, 1]"),
    ("temperature_update", "sgd", "one of"),
    ("temperature_pid_gains", (1.0, 0.0), "temperature_update='pid'"),
    ("budget_schedule", "adaptive", "one of"),
    ("matmul_precision", "float16", "one of"),
    ("compile_update", "yes", "'auto'"),
    ("sde_sample_freq", -2, ">= -1"),
    ("stats_window_size", 0, ">= 1"),
    ("verbose", -1, ">= 0"),
    ("seed", -1, "[0, 4294967295]"),
    ("seed", 1.5, "an integer"),
    ("device", "gpu", "'cpu'"),
]
# the signature's parameters that take no number or string of ours to check (env: Gymnasium names a bad id itself)
NOT_NUMBERS_OR_STRINGS = {"self", "env", "action_noise", "replay_buffer_class", "replay_buffer_kwargs",
    "optimize_memory_usage", "separate_entropy_critic", "trajectory_entropy_constraint", "use_sde", "use_sde_at_warmup",
    "tensorboard_log", "policy_kwargs", "_init_setup_model"}  # fmt: skip


def test_every_number_and_string_of_the_signature_is_checked():
    signature = set(inspect.signature(DSACE.__init__).parameters)
    assert signature - NOT_NUMBERS_OR_STRINGS == {name for name, _, _ in BAD_PARAMETERS}


@pytest.mark.parametrize("name, value, valid", BAD_PARAMETERS)
def test_a_bad_parameter_is_named_with_its_value_and_range_at_construction(name, value, valid, monkeypatch):
    monkeypatch.setattr(gym, "make", lambda *a, **k: pytest.fail("the env was built before validation"))
    with pytest.raises(ValueError) as error:
        DSACE("MlpPolicy" if name != "policy" else value, "Pendulum-v1", **({name: value} if name != "policy" else {}))
    message = str(error.value)
    wrong_part = {(2, "epoch"): "epoch", (0, "episode"): 0, "auto_abc": "abc", "auto_-1": -1.0}.get(value, value)
    assert name in message and repr(wrong_part) in message and valid in message, message


def test_gamma_one_is_accepted_with_an_explicit_budget_or_without_tec():
    assert make_model(gamma=1.0, entropy_budget=-50.0).temperature_target == -50.0
    assert make_model(DSACT, gamma=1.0).temperature_target == pytest.approx(-1.0)
    assert make_model(DSACT, gamma=1.0, entropy_units="sb3").temperature_target == pytest.approx(-1.0 - math.log(2.0))


def test_dsact_rejects_dsace_only_parameters():
    with pytest.raises(TypeError, match="rho"):
        DSACT("MlpPolicy", "Pendulum-v1", rho=2.0)


# --- defaults and resolved targets -----------------------------------------------------------------------------------


def test_defaults_follow_the_spec_except_the_two_set_for_sb3s_regime():
    model = DSACE("MlpPolicy", "Pendulum-v1", device="cpu")
    assert (model.train_freq.frequency, model.gradient_steps) == (1, 1)  # SB3's regime: one env step per gradient step
    # official 1e-4 and 2 (the dsace_paper files, tests/test_regimes.py); the defaults study's values for 1:1
    assert (model.learning_rate, model.ent_coef_learning_rate, model.gamma, model.tau) == (3e-4, 3e-4, 0.99, 0.005)
    # SAC's warm-up for the class; the official 10,000 in the zoo and paper files
    assert (model.batch_size, model.buffer_size, model.learning_starts, model.policy_delay) == (256, 1_000_000, 100, 1)
    for name in ("dsace", "dsact", "dsace_paper", "dsact_paper"):
        assert hyperparams_entry(hyperparams_path(name), "Hopper-v4")["learning_starts"] == 10_000
    assert model.critic.n_critics == 2 and not model.use_sde and not model.actor.use_sde
    assert model.tau_b == model.tau
    linear_sizes = [layer.weight.shape for layer in model.critic.q_net.layers]
    assert linear_sizes == [(3, 4, 256), (3, 256, 256), (3, 256, 256), (3, 256, 2)]
    assert isinstance(model.critic.q_net.activation, th.nn.GELU)
    assert [m.out_features for m in model.actor.latent_pi if isinstance(m, th.nn.Linear)] == [256, 256, 256]
    assert (model.actor.log_std_min, model.actor.log_std_max) == (-20.0, 0.5)
    # Pendulum: H0 = -1, environment units (c = log 2 is in the log-probabilities)
    assert (model.entropy_units, model.log_prob_shift) == ("env", pytest.approx(math.log(2.0)))
    # since 0.2.0 the entropy critic with the per-step target rho * H0 (the paper's "w/o TEC", shipped by the
    # constraint study's rule), as in the dsace zoo file; the paper's budget rho * H0 / (1 - gamma) with TEC, as in
    # dsace_paper's
    assert model.separate_entropy_critic and not model.trajectory_entropy_constraint
    assert model.temperature_target == pytest.approx(-1.0) and model._estimate_key() == "entropy"
    paper = DSACE("MlpPolicy", "Pendulum-v1", trajectory_entropy_constraint=True, device="cpu")
    assert paper.temperature_target == pytest.approx(-1.0 / 0.01)
    assert [
        hyperparams_entry(hyperparams_path(name), "Walker2d-v4")["trajectory_entropy_constraint"]
        for name in ("dsace", "dsace_paper")
    ] == [False, True]
    assert model.warmup_actions == "uniform"
    # DSAC-T: two reward critics only and the per-step target H0
    dsact = DSACT("MlpPolicy", "Pendulum-v1", device="cpu")
    assert dsact.critic.q_net.layers[0].weight.shape[0] == 2
    assert dsact.temperature_target == pytest.approx(-1.0)


def test_the_critics_heads_mean_and_softplus_std_per_reward_critic_and_the_last_member_is_the_entropy_critic():
    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]), seed=0, device="cpu")
    obs, actions = th.randn(8, 3), th.rand(8, 1) * 2 - 1
    with th.no_grad():
        raw = model.critic.q_net(th.cat([model.critic.features(obs), actions], dim=1))  # (reward critics + 1, B, 2)
        values = model.critic(obs, actions)
    assert raw.shape == (3, 8, 2)
    th.testing.assert_close(values.mean, raw[:2, :, :1])
    th.testing.assert_close(values.std, th.nn.functional.softplus(raw[:2, :, 1:]) + 1e-6)  # spec 1: softplus plus a floor
    th.testing.assert_close(values.entropy, raw[2, :, :1])


def test_rho_scales_the_budget_and_tec_off_uses_the_step_target():
    assert make_model(rho=20.0).temperature_target == pytest.approx(-20.0 / 0.01)
    assert make_model(rho=20.0, entropy_units="sb3").temperature_target == pytest.approx((-20.0 - math.log(2.0)) / 0.01)
    assert make_model(trajectory_entropy_constraint=False).temperature_target == pytest.approx(-1.0)
    # a float target_entropy is in SB3 units: H0 = -3 + c; budget H0 / (1 - gamma), or (H0 - c) / (1 - gamma) = -3 / 0.1
    assert make_model(target_entropy=-3.0, gamma=0.9).temperature_target == pytest.approx((-3.0 + math.log(2.0)) / 0.1)
    assert make_model(target_entropy=-3.0, gamma=0.9, entropy_units="sb3").temperature_target == pytest.approx(-30.0)


def test_rho_without_tec_scales_the_per_step_target():
    assert make_model(trajectory_entropy_constraint=False, rho=20.0).temperature_target == pytest.approx(-20.0)
    sb3_units = make_model(trajectory_entropy_constraint=False, rho=20.0, entropy_units="sb3")
    assert sb3_units.temperature_target == pytest.approx(-20.0 - math.log(2.0))


# --- the switches ----------------------------------------------------------------------------------------------------


def record_reward_targets(monkeypatch) -> list:
    calls = []
    original = losses.reward_targets

    def spy(*args, **kwargs):
        calls.append(args[-1] if len(args) == 6 else kwargs["entropy_bonus"])
        return original(*args, **kwargs)

    monkeypatch.setattr(dsace_module, "reward_targets", spy)
    return calls


def test_dsact_reward_target_contains_the_entropy_term_and_dsace_does_not(monkeypatch):
    calls = record_reward_targets(monkeypatch)
    for algo in (DSACE, DSACT):
        model = make_model(algo, ent_coef=0.5)
        fill_buffer(model, 100)
        silent_logger(model)
        calls.clear()
        model.train(gradient_steps=1, batch_size=16)
        (bonus,) = calls
        if algo is DSACE:
            assert bonus is None
        else:
            # -alpha * log pi'(a'|s'), a tensor that depends on the temperature
            assert bonus is not None and bonus.shape == (16, 1) and th.all(bonus != 0)


def reward_critic_after_one_step(algo, ent_coef: float) -> th.Tensor:
    model = make_model(algo, ent_coef=ent_coef, policy_delay=2)
    fill_buffer(model, 100)
    silent_logger(model)
    set_random_seed(1)
    model.train(gradient_steps=1, batch_size=16)
    return th.cat([p[:2].flatten() for p in model.critic.q_net.parameters()])


def test_temperature_moves_only_dsact_reward_critic():
    # one gradient step, no actor update (policy_delay=2): the reward critics see alpha only through their target
    assert th.equal(reward_critic_after_one_step(DSACE, 0.1), reward_critic_after_one_step(DSACE, 10.0))
    assert not th.equal(reward_critic_after_one_step(DSACT, 0.1), reward_critic_after_one_step(DSACT, 10.0))


def one_step(model: DSACE) -> None:
    silent_logger(model)
    set_random_seed(7)
    model.train(gradient_steps=1, batch_size=16)


def snapshot(model: DSACE) -> dict[str, th.Tensor]:
    return {
        "critic": th.cat([p.flatten() for p in model.critic.parameters()]),
        "actor": th.cat([p.flatten() for p in model.actor.parameters()]),
        "log_alpha": model.log_ent_coef.detach().clone(),
    }


def test_tec_switch_changes_only_the_temperature_update():
    with_tec, without_tec = make_model(policy_delay=1), make_model(policy_delay=1, trajectory_entropy_constraint=False)
    for model in (with_tec, without_tec):
        fill_buffer(model, 100)
        model.replay_buffer = with_tec.replay_buffer
        one_step(model)
    a, b = snapshot(with_tec), snapshot(without_tec)
    assert th.equal(a["critic"], b["critic"]) and th.equal(a["actor"], b["actor"])
    # the temperature's gradients differ (trajectory estimate against the budget, or -log pi against H0); not its new
    # value: Adam's first step is lr * sign(gradient) for both, whatever the gradients' sizes
    assert not th.equal(with_tec.log_ent_coef.grad, without_tec.log_ent_coef.grad)


def test_res_switch_changes_reward_target_and_actor_but_not_the_step_temperature_update():
    separate = make_model(policy_delay=1, trajectory_entropy_constraint=False)
    soft = make_model(DSACT, policy_delay=1)
    fill_buffer(separate, 100)
    soft.replay_buffer = separate.replay_buffer
    # same actor and reward critics to start from
    soft.actor.load_state_dict(separate.actor.state_dict())
    soft.actor_target.load_state_dict(separate.actor_target.state_dict())
    for source, target in ((separate.critic, soft.critic), (separate.critic_target, soft.critic_target)):
        for p_source, p_target in zip(source.parameters(), target.parameters(), strict=True):
            p_target.data.copy_(p_source.data[:2])
    for model in (separate, soft):
        one_step(model)
    reward_params = [th.cat([p[:2].flatten() for p in m.critic.q_net.parameters()]) for m in (separate, soft)]
    assert not th.equal(*reward_params)
    assert not th.equal(snapshot(separate)["actor"], snapshot(soft)["actor"])
    # both tune alpha on -log pi against H0 - c, with the same actor and noise
    assert th.allclose(snapshot(separate)["log_alpha"], snapshot(soft)["log_alpha"])


# --- temperature direction -------------------------------------------------------------------------------------------


def trajectory_estimate(model: DSACE, shift: float) -> float:
    """
    Shift the entropy critic's output by ``shift`` nats, then return the trajectory estimate ``-log pi + Q_e`` at the
    only state of ``ConstantStateEnv``, averaged over many actions, computed from the networks.
    """
    with th.no_grad():
        model.critic.q_net.layers[-1].bias[2] += shift  # the entropy critic is the ensemble's third member
        obs = th.full((20_000, 2), 0.5)
        actions, log_prob = model.actor.action_log_prob(obs)
        return (model.critic(obs, actions).entropy.flatten() - log_prob).mean().item()


@pytest.mark.parametrize("margin, direction", [(-1.0, -1.0), (1.0, 1.0)])
def test_alpha_falls_above_the_budget_and_rises_below(margin: float, direction: float):
    # budgets one nat below and above the trajectory estimate, whose entropy-critic part is 5 nats: a flipped sign, or
    # the step entropy -log pi in place of -log pi + Q_e, moves alpha the wrong way
    budget = trajectory_estimate(make_model(env=ConstantStateEnv()), shift=5.0) + margin
    model = make_model(env=ConstantStateEnv(), entropy_budget=budget, policy_delay=1)  # the same networks (seed)
    assert trajectory_estimate(model, shift=5.0) == pytest.approx(budget - margin, abs=0.05)
    fill_buffer(model, 100)
    silent_logger(model)
    before = model.log_ent_coef.item()
    model.train(gradient_steps=1, batch_size=64)
    assert np.sign(model.log_ent_coef.item() - before) == direction


# --- the entropy critic learns the discounted entropy of a fixed policy ----------------------------------------------


def critics_trained_on_a_frozen_policy(env: gym.Env, **kwargs) -> DSACE:
    """1500 gradient steps of the critics on ``env`` while the actor stays fixed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the n-step approximation warning
        model = make_model(env=env, tau=0.05, policy_delay=1, learning_rate=3e-3, ent_coef=0.1, **kwargs)
    fill_buffer(model, 300)
    silent_logger(model)
    model.actor.requires_grad_(False)  # a fixed policy: only the critics learn
    set_random_seed(0)
    model.train(gradient_steps=1500, batch_size=64)
    return model


def test_entropy_critic_converges_to_the_discounted_policy_entropy():
    gamma = 0.8
    model = critics_trained_on_a_frozen_policy(ConstantStateEnv(max_steps=20), gamma=gamma)

    obs = th.full((20_000, 2), 0.5)
    with th.no_grad():
        _, log_prob = model.actor.action_log_prob(obs)
        step_entropy = -log_prob.mean().item()
        actions = th.rand(256, 1) * 2 - 1
        q_e = model.critic(obs[:256], actions).entropy
    # Q_e(s, a) = sum_{t >= 1} gamma^t H = gamma H / (1 - gamma), whatever the action
    expected = gamma * step_entropy / (1 - gamma)
    assert abs(step_entropy) > 0.1
    assert q_e.mean().item() == pytest.approx(expected, rel=0.05, abs=0.05)
    assert q_e.std().item() < 0.05 * abs(expected) + 0.05


# --- entropy units (spec section 6) and n-step budgets ---------------------------------------------------------------


def capture(monkeypatch, name: str) -> list:
    """Record the return values of a loss-module function as ``dsace`` calls it."""
    calls, original = [], getattr(losses, name)

    def spy(*args, **kwargs):
        calls.append(original(*args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(dsace_module, name, spy)
    return calls


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_env_unit_targets_equal_the_official_formulas_on_a_terminating_env(algo, monkeypatch):
    # actions in [-0.4, 0.4]^2: c = 2 log 0.4; the official code's log-probabilities are log pi_sb3 - c everywhere
    model = make_model(algo, env=ScaledTerminatingEnv(), ent_coef=0.5, gamma=0.9, policy_delay=2)
    c = 2 * math.log(0.4)
    fill_buffer(model, 200)
    silent_logger(model)
    reward_calls, entropy_calls = capture(monkeypatch, "reward_targets"), capture(monkeypatch, "entropy_target")
    set_random_seed(3)
    model.train(gradient_steps=1, batch_size=64)  # no actor or target update at this step (policy_delay=2)

    set_random_seed(3)  # the same batch, next actions and noise, computed by hand
    batch = model.replay_buffer.sample(64)
    with th.no_grad():
        next_actions, log_prob_sb3 = model.actor_target.action_log_prob(batch.next_observations)
        next_values = model.critic_target(batch.next_observations, next_actions)
    log_prob_env = log_prob_sb3.reshape(-1, 1) - c
    not_done = 0.9 * (1 - batch.dones)
    assert 0 < batch.dones.sum() < 64  # terminations are in the batch
    min_mean = next_values.mean.min(dim=0).values
    ((target, _),) = reward_calls
    if algo is DSACT:
        # soft target: r + gamma (1 - d) (min mu' - alpha log pi_env')
        th.testing.assert_close(target, batch.rewards + not_done * (min_mean - 0.5 * log_prob_env))
        assert not entropy_calls
    else:
        # reward target without entropy; entropy critic: gamma (1 - d) (-log pi_env' + Q_e')
        th.testing.assert_close(target, batch.rewards + not_done * min_mean)
        (entropy_critic_target,) = entropy_calls
        th.testing.assert_close(entropy_critic_target, not_done * (next_values.entropy - log_prob_env))


def one_update_per_units(env_factory, **kwargs) -> dict[str, DSACE]:
    models = {}
    for units in ("env", "sb3"):
        model = make_model(env=env_factory(), entropy_units=units, policy_delay=1, **kwargs)
        fill_buffer(model, 100)
        silent_logger(model)
        set_random_seed(5)
        model.train(gradient_steps=1, batch_size=32)
        models[units] = model
    return models


def test_env_units_shift_the_actor_and_temperature_entropies_by_c():
    models = one_update_per_units(ScaledTerminatingEnv)
    c = 2 * math.log(0.4)
    logged = {units: model.logger.name_to_value for units, model in models.items()}
    # the same weights and samples: -log pi_env = -log pi_sb3 + c, in the actor's and the temperature's entropies
    assert logged["env"]["train/entropy"] - logged["sb3"]["train/entropy"] == pytest.approx(c, abs=1e-4)
    trajectory = [logged[units]["train/trajectory_entropy"] for units in ("env", "sb3")]
    assert trajectory[0] - trajectory[1] == pytest.approx(c, abs=1e-4)
    # and the budgets: rho H0 / (1 - gamma) against (rho H0 - c) / (1 - gamma)
    assert models["env"].temperature_target - models["sb3"].temperature_target == pytest.approx(c / 0.01)


def test_entropy_units_agree_exactly_when_actions_lie_in_unit_bounds():
    models = one_update_per_units(lambda: ConstantStateEnv(action_dim=2, max_steps=7))
    env_model, sb3_model = models["env"], models["sb3"]
    assert env_model.log_prob_shift == sb3_model.log_prob_shift == 0.0
    assert env_model.temperature_target == sb3_model.temperature_target
    for name in ("critic", "actor", "log_alpha"):
        assert th.equal(snapshot(env_model)[name], snapshot(sb3_model)[name]), name


@pytest.mark.parametrize("n_steps", [1, 3, 5])
def test_at_the_entropy_critics_fixed_point_the_budget_asks_for_step_entropy_rho_h0_for_every_n_steps(n_steps: int):
    rho = 2.0
    model = critics_trained_on_a_frozen_policy(ConstantStateEnv(), gamma=0.8, n_steps=n_steps, rho=rho)

    obs = th.full((20_000, 2), 0.5)
    with th.no_grad():
        actions, log_prob = model.sample_actions(obs)
        step_entropy = -log_prob.mean().item()
        trajectory_entropy = step_entropy + model.critic(obs, actions).entropy.mean().item()
    assert abs(step_entropy) > 0.1
    # the temperature is at rest where the trajectory estimate meets the budget; at the entropy critic's fixed point
    # the trajectory estimate is proportional to the step entropy, so the step entropy it drives towards is:
    driven_step_entropy = model.temperature_target * step_entropy / trajectory_entropy
    assert driven_step_entropy == pytest.approx(rho * -1.0, rel=0.06)


# --- policy delay and gradient steps ---------------------------------------------------------------------------------


def optimizer_steps(optimizer: th.optim.Optimizer) -> int:
    state = next(iter(optimizer.state.values()), None)
    return 0 if state is None else int(state["step"])


@pytest.mark.parametrize("gradient_steps, calls, policy_delay", [(4, 1, 2), (3, 2, 2), (5, 1, 3)])
def test_policy_delay_counts_every_gradient_step(gradient_steps: int, calls: int, policy_delay: int):
    model = make_model(policy_delay=policy_delay)
    fill_buffer(model, 50)
    silent_logger(model)
    before = model._n_updates
    actor_before = th.cat([p.flatten() for p in model.actor_target.parameters()]).clone()
    for _ in range(calls):
        model.train(gradient_steps=gradient_steps, batch_size=16)
    total = gradient_steps * calls
    actor_updates = (before + total) // policy_delay - before // policy_delay
    assert model._n_updates == before + total
    assert optimizer_steps(model.critic.optimizer) - 0 >= total
    assert optimizer_steps(model.actor.optimizer) == (model._n_updates // policy_delay)
    assert optimizer_steps(model.ent_coef_optimizer) == (model._n_updates // policy_delay)
    assert actor_updates >= 1
    assert not th.equal(actor_before, th.cat([p.flatten() for p in model.actor_target.parameters()]))


# --- logging and save/load -------------------------------------------------------------------------------------------

SPEC_KEYS = {
    "critic_loss",
    "entropy_critic_loss",
    "actor_loss",
    "ent_coef",
    "ent_coef_loss",
    "entropy",
    "entropy_q",
    "trajectory_entropy",
    "entropy_budget",
    "q_mean",
    "q_std",
    "q_std_ema",
    "n_updates",
}


def test_logs_the_spec_keys_without_item_per_step(monkeypatch):
    model = make_model()
    fill_buffer(model, 50)
    silent_logger(model)

    callers = []
    original_item = th.Tensor.item

    def recording_item(self):
        callers.append(sys._getframe(1).f_code.co_filename)
        return original_item(self)

    monkeypatch.setattr(th.Tensor, "item", recording_item)
    model.train(gradient_steps=4, batch_size=16)
    monkeypatch.undo()
    # (torch's own optimizer may call it; our update must not)
    assert not [caller for caller in callers if "sb3_tecrl" in caller]
    logged = {key.split("/")[1] for key in model.logger.name_to_value if key.startswith("train/")}
    assert logged >= SPEC_KEYS
    assert model.logger.name_to_value["train/n_updates"] == model._n_updates
    assert model.logger.name_to_value["train/entropy_budget"] == model.temperature_target


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_save_load_gives_identical_predictions(algo, tmp_path):
    model = make_model(algo, learning_starts=100)
    model.learn(300)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", device="cpu")
    obs = np.stack([model.observation_space.sample() for _ in range(16)])
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert th.equal(model.critic_std_ema, loaded.critic_std_ema)
    assert model.temperature_target == loaded.temperature_target
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key


# --- SAC's forms of ent_coef and n-step replay -----------------------------------------------------------------------


def test_ent_coef_forms():
    assert model_alpha(make_model(ent_coef="auto_0.1")) == pytest.approx(0.1)
    assert model_alpha(make_model(ent_coef="auto")) == pytest.approx(1.0)
    fixed = make_model(ent_coef=0.3, policy_delay=1)
    assert fixed.ent_coef_optimizer is None
    fill_buffer(fixed, 50)
    silent_logger(fixed)
    fixed.train(gradient_steps=2, batch_size=16)
    assert model_alpha(fixed) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="initial value of ent_coef='auto_-1' must be a number > 0"):
        make_model(ent_coef="auto_-1")


def model_alpha(model: DSACE) -> float:
    return model._current_ent_coef().item()


def test_n_step_replay_uses_per_sample_discounts(monkeypatch):
    with pytest.warns(UserWarning, match="intermediate steps"):
        model = make_model(n_steps=3, gamma=0.9)
    fill_buffer(model, 100)
    silent_logger(model)
    seen = []
    original = losses.entropy_target

    def spy(dones, discounts, *args):
        seen.append(discounts)
        return original(dones, discounts, *args)

    monkeypatch.setattr(dsace_module, "entropy_target", spy)
    model.train(gradient_steps=1, batch_size=64)
    (discounts,) = seen
    assert isinstance(discounts, th.Tensor) and discounts.shape == (64, 1)
    assert set(np.round(discounts.flatten().tolist(), 5)) <= {0.9, 0.81, 0.729}


@pytest.mark.parametrize("env_form", ["id", "gym", "vec"])
def test_env_as_id_gym_env_or_vecenv_and_float_timesteps(env_form: str):
    from stable_baselines3.common.env_util import make_vec_env

    env = {"id": lambda: "Pendulum-v1", "gym": lambda: gym.make("Pendulum-v1"), "vec": lambda: make_vec_env("Pendulum-v1", 2)}
    model = make_model(env=env[env_form](), learning_starts=64, batch_size=16)
    model.learn(1.5e2)
    assert model.num_timesteps >= 150 and model._n_updates > 0


@pytest.mark.parametrize(
    "learning_starts, total, train_freq, warns",
    [
        (100, 100, 1, True),  # stops at timestep 100: SB3 trains once num_timesteps > learning_starts
        (100, 101, 1, False),
        (50, 40, 64, False),  # one rollout of 64 steps goes past 40 and past learning_starts
        (10_000, 5_000, 1, True),  # the default warm-up and a short run (zoo -n 5000)
    ],
)
def test_warns_when_learn_makes_no_gradient_step(learning_starts, total, train_freq, warns, recwarn):
    model = make_model(DSACT, ConstantStateEnv(), learning_starts=learning_starts, train_freq=train_freq)
    model.learn(total)
    messages = [str(w.message) for w in recwarn if w.category is NoGradientStepWarning]
    assert len(messages) == int(warns)
    assert (model._n_updates == 0) == warns
    if warns:
        assert f"learning_starts={learning_starts}" in messages[0] and f"learning_starts below {total}" in messages[0]


def test_no_gradient_step_warning_counts_timesteps_of_earlier_calls(recwarn):
    model = make_model(DSACT, ConstantStateEnv(), learning_starts=100)
    model.learn(60)
    model.learn(60, reset_num_timesteps=False)  # goes on to timestep 120: trains
    assert model._n_updates > 0
    model.learn(60)  # starts again at 0
    assert [str(w.message).count("it stops at timestep 60") for w in recwarn] == [1, 1]


def test_episode_rollouts_do_not_warn_since_they_may_pass_learning_starts(recwarn):
    # one rollout of a whole 30-step episode goes past learning_starts=20 although learn() asks for 10 steps
    model = make_model(DSACT, ConstantStateEnv(max_steps=30), learning_starts=20, train_freq=(1, "episode"), batch_size=8)
    model.learn(10)
    assert model.num_timesteps == 30 and model._n_updates == 1  # gradient_steps=1 after the rollout
    assert not [w for w in recwarn if w.category is NoGradientStepWarning]


def test_no_gradient_step_warning_is_the_package_s_own_user_warning_filtered_by_class():
    assert sb3_tecrl.NoGradientStepWarning is NoGradientStepWarning and issubclass(NoGradientStepWarning, UserWarning)
    model = make_model(DSACT, ConstantStateEnv(), learning_starts=100)
    with pytest.warns(NoGradientStepWarning, match="learn\\(\\) will make no gradient step"):
        model.learn(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=NoGradientStepWarning)
        model.learn(50)


@pytest.mark.parametrize("algo", [DSACE, DSACT])
def test_a_short_run_with_the_class_defaults_learns_warning_free(algo, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = algo("MlpPolicy", "Pendulum-v1", seed=0, device="cpu")
        model.learn(150)
    assert model._n_updates == 50  # after SAC's 100 warm-up steps
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", device="cpu")
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
