import io
import math
import os
import pathlib
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import (
    GymEnv,
    MaybeCallback,
    PyTorchObs,
    ReplayBufferSamples,
    Schedule,
    TrainFrequencyUnit,
)
from stable_baselines3.common.utils import FloatSchedule, get_parameters_by_name, polyak_update, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv

from sb3_tecrl.checkpoint import complete_set_hint
from sb3_tecrl.common.atomic import check_pickle_complete, check_zip_complete, load_path, save_atomically
from sb3_tecrl.common.compile import compile_or_eager
from sb3_tecrl.common.entropy import (
    check_entropy_units,
    check_finite,
    entropy_shift,
    step_entropy_target,
    trajectory_entropy_budget,
)
from sb3_tecrl.common.initial_states import InitialStateBuffer
from sb3_tecrl.common.losses import (
    NOISE_CLIP,
    annealed_budget,
    entropy_target,
    policy_evaluation_loss,
    policy_improvement_loss,
    policy_introspection_loss,
    reward_targets,
    running_average,
    select_min_mean,
    temperature_update_loss,
    update_std_ema,
)
from sb3_tecrl.common.random_state import capture_random_states, restore_random_states
from sb3_tecrl.common.temperature import PIDTemperature
from sb3_tecrl.common.torch_layers import bfloat16_matmul_pays, bfloat16_matmul_supported, laid_out_like
from sb3_tecrl.common.validation import UnsupportedSpaceError, as_number, check_choice, check_integer, check_rate, check_real
from sb3_tecrl.common.warning_types import NoGradientStepWarning
from sb3_tecrl.dsace.policies import (
    Actor,
    CnnPolicy,
    DSACPolicy,
    EnsembleCritic,
    MlpPolicy,
    MultiInputPolicy,
)

SelfDSACE = TypeVar("SelfDSACE", bound="DSACE")
MATMUL_PRECISIONS = ("auto", "float32", "bfloat16")
TEMPERATURE_UPDATES = ("adam", "dual", "pid")
# temperature_update="pid": the gains (kp, kd) when temperature_pid_gains is not given (ki: ent_coef_learning_rate), and
# the rate of the violation's running average that the proportional and derivative terms see (per actor update)
PID_DEFAULT_GAINS = (1.0, 0.0)
PID_SMOOTHING_RATE = 0.01
BUDGET_SCHEDULES = ("fixed", "anneal")
# budget_schedule="anneal": the rate of the estimate's running average (per actor update), how close to the budget it
# must be for the constraint to count as met (nats per step), and the fraction of the remaining way to the configured
# budget covered at an actor update where it is met
BUDGET_AVERAGE_RATE = 0.01
BUDGET_MET_TOLERANCE = 0.1
BUDGET_ANNEAL_RATE = 0.01

# compile_update="auto" (the default): the gradient steps run eagerly until this many, then compiled; a compilation of
# seconds to a minute pays for itself within a few thousand compiled steps, and short runs (tests, demos) never wait for one
AUTO_COMPILE_AFTER = 10_000

WARMUP_ACTIONS = ("uniform", "policy")
CONSTRAINT_STATES = ("replay", "initial")


class DSACE(OffPolicyAlgorithm):
    """
    DSAC-E: Distributional Soft Actor-Critic with Trajectory Entropy-Constrained RL (TECRL).

    Mind Your Entropy: From Maximum Entropy to Trajectory Entropy-Constrained RL, https://arxiv.org/abs/2511.11592,
    built on DSAC-T (https://arxiv.org/abs/2310.05858). DSAC-E learns twin Gaussian reward critics with DSAC-T's three
    refinements and no entropy in their target, an entropy critic ``Q_e`` (expected discounted future policy entropy),
    and an actor that maximises ``Q_r + alpha * (-log pi + Q_e)``. With the trajectory entropy constraint
    (``trajectory_entropy_constraint=True``, the paper's, and the ``dsace_paper`` zoo file's) the temperature ``alpha``
    is tuned so that the trajectory entropy ``-log pi + Q_e`` meets the budget ``rho * H0 / (1 - gamma)``. The default
    (since 0.2.0, and the ``dsace`` zoo file's) is the paper's "w/o TEC" form: alpha tuned so that ``-log pi`` meets the
    per-step target ``rho * H0``, the only form whose constraint acted in the constraint study (docs:
    benchmarks/constraint_study), which chose it by its shipping rule.
    Both switches off give DSAC-T (see :class:`sb3_tecrl.DSACT`).

    Entropies are in the environment's units by default, as in the paper and the official code
    (``log pi_env = log pi_sb3 - c`` with ``c = sum_i log((high_i - low_i) / 2)``, 0 for actions in [-1, 1]);
    ``entropy_units="sb3"`` keeps SAC's convention and converts the targets instead (see ``sb3_tecrl.common.entropy``).

    The defaults are the official DSAC-T MuJoCo settings (3x256 GELU networks, batch 256, tau 0.005) except three,
    set for SB3's sampling regime of one environment step per gradient step (``train_freq=1``, ``gradient_steps=1``,
    the default here as in SAC): the actor every gradient step (``policy_delay=1``, official 2) and
    ``learning_rate=3e-4`` (official 1e-4), measured by ``benchmarks/defaults_study.py`` (docs: guide/defaults), and SAC's
    100-step warm-up (``learning_starts=100``, official 10,000, which the shipped zoo files keep), so that a short run
    with the class defaults learns as SAC's does. The official settings are one name away:
    ``sb3_tecrl.make_model("dsace_paper", env_id)``.

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: learning rate of the actor and the critics (Adam); it can be a function of the current
        progress remaining (from 1 to 0). Official DSAC-T: 1e-4 (for 20 environment steps per gradient step)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts (SAC's 100;
        the official DSAC-T script and the shipped zoo files: 10,000)
    :param batch_size: Minibatch size for each gradient update
    :param tau: the soft update coefficient of all target networks ("Polyak update", between 0 and 1; 0 freezes them)
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps. Alternatively pass a tuple of frequency and unit
        like ``(5, "step")`` or ``(2, "episode")``.
    :param gradient_steps: How many gradient steps to do after each rollout (-1: as many as environment steps; 0: collect
        only)
    :param action_noise: the action noise type (None by default)
    :param replay_buffer_class: Replay buffer class to use (for instance ``HerReplayBuffer``).
        If ``None``, it will be automatically selected.
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation.
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns (``NStepReplayBuffer``) when > 1. The entropy critic's target then lacks the
        entropies of the intermediate steps (SAC's entropy bonus makes the same approximation; a warning says so), and
        the budget is ``rho * H0 / (1 - gamma^n)``, the horizon of that target, so that the per-step entropy the
        temperature drives towards stays ``rho * H0``.
    :param ent_coef: Temperature alpha. ``"auto"`` learns it starting from 1.0, ``"auto_0.1"`` from 0.1; a float fixes
        it. (The official DSAC-T code, and the shipped zoo files, start from e: ``ent_coef=f"auto_{math.e}"``.)
    :param ent_coef_learning_rate: learning rate of ``log(alpha)``, a float or a schedule
    :param target_entropy: the per-step reference entropy ``H0``: ``"auto"`` for ``-dim(A)`` in the environment's
        units (the paper), or a float in SB3's units (as for SAC)
    :param rho: scale of the trajectory entropy budget ``rho * H0 / (1 - gamma)`` (> 0). With ``H0 < 0`` a larger
        rho means a lower budget; the paper uses 20 for Humanoid and Walker2d, 1 elsewhere. Without TEC it scales the
        per-step target, ``rho * H0``: the per-step entropy that the budget asks for in the steady state of a
        continuing task (spec section 10), so that the two can be compared at the same rho.
    :param entropy_budget: explicit trajectory entropy budget in ``entropy_units``; overrides the formula (and allows
        ``gamma = 1``)
    :param entropy_units: ``"env"`` (default, the paper's and the official code's): every log-probability in the
        losses, targets and temperature update is that of the action in the environment's units,
        ``log pi_sb3 - c``, and the targets are the paper's formulas as written. ``"sb3"`` (SAC's convention):
        log-probabilities of the squashed actions, with the targets converted (per-step ``H0 - c``, budget
        ``(rho * H0 - c) / (1 - gamma^n)``). Identical when the actions lie in [-1, 1] (``c = 0``); they differ in
        what is learned when ``c != 0`` and episodes terminate.
    :param warmup_actions: actions of the first ``learning_starts`` steps: ``"uniform"`` (SB3's, uniform random) or
        ``"policy"`` (the initial stochastic policy, as in the official DSAC-T code)
    :param separate_entropy_critic: reward-entropy separation (RES): learn ``Q_e`` and keep entropy out of the reward
        critics' target. Off: the soft Bellman target of DSAC-T.
    :param trajectory_entropy_constraint: trajectory entropy constraint (TEC, the paper's): tune alpha on
        ``-log pi + Q_e`` against the budget. Off (the default since 0.2.0, the paper's "w/o TEC"): tune it on
        ``-log pi`` against the per-step target ``rho * H0``; the entropy critic still shapes the actor. Needs
        ``separate_entropy_critic``.
    :param constraint_states: the states at which TEC measures the trajectory entropy ``-log pi(a|s) + Q_e(s, a)``
        (``a ~ pi(.|s)``) that it holds to the budget: ``"replay"`` (the paper's) the replayed batch's states, a mean
        over the replay distribution (for a continuing task, a per-step target in the limit: spec section 10);
        ``"initial"`` the initial states of episodes (the first observation after each reset, kept in an
        :class:`~sb3_tecrl.common.initial_states.InitialStateBuffer` of the last 10,000, saved with the model), so that
        it is on ``E_{s0}[V_H(s0)]``, the entropy of trajectories from their start, against the same budget: up to
        ``batch_size`` of them per temperature update, logged as ``train/initial_trajectory_entropy`` (the replayed
        batch's estimate stands in while none is stored yet). Needs ``trajectory_entropy_constraint`` and a Box
        observation space.
    :param policy_delay: the actor, the temperature and all target networks are updated every ``policy_delay``-th
        gradient step (counted over all gradient steps, so ``gradient_steps > 1`` works); critics every step. Official
        DSAC-T: 2 (for 20 environment steps per gradient step)
    :param target_update_interval: target networks are updated every ``target_update_interval``-th actor update
    :param tau_b: rate of the moving average of the reward critics' standard deviation (default: ``tau``; 0 keeps the
        first batch's value)
    :param entropy_tau: soft update coefficient of the entropy critic's target network (default ``None``: ``tau``, the
        paper's). The fixed point of ``Q_e`` moves with a time constant of about ``1 / (entropy_tau (1 - gamma))``
        gradient steps; ``1.0`` copies the critic into its target at every target update (no target network for
        ``Q_e``), ``0`` freezes the target. Needs ``separate_entropy_critic``
    :param temperature_update: how ``log(alpha)`` follows its target. ``"adam"`` (default, the paper's): Adam on the TUP
        loss, whose normalised step moves ``log(alpha)`` at a nearly constant rate whatever the violation.
        ``"dual"``: dual ascent, a plain gradient step of ``ent_coef_learning_rate`` times the violation in per-step
        units (the trajectory violation times ``1 - gamma^n``; the per-step one without TEC), which settles where the
        constraint holds instead of annealing. ``"pid"``: the PID Lagrangian (Stooke et al., 2020), dual ascent (the
        integral term, gain ``ent_coef_learning_rate``) plus proportional and derivative terms on the running average
        of the per-step violation (rate 0.01 per actor update), which react to a violation at once instead of
        accumulating it (``sb3_tecrl.common.losses.pid_log_ent_coef``). Dual ascent and PID need ``ent_coef="auto"``
    :param temperature_pid_gains: ``(kp, kd)`` of ``temperature_update="pid"``, in ``log(alpha)`` per nat of per-step
        violation (default ``None``: ``(1.0, 0.0)``, a violation of one nat per step moves alpha by a factor e)
    :param budget_schedule: what alpha is tuned against. ``"fixed"`` (default, the paper's): the budget (TEC) or the
        per-step target entropy, as configured. ``"anneal"``: a budget that starts at the first estimate (what the
        initial policy holds) and moves 1% of its remaining way to the configured one at each actor update where the
        constraint is met (the running average of the estimate within 0.1 nat per step of the current budget), else
        stays: a budget the policy follows, which stops where it cannot (``sb3_tecrl.common.losses.annealed_budget``);
        logged as ``train/entropy_budget``, the configured one as ``train/entropy_budget_final``
    :param matmul_precision: ``"auto"`` (default), ``"bfloat16"`` or ``"float32"``. With ``"bfloat16"`` the hidden
        layers of the actor, the critics and their targets compute in bfloat16 (matrix products with float32
        accumulation, activations rounded to bfloat16; the critics' by an explicit cast, the actor's by
        ``torch.autocast``); the weights, their gradients, the optimizer states, the output layers (the actor's mean and
        log-std, the critics' values and standard deviations), the targets, variance terms and losses stay float32. On
        a device without native bfloat16 matrix products (``bfloat16_matmul_supported``: CUDA or CPU) it falls back to
        float32 silently. ``"auto"`` computes in bfloat16 where its products are native and, on a CPU, measured at least
        1.2x as fast as float32 ones (``sb3_tecrl.common.torch_layers.bfloat16_matmul_pays``, tens of milliseconds
        once per process), else in float32: both precisions passed the learning check of 2026-12-01 (docs:
        benchmarks/speed, "The bfloat16 option"). ``"float32"`` gives the float32 numerics everywhere.
    :param compile_update: run the losses of each gradient step and their backward pass through ``torch.compile``
        (inductor; the optimizer steps and the target update stay eager): one graph for the steps that update the
        actor and one for those that do not, each with its backward pass where torch traces ``autograd.grad``
        (``torch._dynamo.config.trace_autograd_ops``, torch 2.13; elsewhere, and with gSDE, the backward pass is a
        graph break). Faster once compiled, after a compilation of seconds to a minute; results equal the eager
        step's up to floating-point rounding. ``True`` compiles at the start; where this machine cannot compile (no
        C++ compiler on CPU), a warning says so and the step runs eagerly. ``"auto"`` (the default since 2026-12-02,
        after a learning check, docs: benchmarks/speed) runs the first ``AUTO_COMPILE_AFTER`` (10,000) gradient steps
        eagerly, then compiles (in the main thread only; silently eager where this machine cannot compile), so that
        short runs never wait for a compilation; a loaded model past that many steps compiles at its first gradient
        step. ``False``: always eager.
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) instead of action noise, as in SAC.
        Every loss applies unchanged (gSDE's squashed Gaussian has closed-form log-probabilities, in
        ``entropy_units``); the actor and the target actor resample their noise matrices at every gradient step
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param use_sde_at_warmup: Whether to use gSDE instead of uniform sampling during the warm up phase (before
        learning starts)
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation (see ``DSACPolicy``)
    :param verbose: Verbosity level: 0 for no output, 1 for info messages, 2 for debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    algorithm_name: ClassVar[str] = "DSACE"
    """Saved with the model, so that loading it with the other variant's class fails with a clear error."""
    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: DSACPolicy
    actor: Actor
    actor_target: Actor
    critic: EnsembleCritic
    critic_target: EnsembleCritic

    def __init__(
        self,
        policy: str | type[DSACPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        ent_coef_learning_rate: float | Schedule = 3e-4,
        target_entropy: str | float = "auto",
        rho: float = 1.0,
        entropy_budget: float | None = None,
        entropy_units: str = "env",
        warmup_actions: str = "uniform",
        separate_entropy_critic: bool = True,
        trajectory_entropy_constraint: bool = False,
        constraint_states: str = "replay",
        policy_delay: int = 1,
        target_update_interval: int = 1,
        tau_b: float | None = None,
        entropy_tau: float | None = None,
        temperature_update: str = "adam",
        temperature_pid_gains: tuple[float, float] | None = None,
        budget_schedule: str = "fixed",
        matmul_precision: str = "auto",
        compile_update: bool | str = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        _check_hyperparameters(
            policy=policy,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            n_steps=n_steps,
            ent_coef=ent_coef,
            ent_coef_learning_rate=ent_coef_learning_rate,
            target_entropy=target_entropy,
            tau_b=tau_b,
            entropy_tau=entropy_tau,
            temperature_update=temperature_update,
            temperature_pid_gains=temperature_pid_gains,
            budget_schedule=budget_schedule,
            sde_sample_freq=sde_sample_freq,
            stats_window_size=stats_window_size,
            verbose=verbose,
            seed=seed,
            device=device,
            gamma=gamma,
            rho=rho,
            entropy_budget=entropy_budget,
            entropy_units=entropy_units,
            warmup_actions=warmup_actions,
            separate_entropy_critic=separate_entropy_critic,
            trajectory_entropy_constraint=trajectory_entropy_constraint,
            constraint_states=constraint_states,
            policy_delay=policy_delay,
            target_update_interval=target_update_interval,
            matmul_precision=matmul_precision,
            compile_update=compile_update,
        )
        super().__init__(
            policy,
            env,
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            # a copy: SB3 writes use_sde into it, and a script may share it with SAC
            policy_kwargs=dict(policy_kwargs or {}),
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            seed=seed,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
            support_multi_env=True,
        )
        self.ent_coef = ent_coef
        self.ent_coef_learning_rate = ent_coef_learning_rate
        self.target_entropy = target_entropy
        self.rho = rho
        self.entropy_budget = entropy_budget
        self.entropy_units = entropy_units
        self.warmup_actions = warmup_actions
        self.separate_entropy_critic = separate_entropy_critic
        self.trajectory_entropy_constraint = trajectory_entropy_constraint
        self.constraint_states = constraint_states
        self.initial_states: InitialStateBuffer | None = None  # built by _setup_model, unless loaded with the model
        self.policy_delay = policy_delay
        self.target_update_interval = target_update_interval
        self.tau_b = tau if tau_b is None else tau_b
        self.entropy_tau = entropy_tau
        self.temperature_update = temperature_update
        self.temperature_pid_gains = temperature_pid_gains
        self.budget_schedule = budget_schedule
        self.matmul_precision = matmul_precision
        self.compile_update = compile_update
        self._step_compiled = False
        self.log_ent_coef: th.Tensor | None = None
        self.ent_coef_optimizer: th.optim.Optimizer | None = None
        self._random_states_to_restore: dict[str, Any] | None = None
        if _init_setup_model:
            self._setup_model()

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        """Check the action space before SB3 wraps the env, so that a bad one gets a ``ValueError`` saying what to do."""
        _check_action_space(env.action_space)
        return OffPolicyAlgorithm._wrap_env(env, verbose, monitor_wrapper)

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """
        Store a transition as SB3 does, after checking that its observation and reward are finite: a NaN or inf
        raises a ``ValueError`` at the step it appears, before it can reach the replay buffer and the critics.
        (An outer ``VecCheckNan`` wrapper would do the same but would break ``EvalCallback``'s ``VecNormalize``
        synchronisation, which walks the training and evaluation wrappers in lockstep.)
        """
        _check_finite_transition(new_obs, reward, dones, infos, self.num_timesteps)
        if self.initial_states is not None:
            self._store_initial_states(dones)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    def _store_initial_states(self, dones: np.ndarray) -> None:
        """
        Keep the states of this transition that began an episode (unnormalised, as the replay buffer keeps them):
        those of the envs that ``learn`` reset or whose previous transition ended an episode.

        :param dones: the transition's ends of episodes, which make the next states initial ones
        """
        assert self.initial_states is not None
        states = self._last_obs if self._vec_normalize_env is None else self._last_original_obs
        self.initial_states.add(states[self._last_episode_starts])  # type: ignore[index]
        self._last_episode_starts = np.array(dones, dtype=bool)

    def _setup_model(self) -> None:
        self._check_loaded_algorithm()
        _check_policy_fits(self.policy_class, self.observation_space, self.policy_kwargs)  # type: ignore[arg-type]
        # entropy_critic and the networks' precision go to the policy but not into the user's dict (which a script may
        # share with SAC)
        user_policy_kwargs = self.policy_kwargs
        hidden_matmul_dtype = self._hidden_matmul_dtype()
        self.policy_kwargs = {
            **user_policy_kwargs,
            "entropy_critic": self.separate_entropy_critic,
            "critic_matmul_dtype": hidden_matmul_dtype,
            "actor_matmul_dtype": hidden_matmul_dtype,
        }
        try:
            super()._setup_model()
        finally:
            self.policy_kwargs = user_policy_kwargs
        self._create_aliases()
        self.batch_norm_stats = get_parameters_by_name(self.critic, ["running_"]) + get_parameters_by_name(
            self.actor, ["running_"]
        )
        self.batch_norm_stats_target = get_parameters_by_name(self.critic_target, ["running_"]) + get_parameters_by_name(
            self.actor_target, ["running_"]
        )
        self.log_prob_shift = entropy_shift(self.action_space, self.entropy_units)  # type: ignore[arg-type]
        self.temperature_target = self._resolve_temperature_target()
        if self.budget_schedule == "anneal":  # NaN until the first actor update sets them (loading restores them)
            self.annealed_budget = th.tensor(math.nan, device=self.device)
            self.constraint_estimate_average = th.tensor(math.nan, device=self.device)
        self.critic_std_ema = th.full((self.critic.n_critics,), -1.0, device=self.device)
        self.ent_coef_lr_schedule = FloatSchedule(self.ent_coef_learning_rate)
        self._setup_ent_coef()
        if self.entropy_tau is not None:
            self._target_rates = self._per_member_target_rates()
        if self.constraint_states == "initial" and self.initial_states is None:
            self.initial_states = InitialStateBuffer(self.observation_space)
        if self.compile_update is True:
            self._compile_step()
        if self.n_steps > 1 and self.separate_entropy_critic:
            warnings.warn(
                f"n_steps={self.n_steps}: the entropy critic's target omits the entropies of the {self.n_steps - 1} "
                "intermediate steps of each n-step transition (SAC's entropy bonus makes the same approximation); "
                f"the trajectory budget uses the matching horizon 1 / (1 - gamma^{self.n_steps}).",
                stacklevel=2,
            )

    def _compile_step(self) -> None:
        """
        Put :meth:`_losses_and_gradients` through ``torch.compile``, once. Where this machine cannot compile, it stays
        eager: with a warning for ``compile_update=True``, silently for ``"auto"``, which the user did not ask for.
        """
        self._losses_and_gradients = compile_or_eager(  # type: ignore[method-assign]
            self._losses_and_gradients, self.device, "gradient step", trace_autograd=True, warn=self.compile_update is True
        )
        self._step_compiled = True

    def _auto_compile_due(self) -> bool:
        """
        :return: whether ``compile_update="auto"`` compiles the step now: after ``AUTO_COMPILE_AFTER`` gradient steps,
            in the main thread only (dynamo is not thread-safe: Optuna's ``n_jobs`` trials run in threads)
        """
        return (
            self.compile_update == "auto"
            and not self._step_compiled
            and self._n_updates >= AUTO_COMPILE_AFTER
            and threading.current_thread() is threading.main_thread()
        )

    def _per_member_target_rates(self) -> list[th.Tensor]:
        """
        :return: per parameter of critic and actor (in ``_update_targets``' order), its soft update rate as a tensor
            that broadcasts over it: the ensemble's stacked parameters get ``tau`` for the reward critics and
            ``entropy_tau`` for the entropy critic (the last member); every other parameter gets ``tau``
        """
        ensemble = {id(parameter) for parameter in self.critic.q_net.parameters()}
        members = th.full((self.critic.n_critics + 1,), self.tau, device=self.device)
        members[-1] = self.entropy_tau
        rates = []
        for parameter in [*self.critic.parameters(), *self.actor.parameters()]:
            if id(parameter) in ensemble:
                rates.append(members.view(-1, *([1] * (parameter.dim() - 1))).to(parameter.dtype))
            else:
                rates.append(th.tensor(self.tau, device=self.device, dtype=parameter.dtype))
        return rates

    def _check_loaded_algorithm(self) -> None:
        """
        Refuse a policy class of another algorithm, and (when loading) a file saved by the other variant, naming the
        class to load it with. ``load`` puts the saved data in ``__dict__`` before it calls ``_setup_model``.
        """
        name = type(self).algorithm_name
        if not (isinstance(self.policy_class, type) and issubclass(self.policy_class, DSACPolicy)):
            saved_by = _algorithm_of_policy(self.policy_class)
            raise ValueError(
                f"{name} needs a DSACPolicy (MlpPolicy, CnnPolicy, MultiInputPolicy), got the policy {self.policy_class} "
                f"of {saved_by}. If you are loading a file: it was saved by {saved_by}; load it with {saved_by}.load()."
            )
        saved_by = self.__dict__.pop("saved_algorithm", name)
        if saved_by != name:
            raise ValueError(
                f"This file was saved by {saved_by}, not {name}: load it with sb3_tecrl.{saved_by}.load() "
                "(DSAC-E and DSAC-T have different critics and updates)."
            )

    def _hidden_matmul_dtype(self) -> th.dtype | None:
        """
        :return: bfloat16 where ``matmul_precision`` asks for it and it is native on ``self.device`` (``"auto"``: and
            faster than float32 there), else ``None`` (float32)
        """
        if self.matmul_precision == "auto":
            use_bfloat16 = bfloat16_matmul_pays(self.device)
            if self.verbose >= 1:
                print(f"matmul_precision='auto': hidden layers in {'bfloat16' if use_bfloat16 else 'float32'}")
        else:
            use_bfloat16 = self.matmul_precision == "bfloat16" and bfloat16_matmul_supported(self.device)
        return th.bfloat16 if use_bfloat16 else None

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.actor_target = self.policy.actor_target
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    def _resolve_temperature_target(self) -> float:
        """
        :return: the trajectory entropy budget (TEC) or the per-step target entropy, in ``entropy_units``
        """
        assert isinstance(self.action_space, spaces.Box)
        if not self.trajectory_entropy_constraint:
            target = step_entropy_target(self.target_entropy, self.action_space, self.entropy_units, self.rho)
            return check_finite("The per-step target entropy", target)
        if self.entropy_budget is not None:
            return float(self.entropy_budget)
        budget = trajectory_entropy_budget(
            self.target_entropy, self.action_space, self.rho, self.gamma, self.n_steps, self.entropy_units
        )
        return check_finite("The trajectory entropy budget (check the action space bounds and target_entropy)", budget)

    def _setup_ent_coef(self) -> None:
        if _alpha_is_learned(self.ent_coef):
            init_value = float(self.ent_coef.split("_")[1]) if "_" in self.ent_coef else 1.0
            if not init_value > 0.0:
                raise ValueError(f"The initial value of ent_coef must be greater than 0, got {self.ent_coef!r}.")
            self.log_ent_coef = th.full((1,), math.log(init_value), device=self.device).requires_grad_(True)
            self.ent_coef_optimizer = self._temperature_optimizer(self.ent_coef_lr_schedule(1))
        else:
            self.ent_coef_tensor = th.tensor(float(self.ent_coef), device=self.device)

    def _temperature_optimizer(self, lr: float) -> th.optim.Optimizer:
        """:return: the optimizer of ``log(alpha)`` that ``temperature_update`` names"""
        assert self.log_ent_coef is not None
        if self.temperature_update == "pid":
            kp, kd = PID_DEFAULT_GAINS if self.temperature_pid_gains is None else self.temperature_pid_gains
            return PIDTemperature([self.log_ent_coef], lr=lr, kp=kp, kd=kd, smoothing=PID_SMOOTHING_RATE)
        optimizer_class = th.optim.SGD if self.temperature_update == "dual" else th.optim.Adam
        return optimizer_class([self.log_ent_coef], lr=lr)

    def _current_ent_coef(self) -> th.Tensor:
        """:return: the current temperature alpha, detached"""
        if self.log_ent_coef is None:
            return self.ent_coef_tensor
        return self.log_ent_coef.detach().exp()

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        if self._auto_compile_due():
            self._compile_step()
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        if self.ent_coef_optimizer is not None:
            update_learning_rate(self.ent_coef_optimizer, self.ent_coef_lr_schedule(self._current_progress_remaining))

        step_stats = []
        for _ in range(gradient_steps):
            self._n_updates += 1
            if self.use_sde:  # log_std may have changed: new noise matrices (each actor its own), as SAC does
                self.actor.reset_noise()
                self.actor_target.reset_noise()
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            update_actor = self._n_updates % self.policy_delay == 0
            step_stats.append(self._gradient_step(replay_data, update_actor))
            if update_actor and self.budget_schedule == "anneal":
                self._anneal_budget(step_stats[-1])
            if update_actor and (self._n_updates // self.policy_delay) % self.target_update_interval == 0:
                self._update_targets()
        self._record_stats(step_stats)

    def _gradient_step(self, replay_data: ReplayBufferSamples, update_actor: bool) -> dict[str, th.Tensor]:
        """
        One gradient step: PEV and PIS every step; PIM and TUP when ``update_actor`` (``train`` then updates the
        target networks). The losses and their gradients come from :meth:`_losses_and_gradients` (compiled with
        ``compile_update``), then each optimizer steps.

        :return: the step's statistics (detached scalars; only those computed at this step)
        """
        optimizers = [self.critic.optimizer]
        if update_actor:
            optimizers.append(self.actor.optimizer)
            if self.ent_coef_optimizer is not None:
                optimizers.append(self.ent_coef_optimizer)
        parameters = [param for optimizer in optimizers for group in optimizer.param_groups for param in group["params"]]
        trainable = [parameter for parameter in parameters if parameter.requires_grad]
        gradients, stats = self._losses_and_gradients(replay_data, update_actor, trainable)
        gradient_of = dict(zip(trainable, gradients, strict=True))
        for parameter in parameters:  # a frozen parameter gets None, as zero_grad() and backward() would leave it
            parameter.grad = laid_out_like(gradient_of.get(parameter), parameter)
        for optimizer in optimizers:
            optimizer.step()
        return stats

    def _losses_and_gradients(
        self, replay_data: ReplayBufferSamples, update_actor: bool, parameters: list[th.Tensor]
    ) -> tuple[tuple[th.Tensor | None, ...], dict[str, th.Tensor]]:
        """
        All losses of a step, computed from the same parameters (as in the official DSAC-T code), and the gradient of
        their sum: their parameter sets are disjoint, since the actor's loss sees the critics through detached weights.
        A pure function of its inputs, the critics' standard deviation average aside: with ``compile_update`` one
        graph (forward and backward) where torch traces ``autograd.grad``.

        :param parameters: the parameters (requiring gradients) of the optimizers that step
        :return: their gradients (``None`` for one that no loss reaches) and the step's detached statistics
        """
        ent_coef = self._current_ent_coef()
        features = self.critic.features(replay_data.observations)
        losses, stats = self._critic_losses(replay_data, features, ent_coef)
        if update_actor:
            actor_losses, actor_stats = self._actor_and_temperature_losses(replay_data, features.detach(), ent_coef)
            losses.update(actor_losses)
            stats.update(actor_stats)
        gradients = th.autograd.grad(th.stack(list(losses.values())).sum(), parameters, allow_unused=True)
        return gradients, {**{key: loss.detach() for key, loss in losses.items()}, **stats, "ent_coef": ent_coef.reshape(())}

    def _critic_losses(
        self, replay_data: ReplayBufferSamples, features: th.Tensor, ent_coef: th.Tensor
    ) -> tuple[dict[str, th.Tensor], dict[str, th.Tensor]]:
        """
        PEV (reward critics) and, with an entropy critic, PIS, on a batch.

        :param features: the critic's features of ``replay_data.observations``
        :return: the losses and detached statistics
        """
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        with th.no_grad():
            next_actions, next_log_prob = self.sample_actions(replay_data.next_observations, target_actor=True)
            next_values = self.critic_target(replay_data.next_observations, next_actions)
            noise = th.randn_like(next_log_prob).clamp_(-NOISE_CLIP, NOISE_CLIP)
            next_value, next_value_sample = select_min_mean(next_values.mean, next_values.std, noise)
            entropy_bonus = None if self.separate_entropy_critic else -ent_coef * next_log_prob
            target, target_sample = reward_targets(
                replay_data.rewards, replay_data.dones, discounts, next_value, next_value_sample, entropy_bonus
            )

        values = self.critic.evaluate(features, replay_data.actions)
        self.critic_std_ema = update_std_ema(self.critic_std_ema, values.std.detach(), self.tau_b)
        losses = {"critic_loss": policy_evaluation_loss(values.mean, values.std, target, target_sample, self.critic_std_ema)}
        if values.entropy is not None:
            assert next_values.entropy is not None
            entropy_critic_target = entropy_target(replay_data.dones, discounts, next_log_prob, next_values.entropy)
            losses["entropy_critic_loss"] = policy_introspection_loss(values.entropy, entropy_critic_target)
        stats = {"q_mean": values.mean.detach().mean(), "q_std": values.std.detach().mean()}
        return losses, stats

    def _actor_and_temperature_losses(
        self, replay_data: ReplayBufferSamples, features: th.Tensor, ent_coef: th.Tensor
    ) -> tuple[dict[str, th.Tensor], dict[str, th.Tensor]]:
        """
        PIM and, when alpha is learned, TUP, on a batch.

        :param features: the critic's (detached) features of ``replay_data.observations``
        :return: the losses and detached statistics
        """
        actions_pi, log_prob = self.sample_actions(replay_data.observations)
        values_pi = self.critic.evaluate(features, actions_pi, frozen=True)
        losses = {
            "actor_loss": policy_improvement_loss(log_prob, values_pi.mean.min(dim=0).values, values_pi.entropy, ent_coef)
        }
        step_entropy = -log_prob.detach()
        stats = {"entropy": step_entropy.mean()}
        trajectory_entropy = None
        if values_pi.entropy is not None:
            trajectory_entropy = step_entropy + values_pi.entropy.detach()
            stats.update(entropy_q=values_pi.entropy.detach().mean(), trajectory_entropy=trajectory_entropy.mean())
            if self.initial_states is not None:  # constraint_states="initial"
                trajectory_entropy = self._initial_trajectory_entropy(len(log_prob), trajectory_entropy)
                stats["initial_trajectory_entropy"] = trajectory_entropy.mean()
        if self.log_ent_coef is not None:
            entropy_estimate = trajectory_entropy if self.trajectory_entropy_constraint else step_entropy
            assert entropy_estimate is not None
            budget = self._current_budget(entropy_estimate)
            if self.budget_schedule == "anneal":
                stats["entropy_budget"] = budget
            losses["ent_coef_loss"] = temperature_update_loss(
                self.log_ent_coef, entropy_estimate, budget, self._violation_scale()
            )
        return losses, stats

    def _estimate_key(self) -> str:
        """:return: the name, in the actor step's statistics, of the batch mean the temperature is tuned on"""
        return constraint_estimate_key(self.trajectory_entropy_constraint, self.constraint_states)

    def _violation_scale(self) -> float:
        """
        :return: the factor of the temperature's loss: ``1 - gamma^n`` (a trajectory violation in per-step units) for
            dual ascent or PID with TEC, else 1
        """
        return 1.0 if self.temperature_update == "adam" else self._per_step_scale()

    def _per_step_scale(self) -> float:
        """:return: ``1 - gamma^n`` with TEC (the factor from a trajectory quantity to per-step units), else 1"""
        return 1.0 - self.gamma**self.n_steps if self.trajectory_entropy_constraint else 1.0

    def _current_budget(self, entropy_estimate: th.Tensor) -> float | th.Tensor:
        """
        :param entropy_estimate: the estimate the temperature is tuned on, ``(B, 1)``
        :return: the configured target; annealed, the current budget (at the first actor update, the estimate's mean)
        """
        if self.budget_schedule != "anneal":
            return self.temperature_target
        return th.where(self.annealed_budget.isnan(), entropy_estimate.detach().mean(), self.annealed_budget)

    @th.no_grad()
    def _anneal_budget(self, stats: dict[str, th.Tensor]) -> None:
        """After an actor update with ``budget_schedule="anneal"``: the next budget, from the step's estimate."""
        average = running_average(self.constraint_estimate_average, stats[self._estimate_key()], BUDGET_AVERAGE_RATE)
        tolerance = BUDGET_MET_TOLERANCE / self._per_step_scale()
        budget = annealed_budget(stats["entropy_budget"], self.temperature_target, average, tolerance, BUDGET_ANNEAL_RATE)
        self.constraint_estimate_average.copy_(average)
        self.annealed_budget.copy_(budget)

    @th.compiler.disable  # NumPy sampling, outside a compiled gradient step
    @th.no_grad()
    def _initial_trajectory_entropy(self, batch_size: int, replay_estimate: th.Tensor) -> th.Tensor:
        """
        :param batch_size: the replayed batch's size, the most initial states to draw
        :param replay_estimate: the replayed states' trajectory entropy, returned while no initial state is stored
        :return: ``-log pi(a|s0) + Q_e(s0, a)`` with ``a ~ pi(.|s0)`` at ``min(batch_size, stored)`` stored initial
            states ``s0`` (normalised as the replay buffer's samples are), ``(n, 1)``
        """
        assert self.initial_states is not None
        if len(self.initial_states) == 0:
            return replay_estimate
        observations = self.initial_states.sample(min(batch_size, len(self.initial_states)))
        if self._vec_normalize_env is not None:
            observations = self._vec_normalize_env.normalize_obs(observations)
        observations_tensor = th.as_tensor(observations, device=self.device)
        actions, log_prob = self.sample_actions(observations_tensor)
        entropy_value = self.critic(observations_tensor, actions).entropy
        assert entropy_value is not None
        return entropy_value - log_prob

    def sample_actions(self, observations: PyTorchObs, target_actor: bool = False) -> tuple[th.Tensor, th.Tensor]:
        """
        Reparameterised actions of the (target) actor and their log-probabilities in ``entropy_units``, the form every
        loss, target and the temperature update use.

        :param observations: a batch of observations (tensors)
        :param target_actor: sample from the target actor instead of the actor
        :return: actions in [-1, 1] ``(B, action_dim)`` and ``log pi(a|s)`` ``(B, 1)``
        """
        actor = self.actor_target if target_actor else self.actor
        actions, log_prob = actor.action_log_prob(observations)
        return actions, log_prob.reshape(-1, 1) - self.log_prob_shift

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """SB3's action selection; with ``warmup_actions="policy"`` the warm-up acts with the (initial) policy."""
        return super()._sample_action(0 if self.warmup_actions == "policy" else learning_starts, action_noise, n_envs)

    @th.no_grad()
    def _update_targets(self) -> None:
        """Polyak update of all target networks (critics and actor) in one fused operation."""
        online = [*self.critic.parameters(), *self.actor.parameters()]
        target = [*self.critic_target.parameters(), *self.actor_target.parameters()]
        if self.entropy_tau is None:
            th._foreach_lerp_(target, online, self.tau)
        else:
            th._foreach_lerp_(target, online, self._target_rates)
        # Copy running stats, see https://github.com/DLR-RM/stable-baselines3/issues/996
        polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def _record_stats(self, step_stats: list[dict[str, th.Tensor]]) -> None:
        """Average the statistics of a ``train()`` call (one device sync) and stop on a non-finite loss."""
        keys = [key for stats in step_stats for key in stats]
        values = th.stack([value for stats in step_stats for value in stats.values()]).cpu().numpy()
        columns: dict[str, list[float]] = defaultdict(list)
        for key, value in zip(keys, values, strict=True):
            columns[key].append(value)
        for key, column in columns.items():
            if key.endswith("_loss") and not np.all(np.isfinite(column)):
                raise RuntimeError(
                    f"The {key.replace('_', ' ')} is not finite ({column}) after {self._n_updates} gradient steps: "
                    "the update diverged. Check the observations and rewards for extreme scales (VecNormalize), "
                    "or lower the learning rate."
                )
            self.logger.record(f"train/{key}", float(np.mean(column)))
        if self.budget_schedule == "anneal":  # the current budget is a statistic of the steps
            self.logger.record("train/entropy_budget_final", self.temperature_target)
        else:
            self.logger.record("train/entropy_budget", self.temperature_target)
        self.logger.record("train/q_std_ema", float(self.critic_std_ema.mean()))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")

    def learn(
        self: SelfDSACE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfDSACE:
        """
        Train as SB3 does. After ``load``, the first call with ``reset_num_timesteps=False`` first restores the random
        generators' states saved with the model (exact resume); any other first call discards them.
        A call that cannot reach a gradient step (``learning_starts`` not passed) warns.
        """
        random_states, self._random_states_to_restore = self._random_states_to_restore, None
        if random_states is not None and not reset_num_timesteps:
            restore_random_states(random_states, self.action_space)
        self._warn_if_no_gradient_step(int(total_timesteps), 0 if reset_num_timesteps else self.num_timesteps)
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name or type(self).__name__,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    def _warn_if_no_gradient_step(self, total_timesteps: int, num_timesteps_at_start: int) -> None:
        """
        Warn (:class:`~sb3_tecrl.NoGradientStepWarning`) when a ``learn`` call will end before its number of timesteps
        passes ``learning_starts``: SB3 then makes no gradient step at all, silently. Only where that is certain: a
        rollout of whole episodes (``train_freq`` in episodes) may go past ``learning_starts``, so it never warns.
        """
        if self.train_freq.unit != TrainFrequencyUnit.STEP:
            return
        # rollouts of whole train_freq steps: the last one may go past total_timesteps
        steps_per_rollout = self.train_freq.frequency * self.n_envs
        total_timesteps = math.ceil(total_timesteps / steps_per_rollout) * steps_per_rollout
        last_timestep = num_timesteps_at_start + total_timesteps
        if last_timestep <= self.learning_starts:
            warnings.warn(
                f"learn() will make no gradient step: it stops at timestep {last_timestep}, and learning starts after "
                f"learning_starts={self.learning_starts} timesteps (random warm-up actions until then). "
                f"Train for more than {self.learning_starts - num_timesteps_at_start} timesteps or set learning_starts "
                f"below {last_timestep}.",
                NoGradientStepWarning,
                stacklevel=3,
            )

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """
        Save all the attributes of the object and the model parameters in a zip-file, as SB3 does, plus the states of
        the random number generators, so that ``load`` followed by ``learn(reset_num_timesteps=False)`` continues the
        run exactly (on CPU, with the same environment state), and the algorithm's name (``DSACE`` or ``DSACT``).
        A loaded model whose saved states were not restored yet saves those.

        A path is written atomically (a temporary file in the same folder, fsynced, then renamed onto it): a kill, a
        power loss or a full disk during the save leaves the previous file; a file object is written as SB3 does.

        :param path: path to the file where the rl agent should be saved
        :param exclude: name of parameters that should be excluded in addition to the default ones
        :param include: name of parameters that might be excluded but should be included anyway
        """
        self.random_states = self._random_states_to_restore or capture_random_states(self.action_space)
        self.saved_algorithm = self.algorithm_name
        sb3_save = super().save
        try:
            save_atomically(path, "zip", lambda file: sb3_save(file, exclude, include))
        finally:
            del self.random_states, self.saved_algorithm

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """
        Save the replay buffer as a pickle file, as SB3 does, atomically (see :meth:`save`).

        :param path: path to the file where the replay buffer should be saved (``.pkl`` is added when it has no suffix)
        """
        save_atomically(path, "pkl", super().save_replay_buffer)

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """
        Load a replay buffer saved by :meth:`save_replay_buffer`, as SB3 does; a truncated file raises an
        ``IncompleteFileError`` (a ``ValueError``) that names it.

        :param path: path to the pickled replay buffer
        :param truncate_last_traj: as in SB3 (for ``HerReplayBuffer``)
        """
        if isinstance(path, str | os.PathLike):
            file = load_path(path, "pkl")
            check_pickle_complete(file, complete_set_hint)
        super().load_replay_buffer(path, truncate_last_traj)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfDSACE],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfDSACE:
        """
        Load the model from a zip-file, as SB3 does. The random generators' states saved with it are kept on the model
        and restored by the first ``learn(..., reset_num_timesteps=False)`` (exact resume), so that loading alone
        (e.g. for prediction) leaves the global generators of Python, NumPy and torch alone.
        The parameters are those of ``BaseAlgorithm.load``. A truncated or corrupted file raises an
        ``IncompleteFileError`` (a ``ValueError``) that names it.
        """
        if isinstance(path, str | os.PathLike):
            file = load_path(path, "zip")
            if file.exists():
                check_zip_complete(file, complete_set_hint)
        model = super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        model._random_states_to_restore = model.__dict__.pop("random_states", None)
        return model

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "actor",
            "actor_target",
            "critic",
            "critic_target",
            "_random_states_to_restore",
            "_losses_and_gradients",
            "_step_compiled",
            "_target_rates",
        ]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts = ["policy", "actor.optimizer", "critic.optimizer"]
        saved_pytorch_variables = ["critic_std_ema"]
        if self.budget_schedule == "anneal":
            saved_pytorch_variables += ["annealed_budget", "constraint_estimate_average"]
        if self.ent_coef_optimizer is not None:
            state_dicts.append("ent_coef_optimizer")
            saved_pytorch_variables.append("log_ent_coef")
        else:
            saved_pytorch_variables.append("ent_coef_tensor")
        return state_dicts, saved_pytorch_variables


def constraint_estimate_key(trajectory_entropy_constraint: bool, constraint_states: str) -> str:
    """
    :param trajectory_entropy_constraint: DSACE's TEC switch
    :param constraint_states: DSACE's ``constraint_states``
    :return: the statistic the temperature is tuned on, as logged under ``train/``: ``entropy`` (``-log pi``, without
        TEC), ``trajectory_entropy`` (``-log pi + Q_e`` on replayed states) or ``initial_trajectory_entropy``
    """
    if not trajectory_entropy_constraint:
        return "entropy"
    return "initial_trajectory_entropy" if constraint_states == "initial" else "trajectory_entropy"


def _check_hyperparameters(
    policy: str | type[DSACPolicy],
    learning_rate: float | Schedule,
    buffer_size: int,
    learning_starts: int,
    batch_size: int,
    tau: float,
    train_freq: int | tuple[int, str],
    gradient_steps: int,
    n_steps: int,
    ent_coef: str | float,
    ent_coef_learning_rate: float | Schedule,
    target_entropy: str | float,
    tau_b: float | None,
    entropy_tau: float | None,
    temperature_update: str,
    temperature_pid_gains: tuple[float, float] | None,
    budget_schedule: str,
    sde_sample_freq: int,
    stats_window_size: int,
    verbose: int,
    seed: int | None,
    device: th.device | str,
    gamma: float,
    rho: float,
    entropy_budget: float | None,
    entropy_units: str,
    warmup_actions: str,
    separate_entropy_critic: bool,
    trajectory_entropy_constraint: bool,
    constraint_states: str,
    policy_delay: int,
    target_update_interval: int,
    matmul_precision: str,
    compile_update: bool | str,
) -> None:
    """
    Reject invalid hyperparameters before anything is built, with what to do instead: every number and string of the
    signature gets a ``ValueError`` that names it, its value and its valid range.
    """
    if isinstance(policy, str):
        check_choice("policy", policy, DSACE.policy_aliases)
    check_rate("learning_rate", learning_rate)
    check_rate("ent_coef_learning_rate", ent_coef_learning_rate)
    check_integer("buffer_size", buffer_size, 1)
    check_integer("learning_starts", learning_starts, 0)
    check_integer("batch_size", batch_size, 1)
    check_real("tau", tau, 0.0, 1.0)  # 0 freezes the targets, as in SB3
    if tau_b is not None:
        check_real("tau_b", tau_b, 0.0, 1.0)  # 0 keeps the first batch's value
    if entropy_tau is not None:
        check_real("entropy_tau", entropy_tau, 0.0, 1.0)  # 0 freezes the entropy critic's target, as tau
        if not separate_entropy_critic:
            raise ValueError(
                f"entropy_tau={entropy_tau} sets the entropy critic's target rate: it needs separate_entropy_critic=True."
            )
    check_choice("temperature_update", temperature_update, TEMPERATURE_UPDATES)
    _check_temperature_update(temperature_update, temperature_pid_gains, ent_coef)
    check_choice("budget_schedule", budget_schedule, BUDGET_SCHEDULES)
    if budget_schedule == "anneal" and not _alpha_is_learned(ent_coef):
        raise ValueError(
            f"budget_schedule='anneal' moves the budget that alpha is tuned against, and ent_coef={ent_coef!r} fixes "
            "alpha: use ent_coef='auto' (or 'auto_<initial value>'), or keep budget_schedule='fixed'."
        )
    check_real("gamma", gamma, 0.0, 1.0)
    _check_train_freq(train_freq)
    check_integer("gradient_steps", gradient_steps, 0, also=(-1,))  # 0 collects without training, as in SB3
    check_integer("n_steps", n_steps, 1)
    check_integer("policy_delay", policy_delay, 1)
    check_integer("target_update_interval", target_update_interval, 1)
    check_integer("sde_sample_freq", sde_sample_freq, -1)
    check_integer("stats_window_size", stats_window_size, 1)
    check_integer("verbose", verbose, 0)
    if seed is not None:
        check_integer("seed", seed, 0, maximum=2**32 - 1)  # NumPy's seeding range
    _check_ent_coef(ent_coef)
    if not (isinstance(target_entropy, str) and target_entropy == "auto"):
        check_real("target_entropy (a number, or 'auto' for -dim(A))", target_entropy)
    check_real("rho", rho, 0.0, low_open=True)
    if entropy_budget is not None:
        check_real("entropy_budget", entropy_budget)
    _check_device(device)
    check_entropy_units(entropy_units)
    if warmup_actions not in WARMUP_ACTIONS:
        raise ValueError(
            f"warmup_actions must be 'uniform' (SB3's random actions) or 'policy' (the initial stochastic policy, "
            f"the official DSAC-T code's), got {warmup_actions!r}."
        )
    if entropy_budget is None and trajectory_entropy_constraint and gamma >= 1.0:
        raise ValueError(
            f"gamma={gamma} makes the trajectory entropy budget rho * H0 / (1 - gamma) infinite: use gamma < 1, "
            "pass an explicit entropy_budget, or set trajectory_entropy_constraint=False."
        )
    if not trajectory_entropy_constraint and entropy_budget is not None:
        raise ValueError(
            f"entropy_budget={entropy_budget} sets the trajectory entropy budget, which needs "
            "trajectory_entropy_constraint=True (the paper's DSAC-E); without it (the default since 0.2.0) alpha is tuned "
            "to the per-step target rho * H0. Pass trajectory_entropy_constraint=True with entropy_budget, or drop "
            "entropy_budget."
        )
    if trajectory_entropy_constraint and not separate_entropy_critic:
        raise ValueError(
            "trajectory_entropy_constraint=True needs the entropy critic: set separate_entropy_critic=True, "
            "or turn both off (DSAC-T)."
        )
    check_choice("constraint_states", constraint_states, CONSTRAINT_STATES)
    if constraint_states == "initial" and not trajectory_entropy_constraint:
        raise ValueError(
            "constraint_states='initial' moves the trajectory entropy constraint's estimate to the episodes' initial "
            "states, and there is no such constraint with trajectory_entropy_constraint=False: set "
            "trajectory_entropy_constraint=True (with separate_entropy_critic=True), or keep constraint_states='replay'."
        )
    check_choice("matmul_precision", matmul_precision, MATMUL_PRECISIONS)
    if not (isinstance(compile_update, bool) or compile_update == "auto"):
        raise ValueError(
            f"compile_update must be True (compile the gradient step at the start), False (never) or 'auto' (after "
            f"{AUTO_COMPILE_AFTER:,} gradient steps, the default), got {compile_update!r}."
        )


def _alpha_is_learned(ent_coef: str | float) -> bool:
    """:return: whether ``ent_coef`` asks for a learned temperature (``"auto"`` or ``"auto_<initial value>"``)"""
    return isinstance(ent_coef, str) and ent_coef.startswith("auto")


def _check_temperature_update(
    temperature_update: str, temperature_pid_gains: tuple[float, float] | None, ent_coef: str | float
) -> None:
    if temperature_update != "adam" and not _alpha_is_learned(ent_coef):
        raise ValueError(
            f"temperature_update={temperature_update!r} tunes alpha, and ent_coef={ent_coef!r} fixes it: use "
            "ent_coef='auto' (or 'auto_<initial value>'), or keep temperature_update='adam'."
        )
    if temperature_pid_gains is None:
        return
    if temperature_update != "pid":
        raise ValueError(
            f"temperature_pid_gains={temperature_pid_gains!r} are the gains of temperature_update='pid', and "
            f"temperature_update={temperature_update!r}: set temperature_update='pid' or leave the gains out."
        )
    if not (isinstance(temperature_pid_gains, tuple | list) and len(temperature_pid_gains) == 2):
        raise ValueError(f"temperature_pid_gains must be a pair (kp, kd), got {temperature_pid_gains!r}.")
    for name, gain in zip(("kp", "kd"), temperature_pid_gains, strict=True):
        check_real(f"temperature_pid_gains' {name}", gain, 0.0)


def _check_train_freq(train_freq: int | tuple[int, str]) -> None:
    """:raises ValueError: unless ``train_freq`` is an integer >= 1 or a tuple (integer >= 1, ``"step"``/``"episode"``)"""
    frequency, unit = train_freq if isinstance(train_freq, tuple) and len(train_freq) == 2 else (train_freq, "step")
    check_integer("train_freq (or its frequency in a (frequency, unit) tuple)", frequency, 1)
    check_choice("the unit of train_freq", unit, [member.value for member in TrainFrequencyUnit])


def _check_ent_coef(ent_coef: str | float) -> None:
    """:raises ValueError: unless ``ent_coef`` is ``"auto"``, ``"auto_<initial value > 0>"`` or a fixed number >= 0"""
    if not isinstance(ent_coef, str):
        check_real("ent_coef (a fixed temperature)", ent_coef, 0.0)
    elif ent_coef.startswith("auto_"):
        check_real(f"The initial value of ent_coef={ent_coef!r}", as_number(ent_coef[5:]), 0.0, low_open=True)
    elif ent_coef != "auto":
        raise ValueError(f"ent_coef must be 'auto', 'auto_<initial value>' (e.g. 'auto_0.1') or a number, got {ent_coef!r}.")


def _check_device(device: th.device | str) -> None:
    """:raises ValueError: unless ``device`` is ``"auto"``, a torch device or a string torch reads as one"""
    if isinstance(device, str) and device != "auto":
        try:
            th.device(device)
        except RuntimeError as error:
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:<index>', ... got {device!r} ({error}).") from error


def _check_action_space(action_space: spaces.Space) -> None:
    """
    DSAC-E's squashed Gaussian policy needs a bounded continuous Box action space.

    :raises UnsupportedSpaceError: for an action space that is not a ``Box`` (a ``ValueError`` and, as SB3's own check
        of ``supported_action_spaces``, an ``AssertionError``)
    :raises ValueError: for a ``Box`` with an infinite bound
    """
    if not isinstance(action_space, spaces.Box):
        raise UnsupportedSpaceError(
            f"DSAC-E/DSAC-T need a continuous (Box) action space, got {action_space}. For Discrete, MultiDiscrete or "
            "MultiBinary actions use an algorithm for discrete actions (e.g. DQN, PPO) or wrap the env with a "
            "continuous action space."
        )
    if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
        raise ValueError(
            f"DSAC-E/DSAC-T need finite action bounds (actions are squashed with tanh), got {action_space}: "
            "give the action space finite bounds (e.g. with gymnasium.wrappers.RescaleAction)."
        )


def _check_policy_fits(policy_class: type[BasePolicy], observation_space: spaces.Space, policy_kwargs: dict[str, Any]) -> None:
    """
    Two mistakes that SB3 (and SAC) report with an unrelated error: ``MultiInputPolicy`` on an observation space that is
    not a ``Dict`` (``'Box' object has no attribute 'spaces'``) and an activation given by name or as an instance
    (``'str' object is not callable``).

    :raises ValueError: saying what to pass instead
    """
    if issubclass(policy_class, MultiInputPolicy) and not isinstance(observation_space, spaces.Dict):
        raise ValueError(
            f"MultiInputPolicy needs a Dict observation space, got {observation_space}: use 'MlpPolicy' (or 'CnnPolicy' "
            "for images)."
        )
    activation_fn = policy_kwargs.get("activation_fn")
    if activation_fn is not None and (isinstance(activation_fn, th.nn.Module) or not callable(activation_fn)):
        raise ValueError(
            "policy_kwargs['activation_fn'] must be a torch.nn.Module class such as torch.nn.ReLU (the class itself, not "
            f"a name or an instance), got {activation_fn!r}."
        )


def _algorithm_of_policy(policy_class: Any) -> str:
    """
    :return: the algorithm a policy class belongs to, as its package names it (``stable_baselines3.sac.policies``
        gives ``stable_baselines3.SAC``, ``sb3_contrib.tqc.policies`` gives ``sb3_contrib.TQC``), or the class itself
    """
    parts = str(getattr(policy_class, "__module__", "")).split(".")
    if len(parts) >= 3 and parts[-1] == "policies":
        return f"{parts[0]}.{parts[-2].upper()}"
    return f"the algorithm of {policy_class}"


def _check_finite_transition(
    new_obs: np.ndarray | dict[str, np.ndarray],
    reward: np.ndarray,
    dones: np.ndarray,
    infos: list[dict[str, Any]],
    step: int,
) -> None:
    """
    Raise a ``ValueError`` naming what is not finite in an environment step, in which env and at which step: the
    observation, the reward, or the final observation of an ended episode (``infos[i]["terminal_observation"]``,
    which SB3 stores as the transition's next observation).
    """
    all_envs = list(range(len(reward)))
    for name, array in {"reward": reward, **_named_observations("observation", new_obs)}.items():
        _raise_if_not_finite(name, array, step, all_envs)
    for env_index, (done, info) in enumerate(zip(dones, infos, strict=True)):
        terminal_observation = info.get("terminal_observation") if done else None
        if terminal_observation is not None:
            for name, array in _named_observations("final observation ('terminal_observation')", terminal_observation).items():
                _raise_if_not_finite(name, np.asarray(array)[None], step, [env_index])


def _named_observations(name: str, observation: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:return: the observation's arrays by name (one per key of a Dict observation)"""
    if isinstance(observation, dict):
        return {f"{name}[{key!r}]": value for key, value in observation.items()}
    return {name: observation}


def _raise_if_not_finite(name: str, array: np.ndarray, step: int, env_indices: list[int]) -> None:
    """
    :param array: one row per env
    :param env_indices: the env index of each row
    """
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        return
    bad_rows = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))
    if len(bad_rows) > 0:
        envs = ", ".join(str(env_indices[row]) for row in bad_rows)
        raise ValueError(
            f"The environment returned a non-finite {name} at step {step} in env {envs}: {array[bad_rows]}. It would "
            "poison the critics: fix the environment (stable_baselines3.common.vec_env.VecCheckNan helps to find where "
            "it comes from)."
        )
