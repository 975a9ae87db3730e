"""Nothing a user saves is lost: save/load, parameters, replay buffers and exact resume, for DSACE and DSACT."""

import numpy as np
import pytest
import torch as th
from helpers import ConstantStateEnv
from stable_baselines3.common.envs import IdentityEnvBox

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


@pytest.mark.parametrize("algo", ALGOS)
def test_resume_equals_an_uninterrupted_run(algo, tmp_path):
    uninterrupted = trained(algo, ConstantStateEnv(action_dim=2), steps=100)
    uninterrupted.learn(100, reset_num_timesteps=False)

    first_half = trained(algo, ConstantStateEnv(action_dim=2), steps=100)
    first_half.save(tmp_path / "model")
    first_half.save_replay_buffer(tmp_path / "buffer")
    resumed = algo.load(tmp_path / "model", env=ConstantStateEnv(action_dim=2), device="cpu")
    resumed.load_replay_buffer(tmp_path / "buffer")
    resumed.learn(100, reset_num_timesteps=False)
    assert_same_training_state(uninterrupted, resumed)


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
