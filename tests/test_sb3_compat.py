"""
Drop-in for SAC: what SB3's own tests ask of SAC, asked of DSACE and DSACT (tiny networks, few steps).
"""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    BitFlippingEnv,
    IdentityEnvBox,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecFrameStack, VecNormalize

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.dsace.policies import MlpPolicy

ALGOS = [DSACE, DSACT]
TINY = dict(net_arch=[16])


def quick(algo, env, policy="MlpPolicy", **kwargs):
    params = dict(learning_starts=20, batch_size=16, buffer_size=2_000, policy_kwargs=dict(TINY), seed=0, device="cpu")
    params.update(kwargs)
    return algo(policy, env, **params)


class ObsSpaceEnv(IdentityEnvBox):
    """Continuous actions, any observation space."""

    def __init__(self, observation_space: spaces.Space):
        super().__init__(ep_length=20)
        self.observation_space = observation_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        _, reward, terminated, truncated, info = super().step(action)
        return self.observation_space.sample(), reward, terminated, truncated, info


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "observation_space",
    [spaces.Discrete(4), spaces.MultiDiscrete([3, 2]), spaces.MultiBinary(3), spaces.Box(-1, 1, (3,))],
)
def test_observation_spaces(algo, observation_space):
    quick(algo, ObsSpaceEnv(observation_space)).learn(60)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("normalize_images", [True, False])
def test_image_observations_with_cnn_policy(algo, normalize_images):
    env = ObsSpaceEnv(spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8))
    model = quick(algo, env, "CnnPolicy", buffer_size=100, policy_kwargs=dict(TINY, normalize_images=normalize_images))
    model.learn(40)
    assert model.actor.features_extractor.__class__.__name__ == "NatureCNN"


@pytest.mark.parametrize("algo", ALGOS)
def test_dict_observations_with_multi_input_policy(algo):
    model = quick(algo, SimpleMultiObsEnv(random_start=True, discrete_actions=False), "MultiInputPolicy", buffer_size=200)
    model.learn(60)


@pytest.mark.parametrize("algo", ALGOS)
def test_her_replay_buffer(algo):
    env = BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)
    model = quick(
        algo,
        env,
        "MultiInputPolicy",
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=2, goal_selection_strategy="future"),
        learning_starts=40,
    )
    model.learn(100)
    assert model._n_updates > 0


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, SubprocVecEnv])
def test_several_envs(algo, vec_env_cls):
    env = make_vec_env("Pendulum-v1", n_envs=2, vec_env_cls=vec_env_cls)
    model = quick(algo, env, train_freq=2, gradient_steps=-1)
    model.learn(100)
    assert model.num_timesteps == 100 and model._n_updates > 0
    env.close()


@pytest.mark.parametrize("algo", ALGOS)
def test_vec_normalize_and_frame_stack(algo):
    # (VecFrameStack outside VecNormalize fails for SAC as well: SB3 stores VecNormalize's unstacked original obs)
    env = VecNormalize(VecFrameStack(make_vec_env("Pendulum-v1", n_envs=1), n_stack=2))
    model = quick(algo, env)
    model.learn(60)
    assert model.observation_space.shape == (6,) and model._vec_normalize_env is not None


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("train_freq, gradient_steps", [(2, 1), ((1, "episode"), -1), (3, 2)])
def test_train_freq_and_gradient_steps(algo, train_freq, gradient_steps):
    model = quick(algo, IdentityEnvBox(ep_length=10), train_freq=train_freq, gradient_steps=gradient_steps)
    model.learn(60)
    assert model._n_updates > 0


@pytest.mark.parametrize("algo", ALGOS)
def test_learning_starts_and_n_steps(algo):
    model = quick(algo, "Pendulum-v1", n_steps=3, learning_starts=50)
    model.learn(49)
    assert model._n_updates == 0
    model.learn(20, reset_num_timesteps=False)
    assert model._n_updates > 0
    assert type(model.replay_buffer).__name__ == "NStepReplayBuffer"


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("noise_cls", [NormalActionNoise, OrnsteinUhlenbeckActionNoise])
def test_action_noise(algo, noise_cls):
    quick(algo, "Pendulum-v1", action_noise=noise_cls(np.zeros(1), 0.1 * np.ones(1))).learn(50)


@pytest.mark.parametrize("algo", ALGOS)
def test_gsde_is_rejected_with_the_reason(algo):
    with pytest.raises(ValueError, match=r"gSDE.*not supported.*action_noise"):
        quick(algo, "Pendulum-v1", use_sde=True)


@pytest.mark.parametrize("algo", ALGOS)
def test_policy_kwargs_shared_with_sac_in_both_orders(algo):
    policy_kwargs = dict(TINY)
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu")
    assert policy_kwargs["use_sde"] is False  # SB3 writes it into the dict it is given
    algo("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu")
    assert policy_kwargs == dict(TINY, use_sde=False)  # nothing of ours is written into it
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu")
    with pytest.raises(ValueError, match=r"gSDE.*not supported"):
        quick(algo, "Pendulum-v1", policy_kwargs=dict(TINY, use_sde=True))


@pytest.mark.parametrize("algo", ALGOS)
def test_sac_policy_kwargs_are_accepted_with_sacs_meaning(algo):
    # n_critics=2 is the twin reward critic; SAC's gSDE-only options do nothing without gSDE, in SAC as here
    model = quick(algo, "Pendulum-v1", policy_kwargs=dict(TINY, n_critics=2))
    assert model.critic.q_net.n_members == 2 + int(model.separate_entropy_critic)
    gsde_only = dict(log_std_init=-3.0, use_expln=True, clip_mean=2.0)
    with pytest.warns(UserWarning, match=r"\['clip_mean', 'log_std_init', 'use_expln'\] only act with gSDE"):
        quick(algo, "Pendulum-v1", policy_kwargs=dict(TINY, **gsde_only)).learn(20)
    with pytest.raises(ValueError, match=r"n_critics=3.*twin reward critic.*must be 2"):
        quick(algo, "Pendulum-v1", policy_kwargs=dict(TINY, n_critics=3))


class TinyExtractor(BaseFeaturesExtractor):
    def __init__(self, observation_space: spaces.Box, features_dim: int = 5):
        super().__init__(observation_space, features_dim)
        self.linear = th.nn.Linear(observation_space.shape[0], features_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return th.relu(self.linear(observations))


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "policy_kwargs",
    [
        dict(share_features_extractor=True, features_extractor_class=TinyExtractor),
        dict(features_extractor_class=TinyExtractor, features_extractor_kwargs=dict(features_dim=7)),
        dict(net_arch=dict(pi=[8], qf=[12, 12])),
        dict(net_arch=[8, 8], activation_fn=th.nn.ReLU, optimizer_class=th.optim.RMSprop, optimizer_kwargs=dict(alpha=0.9)),
    ],
)
def test_policy_kwargs(algo, policy_kwargs):
    model = quick(algo, "Pendulum-v1", policy_kwargs=policy_kwargs)
    model.learn(50)
    if "qf" in str(policy_kwargs.get("net_arch")):
        assert [layer.weight.shape[-1] for layer in model.critic.q_net.layers] == [12, 12, 2]
    if "optimizer_class" in policy_kwargs:
        assert isinstance(model.actor.optimizer, th.optim.RMSprop) and model.actor.optimizer.defaults["alpha"] == 0.9
    if policy_kwargs.get("share_features_extractor"):
        assert model.critic.features_extractor is model.actor.features_extractor
        shared = {id(p) for p in model.actor.features_extractor.parameters()}
        assert not shared & {id(p) for group in model.critic.optimizer.param_groups for p in group["params"]}


@pytest.mark.parametrize("algo", ALGOS)
def test_shared_extractor_is_trained_by_the_actor_only(algo):
    policy_kwargs = dict(share_features_extractor=True, features_extractor_class=TinyExtractor, net_arch=[8])
    model = quick(algo, "Pendulum-v1", policy_delay=4, policy_kwargs=policy_kwargs)
    model.learn(30)
    model._n_updates = 4 * (model._n_updates // 4 + 1)  # the next 3 gradient steps update the critics only

    def extractor_params():
        return [p.clone() for p in model.actor.features_extractor.parameters()]

    before = extractor_params()
    model.train(gradient_steps=3, batch_size=8)
    assert all(th.equal(a, b) for a, b in zip(before, extractor_params(), strict=True))
    model.train(gradient_steps=1, batch_size=8)  # the 4th updates the actor, and with it the shared extractor
    assert not all(th.equal(a, b) for a, b in zip(before, extractor_params(), strict=True))


@pytest.mark.parametrize("algo", ALGOS)
def test_training_mode_and_predict(algo):
    model = quick(algo, "Pendulum-v1")
    model.policy.set_training_mode(False)
    assert not model.actor.training and not model.critic.training
    model.policy.set_training_mode(True)
    assert model.actor.training and not model.actor_target.training and not model.critic_target.training
    obs = np.stack([model.observation_space.sample() for _ in range(4)])
    action, state = model.predict(obs, deterministic=True, episode_start=np.ones(4, dtype=bool))
    assert action.shape == (4, 1) and state is None and np.all(np.abs(action) <= 2.0)
    again, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(action, again)
    single, _ = model.predict(obs[0])
    assert single.shape == (1,)


@pytest.mark.parametrize("algo", ALGOS)
def test_callbacks_progress_bar_and_tensorboard(algo, tmp_path):
    eval_env = make_vec_env("Pendulum-v1", n_envs=1)
    stop = StopTrainingOnRewardThreshold(reward_threshold=1e9)
    callbacks = [
        EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=40, n_eval_episodes=1, log_path=str(tmp_path)),
        CheckpointCallback(save_freq=40, save_path=str(tmp_path / "checkpoints"), save_replay_buffer=True),
    ]
    model = quick(algo, "Pendulum-v1", tensorboard_log=str(tmp_path / "tb"), verbose=0)
    model.learn(80, callback=callbacks, progress_bar=True)
    assert list((tmp_path / "checkpoints").glob("*.zip")) and (tmp_path / "evaluations.npz").exists()
    assert list((tmp_path / "tb" / f"{algo.__name__}_1").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("algo", ALGOS)
def test_stop_on_reward_threshold(algo):
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1e9)
    model = quick(algo, "Pendulum-v1")
    callback = EvalCallback(make_vec_env("Pendulum-v1"), callback_on_new_best=stop, eval_freq=30, n_eval_episodes=1)
    model.learn(500, callback=callback)
    assert model.num_timesteps == 30


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device(algo, device):
    model = quick(algo, "Pendulum-v1", device=device)
    model.learn(30)
    # model.device may be `cuda` where the tensors are on `cuda:0`: compare where the tensors are
    parameters_device = next(model.policy.parameters()).device
    assert model.critic_std_ema.device == parameters_device and model.device.type == parameters_device.type


@pytest.mark.parametrize("algo", ALGOS)
def test_set_env_and_policy_alone(algo, tmp_path):
    model = quick(algo, "Pendulum-v1")
    model.learn(30)
    model.set_env(make_vec_env("Pendulum-v1", n_envs=1))
    model.learn(30, reset_num_timesteps=False)
    assert model.num_timesteps == 60
    with pytest.raises(AssertionError, match="number of environments"):
        model.set_env(make_vec_env("Pendulum-v1", n_envs=2))
    model.policy.save(tmp_path / "policy.pkl")
    policy = MlpPolicy.load(tmp_path / "policy.pkl")
    obs = np.stack([model.observation_space.sample() for _ in range(4)])
    assert np.array_equal(policy.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    assert policy.critic.q_net.layers[0].weight.shape == model.critic.q_net.layers[0].weight.shape


class PoisonedEnv(IdentityEnvBox):
    """Returns a NaN (or inf) in its observation or reward from the 5th step on."""

    def __init__(self, where: str, value: float):
        super().__init__(ep_length=50)
        self.where, self.value, self.steps = where, value, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        self.steps += 1
        if self.steps >= 5:
            obs, reward = (np.full_like(obs, self.value), reward) if self.where == "observation" else (obs, self.value)
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("where, value", [("observation", np.nan), ("reward", np.inf), ("reward", np.nan)])
def test_non_finite_observation_or_reward_is_stopped(algo, where, value):
    model = quick(algo, PoisonedEnv(where, value))
    with pytest.raises(ValueError, match=f"non-finite {where} at step 5"):
        model.learn(40)
    assert model.replay_buffer.size() == 4
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


class PoisonedFinalObservationEnv(IdentityEnvBox):
    """Episodes of 10 steps whose final observation (stored from ``infos[i]["terminal_observation"]``) is NaN."""

    def __init__(self):
        super().__init__(ep_length=10)

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return (np.full_like(obs, np.nan) if terminated or truncated else obs), reward, terminated, truncated, info


@pytest.mark.parametrize("algo", ALGOS)
def test_non_finite_final_observation_is_stopped_naming_the_env_and_step(algo):
    env = DummyVecEnv([lambda: IdentityEnvBox(ep_length=50), PoisonedFinalObservationEnv])
    model = quick(algo, env)
    with pytest.raises(ValueError, match=r"non-finite final observation \('terminal_observation'\) at step 20 in env 1:"):
        model.learn(100)
    assert model.replay_buffer.size() == 9  # the 10th step's transitions were not stored
    assert np.isfinite(model.replay_buffer.next_observations[: model.replay_buffer.size()]).all()


@pytest.mark.parametrize("algo", ALGOS)
def test_a_diverging_update_raises_an_error_naming_the_loss(algo):
    model = quick(algo, "Pendulum-v1")
    model.learn(30)
    with th.no_grad():
        model.critic.q_net.layers[-1].bias.fill_(float("inf"))
    with pytest.raises(RuntimeError, match="critic loss is not finite"):
        model.train(gradient_steps=1, batch_size=8)
