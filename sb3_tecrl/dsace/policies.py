import numbers
from typing import Any, NamedTuple

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    FlattenExtractor,
    NatureCNN,
    get_actor_critic_arch,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import Actor as SACActor
from torch import nn
from torch.nn import functional as F

from sb3_tecrl.common.distributions import gaussian_sample, squashed_gaussian_sample
from sb3_tecrl.common.torch_layers import EnsembleMLP

# Bounds of the actor's log standard deviation in the official DSAC-T code (SB3's SAC uses [-20, 2])
LOG_STD_MIN = -20.0
LOG_STD_MAX = 0.5
# Added to the softplus of the reward critics' standard deviation output
MIN_CRITIC_STD = 1e-6
# Default number of reward critics (DSAC-T's twin value distributions)
N_REWARD_CRITICS = 2


class Actor(SACActor):
    """
    Squashed (tanh) diagonal Gaussian actor, SAC's actor with configurable log-std bounds (without gSDE; with gSDE
    the log-std is SAC's state-independent parameter, unclamped as in SAC).

    :param observation_space: Observation space
    :param action_space: Action space
    :param net_arch: Network architecture
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) or not
    :param log_std_init: Initial value of the log standard deviation (gSDE only)
    :param full_std: Whether to use ``(n_features x n_actions)`` parameters for the std instead of only
        ``(n_features,)`` (gSDE only)
    :param use_expln: Use ``expln()`` instead of ``exp()`` to ensure a positive standard deviation (gSDE only)
    :param clip_mean: Clip the mean output to ``[-clip_mean, clip_mean]`` when > 0 (gSDE only)
    :param normalize_images: Whether to normalize images or not, dividing by 255.0
    :param log_std_min: Lower bound of the log standard deviation (without gSDE)
    :param log_std_max: Upper bound of the log standard deviation (without gSDE)
    :param hidden_matmul_dtype: dtype in which the hidden layers compute (``th.bfloat16``: their matrix products and
        activations, by autocast), ``None`` for the parameters' dtype; the mean and log-std heads and everything after
        them stay in the parameters' dtype
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: nn.Module,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.GELU,
        use_sde: bool = False,
        log_std_init: float = -3,
        full_std: bool = True,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        normalize_images: bool = True,
        log_std_min: float = LOG_STD_MIN,
        log_std_max: float = LOG_STD_MAX,
        hidden_matmul_dtype: th.dtype | None = None,
    ):
        super().__init__(
            observation_space,
            action_space,
            net_arch=net_arch,
            features_extractor=features_extractor,
            features_dim=features_dim,
            activation_fn=activation_fn,
            use_sde=use_sde,
            log_std_init=log_std_init,
            full_std=full_std,
            use_expln=use_expln,
            clip_mean=clip_mean,
            normalize_images=normalize_images,
        )
        if not log_std_min < log_std_max:
            raise ValueError(f"log_std_min ({log_std_min}) must be smaller than log_std_max ({log_std_max}).")
        self.log_std_min = log_std_min
        self.log_std_max = log_std_max
        self.hidden_matmul_dtype = hidden_matmul_dtype

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(log_std_min=self.log_std_min, log_std_max=self.log_std_max, hidden_matmul_dtype=self.hidden_matmul_dtype)
        return data

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        """
        :param obs: Observation
        :return: Mean and clamped log standard deviation of the (pre-tanh) Gaussian, and no extra keyword arguments;
            with gSDE, SAC's (the log-std parameter and the latent features of the noise)
        """
        features = self.extract_features(obs, self.features_extractor)
        dtype = self.hidden_matmul_dtype
        with th.autocast(features.device.type, dtype=dtype or th.bfloat16, enabled=dtype is not None):
            latent_pi = self.latent_pi(features)
        latent_pi = latent_pi.to(features.dtype)
        mean_actions = self.mu(latent_pi)
        if self.use_sde:  # SAC's gSDE parameters
            return mean_actions, self.log_std, {"latent_sde": latent_pi}
        log_std = self.log_std(latent_pi)  # type: ignore[operator]
        return mean_actions, th.clamp(log_std, self.log_std_min, self.log_std_max), {}

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        if self.use_sde:
            return super().forward(obs, deterministic)
        mean_actions, log_std, _ = self.get_action_dist_params(obs)
        if deterministic:
            return th.tanh(mean_actions)
        return th.tanh(gaussian_sample(mean_actions, log_std)[0])

    def action_log_prob(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """
        :param obs: Observation
        :return: reparameterised actions and their log-probabilities, SAC's numbers; without gSDE from pure functions
            (:func:`~sb3_tecrl.common.distributions.squashed_gaussian_sample`), so that the actor keeps no tensor of the
            step (a compiled gradient step then stays one graph)
        """
        if self.use_sde:
            return super().action_log_prob(obs)
        return squashed_gaussian_sample(*self.get_action_dist_params(obs)[:2])


class CriticValues(NamedTuple):
    """Outputs of :class:`EnsembleCritic` for a batch of (state, action) pairs."""

    mean: th.Tensor
    """Means of the reward value distributions, ``(n_critics, batch, 1)``."""
    std: th.Tensor
    """Standard deviations of the reward value distributions, ``(n_critics, batch, 1)``."""
    entropy: th.Tensor | None
    """Entropy critic ``Q_e(s, a)``, ``(batch, 1)``; ``None`` without an entropy critic."""


class EnsembleCritic(BaseModel):
    """
    The Gaussian reward critics ``Q_r1 .. Q_rR`` (``R = n_critics``, DSAC-T's twin by default) and, optionally, the
    entropy critic ``Q_e``, evaluated as one ensemble of MLPs on ``[features(s), a]``.

    Every member has two outputs. A reward critic reads them as ``(mu, softplus(raw) + 1e-6)``; the entropy critic
    uses its first output only (the second is unused: it only keeps all members the same shape, so that one batched
    matrix product per layer serves all the critics).

    :param observation_space: Observation space
    :param action_space: Action space
    :param net_arch: Network architecture
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function
    :param normalize_images: Whether to normalize images or not, dividing by 255.0
    :param entropy_critic: Whether to add the entropy critic ``Q_e`` (DSAC-E) or not (DSAC-T)
    :param n_critics: Number of reward critics (>= 1)
    :param share_features_extractor: Whether the features extractor is shared with the actor; it is then trained by
        the actor's loss only
    :param hidden_matmul_dtype: dtype of the inputs of the matrix products that compute the hidden layers
        (``th.bfloat16``), ``None`` for the parameters' dtype (see :class:`~sb3_tecrl.common.torch_layers.EnsembleMLP`)
    """

    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.GELU,
        normalize_images: bool = True,
        entropy_critic: bool = True,
        n_critics: int = N_REWARD_CRITICS,
        share_features_extractor: bool = False,
        hidden_matmul_dtype: th.dtype | None = None,
    ):
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        self.share_features_extractor = share_features_extractor
        self.entropy_critic = entropy_critic
        self.n_critics = n_critics
        n_members = n_critics + int(entropy_critic)
        input_dim = features_dim + get_action_dim(self.action_space)
        self.q_net = EnsembleMLP(n_members, input_dim, 2, net_arch, activation_fn, hidden_matmul_dtype)

    def features(self, obs: PyTorchObs) -> th.Tensor:
        """
        :param obs: Observation
        :return: features of ``obs``; without gradient when the extractor is shared with the actor
        """
        with th.set_grad_enabled(not self.share_features_extractor):
            return self.extract_features(obs, self.features_extractor)

    def evaluate(self, features: th.Tensor, actions: th.Tensor, frozen: bool = False) -> CriticValues:
        """
        :param features: output of :meth:`features`
        :param actions: actions in [-1, 1], ``(batch, action_dim)``
        :param frozen: evaluate with detached weights (for the actor's loss: the gradient reaches the actions only)
        :return: the critics' values
        """
        out = self.q_net(th.cat([features, actions], dim=1), frozen)
        reward_out = out[: self.n_critics]
        std = F.softplus(reward_out[..., 1:]) + MIN_CRITIC_STD
        entropy = out[self.n_critics, :, :1] if self.entropy_critic else None
        return CriticValues(reward_out[..., :1], std, entropy)

    def forward(self, obs: PyTorchObs, actions: th.Tensor) -> CriticValues:
        return self.evaluate(self.features(obs), actions)


class DSACPolicy(BasePolicy):
    """
    Policy class (actor, target actor, critics and target critics) for DSAC-E and DSAC-T.

    :param observation_space: Observation space
    :param action_space: Action space
    :param lr_schedule: Learning rate schedule (could be constant)
    :param net_arch: Hidden layers of actor and critics: a list, or ``dict(pi=[...], qf=[...])``.
        Default: 3 layers of 256 units (official DSAC-T)
    :param activation_fn: Activation function (default GELU, official DSAC-T)
    :param log_std_min: Lower bound of the actor's log standard deviation (without gSDE)
    :param log_std_max: Upper bound of the actor's log standard deviation (0.5 in DSAC-T, 2 in SB3's SAC; without
        gSDE, whose log-std parameter is unclamped, as in SAC)
    :param features_extractor_class: Features extractor to use.
    :param features_extractor_kwargs: Keyword arguments to pass to the features extractor.
    :param normalize_images: Whether to normalize images or not, dividing by 255.0
    :param optimizer_class: The optimizer to use, ``th.optim.Adam`` by default
    :param optimizer_kwargs: Additional keyword arguments, excluding the learning rate, to pass to the optimizer
        (for Adam, ``fused=True`` unless ``fused`` or ``foreach`` is given)
    :param entropy_critic: Whether to build the entropy critic ``Q_e``. Set by DSACE/DSACT (from
        ``separate_entropy_critic``); required, so that another algorithm (e.g. ``SAC.load`` of a DSACE file) building
        this policy fails with a clear error
    :param share_features_extractor: Whether to share the features extractor between the actor and the critics
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) or not (set by the algorithm from
        its ``use_sde``, as in SAC). The actor and the target actor then sample with their own noise matrices
    :param n_critics: Number of reward critics (>= 1; default 2, DSAC-T's twin): per sample, the one with the smallest
        mean gives the next value, and the smallest mean is the actor's reward value
    :param log_std_init: Initial value of the log standard deviation (gSDE only, as in SAC)
    :param use_expln: Use ``expln()`` instead of ``exp()`` to ensure a positive standard deviation (gSDE only, as in SAC)
    :param clip_mean: Clip the actor's mean to ``[-clip_mean, clip_mean]`` when > 0 (gSDE only, as in SAC)
    :param critic_matmul_dtype: dtype of the inputs of the critics' hidden-layer matrix products, ``None`` for float32
        (set by the algorithm from its ``matmul_precision``)
    :param actor_matmul_dtype: dtype in which the actor's hidden layers compute, ``None`` for float32 (likewise)
    """

    actor: Actor
    actor_target: Actor
    critic: EnsembleCritic
    critic_target: EnsembleCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.GELU,
        log_std_min: float = LOG_STD_MIN,
        log_std_max: float = LOG_STD_MAX,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        entropy_critic: bool | None = None,
        share_features_extractor: bool = False,
        use_sde: bool = False,
        n_critics: int = N_REWARD_CRITICS,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        critic_matmul_dtype: th.dtype | None = None,
        actor_matmul_dtype: th.dtype | None = None,
    ):
        _check_n_critics(n_critics)
        if entropy_critic is None:
            raise ValueError(
                "DSACPolicy is built by sb3_tecrl's DSACE or DSACT, which set entropy_critic: this is a DSACE/DSACT model, "
                "load it with sb3_tecrl.DSACE.load() or sb3_tecrl.DSACT.load() (not SAC/TQC), or pass entropy_critic."
            )
        super().__init__(
            observation_space,
            action_space,
            features_extractor_class,
            features_extractor_kwargs,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            normalize_images=normalize_images,
            squash_output=True,
        )
        if optimizer_class is th.optim.Adam and not {"fused", "foreach"} & set(self.optimizer_kwargs):
            # the fused implementation is measurably faster on small networks (benchmarks/speed.py)
            self.optimizer_kwargs = {**self.optimizer_kwargs, "fused": True}
        if net_arch is None:
            net_arch = [256, 256, 256]
        actor_arch, critic_arch = get_actor_critic_arch(net_arch)
        self.net_arch = net_arch
        self.activation_fn = activation_fn
        self.share_features_extractor = share_features_extractor
        common_kwargs = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "activation_fn": activation_fn,
            "normalize_images": normalize_images,
        }
        self.actor_options = dict(
            log_std_min=log_std_min,
            log_std_max=log_std_max,
            use_sde=use_sde,
            log_std_init=log_std_init,
            use_expln=use_expln,
            clip_mean=clip_mean,
        )
        self.actor_kwargs = {
            **common_kwargs,
            "net_arch": actor_arch,
            **self.actor_options,
            "hidden_matmul_dtype": actor_matmul_dtype,
        }
        self.critic_kwargs = {
            **common_kwargs,
            "net_arch": critic_arch,
            "entropy_critic": entropy_critic,
            "n_critics": int(n_critics),
            "share_features_extractor": share_features_extractor,
            "hidden_matmul_dtype": critic_matmul_dtype,
        }
        self._build(lr_schedule)

    def _build(self, lr_schedule: Schedule) -> None:
        self.actor = self.make_actor()
        self.actor.optimizer = self.optimizer_class(self.actor.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)
        if self.share_features_extractor:
            self.critic = self.make_critic(features_extractor=self.actor.features_extractor)
            # The shared extractor is trained by the actor's loss only
            critic_parameters = [param for name, param in self.critic.named_parameters() if "features_extractor" not in name]
        else:
            self.critic = self.make_critic()
            critic_parameters = list(self.critic.parameters())
        self.critic.optimizer = self.optimizer_class(critic_parameters, lr=lr_schedule(1), **self.optimizer_kwargs)

        # Targets own their features extractors and are never trained by gradient
        self.actor_target = self.make_actor()
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target = self.make_critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        for target in (self.actor_target, self.critic_target):
            target.set_training_mode(False)
            target.requires_grad_(False)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                activation_fn=self.activation_fn,
                **self.actor_options,
                lr_schedule=self._dummy_schedule,  # not needed for loading the policy alone
                optimizer_class=self.optimizer_class,
                optimizer_kwargs=self.optimizer_kwargs,
                features_extractor_class=self.features_extractor_class,
                features_extractor_kwargs=self.features_extractor_kwargs,
                entropy_critic=self.critic_kwargs["entropy_critic"],
                n_critics=self.critic_kwargs["n_critics"],
                share_features_extractor=self.share_features_extractor,
                critic_matmul_dtype=self.critic_kwargs["hidden_matmul_dtype"],
                actor_matmul_dtype=self.actor_kwargs["hidden_matmul_dtype"],
            )
        )
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return Actor(**actor_kwargs).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> EnsembleCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return EnsembleCritic(**critic_kwargs).to(self.device)

    def reset_noise(self, batch_size: int = 1) -> None:
        """
        Sample new weights for the actor's exploration matrix, when using gSDE (as SAC's policy does).

        :param batch_size: number of matrices (one per environment)
        """
        self.actor.reset_noise(batch_size=batch_size)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.actor(observation, deterministic)

    def set_training_mode(self, mode: bool) -> None:
        """
        Put the policy in either training or evaluation mode (affects batch norm and dropout).
        Target networks always stay in evaluation mode.

        :param mode: if true, set to training mode, else set to evaluation mode
        """
        self.actor.set_training_mode(mode)
        self.critic.set_training_mode(mode)
        self.training = mode


MlpPolicy = DSACPolicy


class CnnPolicy(DSACPolicy):
    """
    :class:`DSACPolicy` for image observations: ``NatureCNN`` features extractor by default.
    The parameters are those of :class:`DSACPolicy`.
    """

    def __init__(self, *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = NatureCNN, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


class MultiInputPolicy(DSACPolicy):
    """
    :class:`DSACPolicy` for Dict observations: ``CombinedExtractor`` features extractor by default.
    The parameters are those of :class:`DSACPolicy`.
    """

    def __init__(self, *args: Any, features_extractor_class: type[BaseFeaturesExtractor] = CombinedExtractor, **kwargs: Any):
        super().__init__(*args, features_extractor_class=features_extractor_class, **kwargs)


def _check_n_critics(n_critics: int) -> None:
    """Reject a number of reward critics that is not a positive integer."""
    if isinstance(n_critics, bool) or not isinstance(n_critics, numbers.Integral) or n_critics < 1:
        raise ValueError(
            f"n_critics={n_critics!r}: the number of reward critics must be an integer >= 1 (default 2, DSAC-T's twin)."
        )
