"""
``constraint_states="initial"``: the temperature update on the trajectory entropy at the initial states of episodes,
which an :class:`InitialStateBuffer` records as transitions are stored.
"""

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from helpers import ClockEnv, TerminatingEnv
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from test_save_load import assert_same_training_state, clock_envs, trained

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.common.initial_states import InitialStateBuffer

BOX = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)


def quick(env: gym.Env | DummyVecEnv | str, **kwargs) -> DSACE:
    params = dict(
        constraint_states="initial",
        trajectory_entropy_constraint=True,
        learning_starts=10,
        batch_size=8,
        buffer_size=500,
        policy_kwargs=dict(net_arch=[16, 16]),
        matmul_precision="float32",
        seed=0,
        device="cpu",
    )
    return DSACE("MlpPolicy", env, **{**params, **kwargs})


def stored(buffer: InitialStateBuffer) -> np.ndarray:
    return buffer.observations[: len(buffer)]


# --- the ring buffer -------------------------------------------------------------------------------------------------


def test_the_buffer_adds_rows_and_keeps_the_newest_when_it_wraps():
    buffer = InitialStateBuffer(BOX, capacity=3)
    assert len(buffer) == 0
    buffer.add(np.array([[0.1, 0.1]], dtype=np.float32))
    buffer.add(np.zeros((0, 2), dtype=np.float32))  # no episode began
    assert len(buffer) == 1 and np.allclose(stored(buffer), [[0.1, 0.1]])
    buffer.add(np.array([[0.2, 0.2], [0.3, 0.3], [0.4, 0.4]], dtype=np.float32))
    assert len(buffer) == 3
    assert sorted(stored(buffer)[:, 0].round(1)) == [0.2, 0.3, 0.4]  # 0.1, the oldest, went


def test_the_buffer_samples_only_stored_rows():
    buffer = InitialStateBuffer(BOX, capacity=100)
    buffer.add(np.array([[0.5, -0.5], [-0.25, 0.25]], dtype=np.float32))
    sample = buffer.sample(200)
    assert sample.shape == (200, 2) and sample.dtype == np.float32
    assert {tuple(row) for row in sample} == {(0.5, -0.5), (-0.25, 0.25)}  # never an empty row of zeros


def test_an_empty_buffer_refuses_to_sample_and_a_capacity_below_one_is_rejected():
    with pytest.raises(ValueError, match="No initial state stored yet"):
        InitialStateBuffer(BOX).sample(1)
    with pytest.raises(ValueError, match="capacity must be an integer >= 1, got 0"):
        InitialStateBuffer(BOX, capacity=0)


def test_the_buffer_pickles_only_its_rows_and_comes_back_whole():
    buffer = InitialStateBuffer(BOX, capacity=100_000)
    buffer.add(np.array([[0.5, -0.5]], dtype=np.float32))
    data = pickle.dumps(buffer)
    assert len(data) < 2_000  # not the 800 kB of the empty rows
    copy = pickle.loads(data)
    assert copy.observations.shape == (100_000, 2) and len(copy) == 1 and np.array_equal(stored(copy), stored(buffer))
    copy.add(np.array([[0.1, 0.1]], dtype=np.float32))
    assert len(copy) == 2


# --- which observations are initial ----------------------------------------------------------------------------------


class EpisodeCountEnv(TerminatingEnv):
    """Episodes of ``episode_length`` steps whose observation is (episode number / 100, step / length, env id / 10)."""

    def __init__(self, episode_length: int, env_id: int = 0):
        super().__init__(episode_length)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.env_id = env_id
        self.episodes = -1

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.episodes += 1
        return super().reset(seed=seed, options=options)

    def _observation(self) -> np.ndarray:
        return np.array([self.episodes / 100, self._steps / self.episode_length, self.env_id / 10], dtype=np.float32)

    def _reward(self, action: np.ndarray) -> float:
        return -float(np.sum(np.square(action)))


def episode_starts(env_id: int, n_episodes: int) -> list[tuple[float, float, float]]:
    return [(np.float32(episode / 100), 0.0, np.float32(env_id / 10)) for episode in range(n_episodes)]


def test_one_env_records_the_first_observation_of_every_episode():
    model = quick(EpisodeCountEnv(episode_length=4), learning_starts=8)
    model.learn(30)  # episodes begin at steps 0, 4, ..., 28
    assert [tuple(row) for row in stored(model.initial_states)] == episode_starts(0, 8)


def test_two_envs_record_the_first_observation_of_every_episode_of_each():
    model = quick(DummyVecEnv([lambda: EpisodeCountEnv(3, env_id=0), lambda: EpisodeCountEnv(5, env_id=1)]))
    model.learn(40)  # 20 vector steps: episodes begin every 3 steps in env 0 (7), every 5 in env 1 (4)
    rows = {tuple(row) for row in stored(model.initial_states)}
    assert len(model.initial_states) == 11 and rows == set(episode_starts(0, 7) + episode_starts(1, 4))


def test_a_second_learn_call_without_reset_goes_on_counting_episodes():
    model = quick(EpisodeCountEnv(episode_length=4), learning_starts=2)
    model.learn(6)  # episodes at 0, 4
    model.learn(6, reset_num_timesteps=False)  # steps 6..11: episode at 8 (the env is not reset in between)
    assert [tuple(row) for row in stored(model.initial_states)] == episode_starts(0, 3)


def test_the_replay_option_records_nothing_and_logs_no_initial_estimate():
    model = quick(ClockEnv(4), constraint_states="replay")
    model.learn(20)
    assert model.initial_states is None
    assert "train/initial_trajectory_entropy" not in model.logger.name_to_value


# --- the temperature's loss ------------------------------------------------------------------------------------------


def record_sampled_actions(model: DSACE, monkeypatch) -> list[tuple[th.Tensor, th.Tensor, th.Tensor]]:
    """:return: the (observations, actions, log-probabilities) of every later call of ``model.sample_actions``"""
    calls = []
    sample_actions = model.sample_actions

    def recording(observations, target_actor=False):
        actions, log_prob = sample_actions(observations, target_actor)
        calls.append((observations, actions.detach(), log_prob.detach()))
        return actions, log_prob

    monkeypatch.setattr(model, "sample_actions", recording)
    return calls


def frozen_networks(model: DSACE) -> DSACE:
    """Zero learning rates for the actor and the critics, so that after a step they are those of the step's losses."""
    for optimizer in (model.actor.optimizer, model.critic.optimizer):
        for group in optimizer.param_groups:
            group["lr"] = 0.0
    return model


def trajectory_entropy(model: DSACE, observations: th.Tensor, actions: th.Tensor, log_prob: th.Tensor) -> th.Tensor:
    with th.no_grad():
        return (model.critic(observations, actions).entropy - log_prob).mean()


def test_the_temperature_gradient_is_the_initial_states_estimate_minus_the_budget(monkeypatch):
    model = frozen_networks(quick(ClockEnv(episode_length=10), batch_size=16))
    model.learn(45)  # 5 initial states (ClockEnv's are all [0, 1, 0]), 45 transitions mostly of other states
    calls = record_sampled_actions(model, monkeypatch)
    model._gradient_step(model.replay_buffer.sample(16), update_actor=True)

    (_, _, _), replayed, initial = calls  # the target actor's next actions, the actor's at replayed and initial states
    assert len(initial[0]) == 5  # min(batch_size, stored)
    assert th.equal(initial[0], th.tensor([[0.0, 1.0, 0.0]]).expand(5, 3))
    expected = trajectory_entropy(model, *initial) - model.temperature_target
    assert model.log_ent_coef.grad.item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() != pytest.approx((trajectory_entropy(model, *replayed) - model.temperature_target).item())


def test_the_initial_estimate_draws_at_most_batch_size_states(monkeypatch):
    model = frozen_networks(quick(ClockEnv(episode_length=2), batch_size=8))
    model.learn(40)  # 20 initial states
    calls = record_sampled_actions(model, monkeypatch)
    model._gradient_step(model.replay_buffer.sample(8), update_actor=True)
    assert len(calls[-1][0]) == 8


def test_initial_states_are_stored_unnormalised_and_normalised_when_sampled(monkeypatch):
    env = VecNormalize(DummyVecEnv([lambda: EpisodeCountEnv(4)]), norm_reward=False)
    model = frozen_networks(quick(env))
    model.learn(30)
    assert [tuple(row) for row in stored(model.initial_states)] == episode_starts(0, 8)
    calls = record_sampled_actions(model, monkeypatch)
    model._gradient_step(model.replay_buffer.sample(8, env=env), update_actor=True)
    observations = calls[-1][0].numpy()
    raw = env.unnormalize_obs(observations)
    assert not np.allclose(observations, raw)
    assert np.allclose(raw[:, 1:], 0.0, atol=1e-5) and set(raw[:, 0].round(2)) <= {episode / 100 for episode in range(8)}


def test_the_replayed_estimate_stands_in_while_no_initial_state_is_stored(monkeypatch):
    model = frozen_networks(quick(ClockEnv(episode_length=10)))
    model.learn(20)
    model.initial_states = InitialStateBuffer(model.observation_space)
    calls = record_sampled_actions(model, monkeypatch)
    batch = model.replay_buffer.sample(8)
    _, stats = model._actor_and_temperature_losses(batch, model.critic.features(batch.observations).detach(), th.ones(1))
    assert len(calls) == 1  # the replayed states' actions only
    assert th.equal(stats["initial_trajectory_entropy"], stats["trajectory_entropy"])


def test_learning_logs_the_initial_estimate():
    model = quick(ClockEnv(episode_length=5))
    model.learn(30)
    assert np.isfinite(model.logger.name_to_value["train/initial_trajectory_entropy"])


# --- save and load ---------------------------------------------------------------------------------------------------


def test_save_and_load_keep_the_option_and_the_initial_states(tmp_path):
    model = quick(EpisodeCountEnv(episode_length=4))
    model.learn(30)
    model.save(tmp_path / "model")
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    assert loaded.constraint_states == "initial"
    assert len(loaded.initial_states) == 8 and np.array_equal(stored(loaded.initial_states), stored(model.initial_states))
    assert loaded.initial_states.capacity == model.initial_states.capacity


def test_resume_equals_an_uninterrupted_run_with_initial_states(tmp_path):
    uninterrupted = trained(DSACE, clock_envs(2), steps=100, constraint_states="initial", trajectory_entropy_constraint=True)
    uninterrupted.learn(100, reset_num_timesteps=False)
    first_half = trained(DSACE, clock_envs(2), steps=100, constraint_states="initial", trajectory_entropy_constraint=True)
    first_half.save(tmp_path / "model")
    first_half.save_replay_buffer(tmp_path / "buffer")
    resumed = DSACE.load(tmp_path / "model", env=clock_envs(2), device="cpu")
    resumed.load_replay_buffer(tmp_path / "buffer")
    resumed.learn(100, reset_num_timesteps=False)
    assert_same_training_state(uninterrupted, resumed)
    assert len(resumed.initial_states) == 20  # 10 episodes of 10 steps in each of 2 envs
    assert np.array_equal(stored(uninterrupted.initial_states), stored(resumed.initial_states))


# --- validation ------------------------------------------------------------------------------------------------------


def test_constraint_states_must_be_replay_or_initial():
    with pytest.raises(ValueError, match=r"constraint_states must be one of \('replay', 'initial'\), got 'start'"):
        DSACE("MlpPolicy", "Pendulum-v1", constraint_states="start")


def test_initial_states_need_the_trajectory_entropy_constraint():
    with pytest.raises(ValueError, match=r"constraint_states='initial'.*set trajectory_entropy_constraint=True"):
        DSACE("MlpPolicy", "Pendulum-v1", constraint_states="initial", trajectory_entropy_constraint=False)


def test_initial_states_need_a_box_observation_space():
    env = gym.make("Pendulum-v1")
    env.observation_space = spaces.Dict({"state": env.observation_space})
    with pytest.raises(ValueError, match="constraint_states='initial' supports Box observation spaces"):
        DSACE("MultiInputPolicy", env, constraint_states="initial", trajectory_entropy_constraint=True, device="cpu")


def test_dsact_does_not_take_constraint_states():
    with pytest.raises(TypeError, match="constraint_states"):
        DSACT("MlpPolicy", "Pendulum-v1", constraint_states="replay")
    assert DSACT("MlpPolicy", "Pendulum-v1", device="cpu").initial_states is None
