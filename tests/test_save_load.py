"""Nothing a user saves is lost: save/load, parameters, replay buffers and exact resume, for DSACE and DSACT."""

import random

import numpy as np
import pytest
import torch as th
from helpers import ClockEnv, ConstantStateEnv
from sb3_contrib import TQC
from stable_baselines3 import SAC
from stable_baselines3.common.envs import IdentityEnvBox
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_tecrl import DSACE, DSACT

ALGOS = [DSACE, DSACT]


def trained(algo, env=None, steps=120, **kwargs):
    params = dict(learning_starts=40, batch_size=16, buffer_size=1_000, policy_kwargs=dict(net_arch=[16]), seed=3)
    params.update(device="cpu", **kwargs)
    model = algo("MlpPolicy", env or "Pendulum-v1", **params)
    model.learn(steps)
    return model


def optimizer_tensors(model) -> list[th.Tensor]:
    optimizers = [model.actor.optimizer, model.critic.optimizer]
    if model.ent_coef_optimizer is not None:
        optimizers.append(model.ent_coef_optimizer)
    return [value for opt in optimizers for state in opt.state_dict()["state"].values() for value in state.values()]


def assert_same_training_state(a, b) -> None:
    for key, value in a.policy.state_dict().items():
        assert th.equal(value, b.policy.state_dict()[key]), key
    assert all(th.equal(x, y) for x, y in zip(optimizer_tensors(a), optimizer_tensors(b), strict=True))
    assert th.equal(a._current_ent_coef(), b._current_ent_coef())
    assert th.equal(a.critic_std_ema, b.critic_std_ema)
    assert a._n_updates == b._n_updates and a.num_timesteps == b.num_timesteps


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("ent_coef", ["auto", 0.2])
def test_save_load_round_trips_exactly(algo, ent_coef, tmp_path):
    model = trained(algo, ent_coef=ent_coef)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", device="cpu")
    assert_same_training_state(model, loaded)
    obs = np.stack([model.observation_space.sample() for _ in range(32)])
    assert np.array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    assert (loaded.temperature_target, loaded.policy_delay, loaded.tau_b) == (
        model.temperature_target,
        model.policy_delay,
        model.tau_b,
    )


def assert_same_replay_buffer(a, b) -> None:
    assert (a.replay_buffer.pos, a.replay_buffer.full) == (b.replay_buffer.pos, b.replay_buffer.full)
    for name in ("observations", "next_observations", "actions", "rewards", "dones", "timeouts"):
        assert np.array_equal(getattr(a.replay_buffer, name), getattr(b.replay_buffer, name)), name


def clock_envs(n_envs: int):
    return DummyVecEnv([ClockEnv] * n_envs)


# a save at timestep 100 (an episode boundary of ClockEnv: its state is then that of a fresh env), 100 more after it
RESUMES = {
    # warm-up over before the save, episode ends (terminations) on both sides of it
    "episode ends": dict(),
    # the save falls in the warm-up: the uniform actions come from the action space's generator on both sides
    "across the warm-up": dict(learning_starts=150),
    # an odd number of gradient steps before the save: the actor's turn comes at the first step after it
    "policy_delay 2": dict(policy_delay=2, learning_starts=41),
    "n-step replay": dict(n_steps=3),
    "two envs": dict(n_envs=2),
    "all at once": dict(n_envs=2, policy_delay=2, n_steps=3, learning_starts=61),
    "gSDE": dict(use_sde=True, sde_sample_freq=8),
    "3 reward critics": dict(policy_kwargs=dict(net_arch=[16], n_critics=3)),
}


@pytest.mark.filterwarnings("ignore:n_steps=3")  # the n-step approximation; on load, SB3's (for SAC too) about n_steps
@pytest.mark.filterwarnings("ignore:`n_steps=3` is ignored")
@pytest.mark.filterwarnings("ignore:learn\\(\\) will make no gradient step")
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("case", RESUMES)
def test_resume_equals_an_uninterrupted_run(algo, case: str, tmp_path):
    kwargs = dict(RESUMES[case])
    n_envs = kwargs.pop("n_envs", 1)
    uninterrupted = trained(algo, clock_envs(n_envs), steps=100, **kwargs)
    uninterrupted.learn(100, reset_num_timesteps=False)

    first_half = trained(algo, clock_envs(n_envs), steps=100, **kwargs)
    if case == "policy_delay 2":
        assert first_half._n_updates % 2 == 1
    assert (first_half._n_updates == 0) == (case == "across the warm-up")
    first_half.save(tmp_path / "model")
    first_half.save_replay_buffer(tmp_path / "buffer")
    resumed = algo.load(tmp_path / "model", env=clock_envs(n_envs), device="cpu")
    resumed.load_replay_buffer(tmp_path / "buffer")
    resumed.learn(100, reset_num_timesteps=False)
    assert uninterrupted._n_updates > 0 and uninterrupted.replay_buffer.dones.sum() > 0
    assert_same_training_state(uninterrupted, resumed)
    assert_same_replay_buffer(uninterrupted, resumed)


@pytest.mark.parametrize("algo", ALGOS)
def test_get_and_set_parameters(algo):
    source, target = trained(algo), trained(algo, seed=4)
    params = source.get_parameters()
    assert {"policy", "actor.optimizer", "critic.optimizer"} <= set(params)
    target.set_parameters(params, exact_match=True)
    for key, value in source.policy.state_dict().items():
        assert th.equal(value, target.policy.state_dict()[key])
    with pytest.raises(ValueError):
        target.set_parameters({"policy": params["policy"]}, exact_match=True)


@pytest.mark.parametrize("algo", ALGOS)
def test_custom_objects_exclude_and_include(algo, tmp_path):
    model = trained(algo, tau_b=0.5)
    model.save(tmp_path / "excluded", exclude=["tau_b"])
    # an excluded attribute is not restored: the constructor's default (tau_b = tau) stands
    assert algo.load(tmp_path / "excluded", device="cpu").tau_b == model.tau
    model.save(tmp_path / "included", include=["_last_obs"])
    loaded = algo.load(tmp_path / "included", custom_objects={"policy_delay": 5, "learning_rate": 0.0}, device="cpu")
    assert loaded.policy_delay == 5 and loaded.learning_rate == 0.0
    assert np.array_equal(loaded._last_obs, model._last_obs)


@pytest.mark.parametrize("algo", ALGOS)
def test_replay_buffer_round_trip(algo, tmp_path):
    model = trained(algo)
    model.save_replay_buffer(tmp_path / "buffer")
    other = trained(algo, seed=5, steps=50)
    other.load_replay_buffer(tmp_path / "buffer")
    assert other.replay_buffer.pos == model.replay_buffer.pos
    assert np.array_equal(other.replay_buffer.observations, model.replay_buffer.observations)
    assert np.array_equal(other.replay_buffer.rewards, model.replay_buffer.rewards)


@pytest.mark.parametrize("algo", ALGOS)
def test_loading_onto_other_spaces_fails_with_sb3_error(algo, tmp_path):
    trained(algo).save(tmp_path / "model")
    other = IdentityEnvBox(low=-1.0, high=1.0, ep_length=10)  # Box(1,) observations instead of Pendulum's Box(3,)
    with pytest.raises(ValueError, match="Observation spaces do not match"):
        algo.load(tmp_path / "model", env=other, device="cpu")


def global_draws() -> tuple:
    return random.random(), np.random.random(), th.rand(1).item()


@pytest.mark.parametrize("algo", ALGOS)
def test_load_leaves_the_global_generators_alone(algo, tmp_path):
    # an unseeded model: SB3 reseeds the global generators when it builds a seeded one, for SAC too
    trained(algo, seed=None).save(tmp_path / "model")
    draws = []
    for seed in (1, 2):
        random.seed(seed), np.random.seed(seed), th.manual_seed(seed)
        python_state, numpy_state = random.getstate(), np.random.get_state()
        algo.load(tmp_path / "model", device="cpu")
        assert random.getstate() == python_state
        assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True))
        draws.append(global_draws())
    assert all(first != second for first, second in zip(*draws, strict=True))


@pytest.mark.parametrize("algo", ALGOS)
def test_saving_a_loaded_model_before_resuming_keeps_the_saved_states(algo, tmp_path):
    trained(algo, ConstantStateEnv(action_dim=2), steps=100).save(tmp_path / "first")
    algo.load(tmp_path / "first", device="cpu").save(tmp_path / "second")
    runs = []
    for name in ("first", "second"):
        global_draws()  # whatever the caller did in between
        model = algo.load(tmp_path / name, env=ConstantStateEnv(action_dim=2), device="cpu")
        model.learn(30, reset_num_timesteps=False)
        runs.append(model)
    assert_same_training_state(*runs)


@pytest.mark.parametrize(
    "saved_by, loaded_by, message",
    [
        (SAC, DSACE, r"saved by stable_baselines3\.SAC; load it with stable_baselines3\.SAC\.load\(\)"),
        (TQC, DSACT, r"saved by sb3_contrib\.TQC; load it with sb3_contrib\.TQC\.load\(\)"),
        (DSACE, SAC, r"DSACE/DSACT model, load it with sb3_tecrl\.DSACE\.load\(\) or sb3_tecrl\.DSACT\.load\(\)"),
        (DSACT, TQC, r"DSACE/DSACT model, load it with sb3_tecrl\.DSACE\.load\(\) or sb3_tecrl\.DSACT\.load\(\)"),
        (DSACT, DSACE, r"saved by DSACT, not DSACE: load it with sb3_tecrl\.DSACT\.load\(\)"),
        (DSACE, DSACT, r"saved by DSACE, not DSACT: load it with sb3_tecrl\.DSACE\.load\(\)"),
    ],
)
def test_loading_another_algorithms_file_names_the_class_to_load_it_with(saved_by, loaded_by, message, tmp_path):
    saved_by("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]), device="cpu").save(tmp_path / "model")
    with pytest.raises(ValueError, match=message):
        loaded_by.load(tmp_path / "model", device="cpu")
