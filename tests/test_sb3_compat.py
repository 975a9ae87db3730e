"""
Drop-in for SAC: what SB3's own tests ask of SAC, asked of DSACE and DSACT (tiny networks, few steps).
"""

import itertools
import math
import re
import warnings

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from helpers import TinyExtractor, parameters_of
from stable_baselines3 import SAC, HerReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback, EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    BitFlippingEnv,
    IdentityEnvBox,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecFrameStack, VecNormalize

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.dsace import dsace as dsace_module
from sb3_tecrl.dsace.policies import MlpPolicy

ALGOS = [DSACE, DSACT]
TINY = dict(net_arch=[16])
# (n_critics, use_sde): every SAC setting below runs with 1, 2 (DSAC-T's twin) and 3 reward critics, and with gSDE
TWIN = (2, False)
SETTINGS = {"1_critic": (1, False), "2_critics": TWIN, "3_critics": (3, False), "gSDE": (2, True)}


@pytest.fixture(params=list(SETTINGS.values()), ids=list(SETTINGS))
def setting(request) -> tuple[int, bool]:
    return request.param


def quick(algo, env, policy="MlpPolicy", setting=TWIN, **kwargs):
    """A tiny model; ``setting`` gives its number of reward critics and whether it explores with gSDE."""
    n_critics, use_sde = setting
    params = dict(learning_starts=20, batch_size=16, buffer_size=2_000, seed=0, device="cpu", use_sde=use_sde)
    params.update(kwargs)
    params["policy_kwargs"] = {**kwargs.get("policy_kwargs", TINY), "n_critics": n_critics}
    model = algo(policy, env, **params)
    assert model.critic.n_critics == n_critics and model.actor.use_sde == use_sde
    return model


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
def test_observation_spaces(algo, setting, observation_space):
    quick(algo, ObsSpaceEnv(observation_space), setting=setting).learn(60)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("normalize_images", [True, False])
def test_image_observations_with_cnn_policy(algo, setting, normalize_images):
    env = ObsSpaceEnv(spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8))
    model = quick(
        algo, env, "CnnPolicy", buffer_size=100, policy_kwargs=dict(TINY, normalize_images=normalize_images), setting=setting
    )
    model.learn(40)
    assert model.actor.features_extractor.__class__.__name__ == "NatureCNN"


@pytest.mark.parametrize("algo", ALGOS)
def test_dict_observations_with_multi_input_policy(algo, setting):
    model = quick(
        algo,
        SimpleMultiObsEnv(random_start=True, discrete_actions=False),
        "MultiInputPolicy",
        buffer_size=200,
        setting=setting,
    )
    model.learn(60)


@pytest.mark.parametrize("algo", ALGOS)
def test_her_replay_buffer(algo, setting):
    env = BitFlippingEnv(n_bits=4, continuous=True, max_steps=4)
    model = quick(
        algo,
        env,
        "MultiInputPolicy",
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=2, goal_selection_strategy="future"),
        learning_starts=40,
        setting=setting,
    )
    model.learn(100)
    assert model._n_updates > 0


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, SubprocVecEnv])
def test_several_envs(algo, setting, vec_env_cls):
    env = make_vec_env("Pendulum-v1", n_envs=2, vec_env_cls=vec_env_cls)
    model = quick(algo, env, train_freq=2, gradient_steps=-1, setting=setting)
    model.learn(100)
    assert model.num_timesteps == 100 and model._n_updates > 0
    env.close()


@pytest.mark.parametrize("algo", ALGOS)
def test_vec_normalize_and_frame_stack(algo, setting):
    # (VecFrameStack outside VecNormalize fails for SAC as well: SB3 stores VecNormalize's unstacked original obs)
    env = VecNormalize(VecFrameStack(make_vec_env("Pendulum-v1", n_envs=1), n_stack=2))
    model = quick(algo, env, setting=setting)
    model.learn(60)
    assert model.observation_space.shape == (6,) and model._vec_normalize_env is not None


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("train_freq, gradient_steps", [(2, 1), ((1, "episode"), -1), (3, 2)])
def test_train_freq_and_gradient_steps(algo, setting, train_freq, gradient_steps):
    model = quick(algo, IdentityEnvBox(ep_length=10), train_freq=train_freq, gradient_steps=gradient_steps, setting=setting)
    model.learn(60)
    assert model._n_updates > 0


def all_equal(tensors: list[th.Tensor], others: list[th.Tensor]) -> bool:
    return all(th.equal(tensor, other) for tensor, other in zip(tensors, others, strict=True))


@pytest.mark.parametrize("algo", ALGOS)
def test_gradient_steps_zero_collects_without_training(algo):
    model = quick(algo, "Pendulum-v1", learning_starts=0, gradient_steps=0)
    before = parameters_of(model.policy)
    model.learn(60)
    assert model.replay_buffer.size() == 60 and model._n_updates == 0
    assert all_equal(parameters_of(model.policy), before)


@pytest.mark.parametrize("algo", ALGOS)
def test_tau_zero_freezes_every_target_network_while_the_online_ones_learn(algo):
    model = quick(algo, "Pendulum-v1", tau=0.0, learning_starts=10)
    targets = (model.critic_target, model.actor_target)
    before = [parameters_of(target) for target in targets]
    online_before = parameters_of(model.critic)
    model.learn(60)
    assert model._n_updates > 0 and not all_equal(parameters_of(model.critic), online_before)
    assert all(all_equal(parameters_of(target), frozen) for target, frozen in zip(targets, before, strict=True))


@pytest.mark.parametrize("algo", ALGOS)
def test_tau_b_zero_keeps_the_first_batchs_std_average(algo):
    model = quick(algo, "Pendulum-v1", tau_b=0.0, learning_starts=10)
    model.learn(12)
    first = model.critic_std_ema.clone()
    model.learn(40, reset_num_timesteps=False)
    assert bool((first > 0).all()) and th.equal(model.critic_std_ema, first)


@pytest.mark.parametrize("algo", ALGOS)
def test_learning_starts_and_n_steps(algo, setting):
    model = quick(algo, "Pendulum-v1", n_steps=3, learning_starts=50, setting=setting)
    model.learn(49)
    assert model._n_updates == 0
    model.learn(20, reset_num_timesteps=False)
    assert model._n_updates > 0
    assert type(model.replay_buffer).__name__ == "NStepReplayBuffer"


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("noise_cls", [NormalActionNoise, OrnsteinUhlenbeckActionNoise])
def test_action_noise(algo, setting, noise_cls):
    quick(algo, "Pendulum-v1", action_noise=noise_cls(np.zeros(1), 0.1 * np.ones(1)), setting=setting).learn(50)


def save_and_load(model, algo, tmp_path):
    """:return: the model saved and loaded again, after checking that it predicts the same actions"""
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", env=model.get_env(), device="cpu")
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    return loaded


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("n_critics", [1, 2, 3])
def test_n_critics_end_to_end(algo, n_critics, tmp_path):
    model = quick(algo, "Pendulum-v1", setting=(n_critics, False))
    evaluated = []  # the critic's outputs and the actor's loss inputs, per gradient step
    evaluate, improvement_loss = model.critic.evaluate, dsace_module.policy_improvement_loss
    model.critic.evaluate = lambda *args, **kwargs: evaluated.append(evaluate(*args, **kwargs)) or evaluated[-1]
    dsace_module.policy_improvement_loss = lambda log_prob, reward, *args: (
        evaluated.append(reward) or improvement_loss(log_prob, reward, *args)
    )
    try:
        model.learn(40)
    finally:
        dsace_module.policy_improvement_loss = improvement_loss
    del model.critic.evaluate
    members = n_critics + int(model.separate_entropy_critic)
    assert model.critic.q_net.n_members == model.critic_target.q_net.n_members == members
    assert model._n_updates == 20 and len(evaluated) == 3 * 20  # critic values, actor's critic values, actor's loss
    for values, actor_values, reward_value in zip(evaluated[0::3], evaluated[1::3], evaluated[2::3], strict=True):
        assert values.mean.shape == values.std.shape == (n_critics, 16, 1)
        # the actor maximises the smallest mean per sample
        assert th.equal(reward_value, actor_values.mean.min(dim=0).values)
    assert model.critic_std_ema.shape == (n_critics,) and (model.critic_std_ema > 0).all()
    loaded = save_and_load(model, algo, tmp_path)
    assert loaded.critic.n_critics == n_critics and th.equal(loaded.critic_std_ema, model.critic_std_ema)
    loaded.learn(10, reset_num_timesteps=False)
    assert loaded._n_updates == 30
    numpy_int = algo("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, n_critics=np.int64(n_critics)), device="cpu")
    assert type(numpy_int.critic.n_critics) is int and numpy_int.critic.n_critics == n_critics  # (a sweep's value)


@pytest.mark.parametrize("n_critics", [0, -1, 1.5, True])
def test_n_critics_must_be_a_positive_integer(n_critics):
    with pytest.raises(ValueError, match=re.escape(f"n_critics={n_critics!r}: the number of reward critics must be an")):
        DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(TINY, n_critics=n_critics), device="cpu")


class RecordExplorationMatrix(BaseCallback):
    """Keeps the actor's exploration matrix after every environment step."""

    def __init__(self):
        super().__init__()
        self.matrices: list[th.Tensor] = []

    def _on_step(self) -> bool:
        self.matrices.append(self.model.actor.action_dist.exploration_mat.detach().clone())
        return True


@pytest.mark.parametrize("algo", ALGOS)
def test_gsde_end_to_end_with_noise_resampling(algo, tmp_path):
    model = quick(algo, "Pendulum-v1", setting=(2, True), sde_sample_freq=4, train_freq=12, gradient_steps=3)
    initial_log_std = model.actor.log_std.detach().clone()
    record = RecordExplorationMatrix()
    model.learn(48, callback=record)
    assert model._n_updates == 3 * 3  # after the rollouts ending at 24, 36 and 48
    # the actor's loss trains gSDE's log-std, and the target actor follows it
    assert not th.equal(model.actor.log_std, initial_log_std) and not th.equal(model.actor_target.log_std, initial_log_std)
    # a new matrix every 4 environment steps (rollouts of 12), the warm-up included
    same_as_next = [th.equal(a, b) for a, b in itertools.pairwise(record.matrices)]
    assert same_as_next == [(step + 1) % 4 != 0 for step in range(47)]
    # and at every gradient step, for the actor and the target actor, each its own
    actor_noise, target_noise = model.actor.action_dist, model.actor_target.action_dist
    before = actor_noise.exploration_mat.clone(), target_noise.exploration_mat.clone()
    model.train(gradient_steps=1, batch_size=8)
    assert not th.equal(before[0], actor_noise.exploration_mat) and not th.equal(before[1], target_noise.exploration_mat)
    assert not th.equal(actor_noise.exploration_mat, target_noise.exploration_mat)
    loaded = save_and_load(model, algo, tmp_path)
    assert loaded.actor.use_sde and th.equal(loaded.actor.log_std, model.actor.log_std)
    assert th.equal(loaded.actor_target.log_std, model.actor_target.log_std)
    loaded.learn(12, reset_num_timesteps=False)
    assert loaded._n_updates == 9 + 1 + 3  # one more rollout


@pytest.mark.parametrize("entropy_units, shift", [("env", math.log(2.0)), ("sb3", 0.0)])
def test_gsde_log_probabilities_in_entropy_units_and_the_target_actor_s_own_noise(entropy_units, shift):
    model = quick(DSACE, "Pendulum-v1", setting=(2, True), entropy_units=entropy_units)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(8)]))
    sampled = {}
    for actor, target_actor in ((model.actor, False), (model.actor_target, True)):
        actions, log_prob = model.sample_actions(obs, target_actor=target_actor)
        mean, log_std, kwargs = actor.get_action_dist_params(obs)
        # the actor's own exploration matrix gives the noise; log-probabilities are gSDE's, less the units' shift
        assert th.allclose(actions, th.tanh(mean + kwargs["latent_sde"] @ actor.action_dist.exploration_mat))
        expected = actor.action_dist.proba_distribution(mean, log_std, **kwargs).log_prob(actions).reshape(-1, 1) - shift
        assert log_prob.shape == (8, 1) and th.allclose(log_prob, expected)
        sampled[target_actor] = actions
    assert th.equal(model.actor.log_std, model.actor_target.log_std) and not th.allclose(sampled[False], sampled[True])


@pytest.mark.parametrize("algo", ALGOS)
def test_gsde_options_have_sacs_meaning(algo):
    options = dict(log_std_init=0.5, use_expln=True, clip_mean=0.1)
    model = quick(algo, "Pendulum-v1", setting=(2, True), policy_kwargs=dict(TINY, **options))
    sac = SAC("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs=dict(TINY, **options), device="cpu")
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(8)]))
    for actor in (model.actor, model.actor_target, sac.actor):
        assert actor.log_std.shape == (16, 1) and th.all(actor.log_std == 0.5)
        assert th.allclose(actor.get_std(), th.full_like(actor.log_std, math.log1p(0.5) + 1.0))  # expln, not exp
        with th.no_grad():
            actor.mu[0].weight.fill_(10.0)
            assert actor.get_action_dist_params(obs)[0].abs().max() == pytest.approx(0.1)  # clip_mean
    # without gSDE they do nothing, in SAC as here, silently; the algorithm's use_sde decides, as in SAC
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = quick(algo, "Pendulum-v1", policy_kwargs=dict(TINY, use_sde=True, **options))
        plain.learn(30)
    assert isinstance(plain.actor.log_std, th.nn.Linear)


@pytest.mark.parametrize("use_sde_at_warmup", [True, False])
def test_use_sde_at_warmup_explores_with_the_policy(use_sde_at_warmup):
    # log_std_init=-30: gSDE's noise is ~1e-13, so the policy's warm-up actions are its deterministic ones
    policy_kwargs = dict(TINY, log_std_init=-30.0)
    model = quick(DSACE, "Pendulum-v1", setting=(2, True), use_sde_at_warmup=use_sde_at_warmup, policy_kwargs=policy_kwargs)
    model.learn(20)
    buffer = model.replay_buffer
    policy_actions = model.policy.scale_action(model.predict(buffer.observations[:20, 0], deterministic=True)[0])
    assert np.allclose(buffer.actions[:20, 0], policy_actions, atol=1e-5) is use_sde_at_warmup


@pytest.mark.parametrize("algo", ALGOS)
def test_policy_kwargs_shared_with_sac_in_both_orders(algo):
    policy_kwargs = dict(TINY)
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu")
    assert policy_kwargs["use_sde"] is False  # SB3 writes it into the dict it is given
    algo("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, use_sde=True, device="cpu")
    assert policy_kwargs == dict(TINY, use_sde=False)  # nothing of ours is written into it
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs, device="cpu")


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
def test_policy_kwargs(algo, setting, policy_kwargs):
    model = quick(algo, "Pendulum-v1", policy_kwargs=policy_kwargs, setting=setting)
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
def test_shared_extractor_is_trained_by_the_actor_only(algo, setting):
    policy_kwargs = dict(share_features_extractor=True, features_extractor_class=TinyExtractor, net_arch=[8])
    model = quick(algo, "Pendulum-v1", policy_delay=4, policy_kwargs=policy_kwargs, setting=setting)
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
def test_training_mode_and_predict(algo, setting):
    model = quick(algo, "Pendulum-v1", setting=setting)
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
def test_callbacks_progress_bar_and_tensorboard(algo, setting, tmp_path):
    eval_env = make_vec_env("Pendulum-v1", n_envs=1)
    stop = StopTrainingOnRewardThreshold(reward_threshold=1e9)
    callbacks = [
        EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=40, n_eval_episodes=1, log_path=str(tmp_path)),
        CheckpointCallback(save_freq=40, save_path=str(tmp_path / "checkpoints"), save_replay_buffer=True),
    ]
    model = quick(algo, "Pendulum-v1", tensorboard_log=str(tmp_path / "tb"), verbose=0, setting=setting)
    model.learn(80, callback=callbacks, progress_bar=True)
    assert list((tmp_path / "checkpoints").glob("*.zip")) and (tmp_path / "evaluations.npz").exists()
    assert list((tmp_path / "tb" / f"{algo.__name__}_1").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("algo", ALGOS)
def test_stop_on_reward_threshold(algo, setting):
    stop = StopTrainingOnRewardThreshold(reward_threshold=-1e9)
    model = quick(algo, "Pendulum-v1", setting=setting)
    callback = EvalCallback(make_vec_env("Pendulum-v1"), callback_on_new_best=stop, eval_freq=30, n_eval_episodes=1)
    model.learn(500, callback=callback)
    assert model.num_timesteps == 30


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device(algo, setting, device):
    model = quick(algo, "Pendulum-v1", device=device, setting=setting)
    model.learn(30)
    # model.device may be `cuda` where the tensors are on `cuda:0`: compare where the tensors are
    parameters_device = next(model.policy.parameters()).device
    assert model.critic_std_ema.device == parameters_device and model.device.type == parameters_device.type


@pytest.mark.parametrize("algo", ALGOS)
def test_set_env_and_policy_alone(algo, setting, tmp_path):
    model = quick(algo, "Pendulum-v1", setting=setting)
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
