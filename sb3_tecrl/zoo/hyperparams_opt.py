"""
Optuna search spaces of DSACE and DSACT (under every zoo name they are registered with) for the zoo's ``-optimize``,
in the zoo's sampler/converter format.

The zoo's helpers are imported where they are used: importing ``rl_zoo3`` registers this module's samplers (the
import hook), so a module-level import would be circular when this module is imported first.
"""

import functools
from collections.abc import Callable
from typing import Any

import optuna
from torch import nn

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.regimes import n_envs_of

# Environment steps per gradient step searched by -optimize: SB3's 1 to the papers' 20
SAMPLING_RATIOS = [1, 2, 4, 10, 20]


def sample_dsact_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Search space of DSAC-T: discount (up to 0.999), learning rates of the networks and of the temperature, batch
    size, tau, network size ("large" is the default 3x256), the policy delay and the sampling ratio (environment
    steps per gradient step, from SB3's 1 to the papers' 20).

    :return: the algorithm's keyword arguments
    """
    return convert_params(_sample_common(trial, n_envs, additional_args), n_envs)


def sample_dsace_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    DSAC-T's search space plus rho, the scale of the trajectory entropy budget (the paper uses 1 to 20).

    :return: the algorithm's keyword arguments
    """
    hyperparams = _sample_common(trial, n_envs, additional_args)
    hyperparams["rho"] = trial.suggest_float("rho", 0.5, 30.0, log=True)
    return convert_params(hyperparams, n_envs)


def _sample_common(trial: optuna.Trial, n_envs: int, additional_args: dict) -> dict[str, Any]:
    hyperparams = {
        # gamma <= 0.999 (DSAC-T's Hopper value): the budget and the entropy critic's values scale with 1 / (1 - gamma)
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 0.001, 0.03, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "ent_coef_learning_rate": trial.suggest_float("ent_coef_learning_rate", 1e-5, 3e-3, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 6, 10),
        "tau": trial.suggest_float("tau", 0.001, 0.05, log=True),
        "net_arch": trial.suggest_categorical("net_arch", ["medium", "large", "verybig"]),
        "policy_delay": trial.suggest_int("policy_delay", 1, 3),
        "env_steps_per_gradient_step": trial.suggest_categorical("env_steps_per_gradient_step", SAMPLING_RATIOS),
    }
    if additional_args["using_her_replay_buffer"]:
        from rl_zoo3.hyperparams_opt import sample_her_params

        hyperparams = sample_her_params(trial, hyperparams, additional_args["her_kwargs"])
    return hyperparams


def convert_params(sampled_params: dict[str, Any], n_envs: int = 1) -> dict[str, Any]:
    """
    The zoo's off-policy conversion (gamma, batch size, net_arch), with DSAC-T's GELU activation, and the sampling
    ratio turned into ``train_freq`` (vector steps per update) and ``gradient_steps`` for ``n_envs`` environments.
    It also maps the trial parameters stored in a study back to keyword arguments.
    """
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    params = dict(sampled_params)
    ratio = params.pop("env_steps_per_gradient_step", None)
    hyperparams = convert_offpolicy_params(params)
    hyperparams["policy_kwargs"].setdefault("activation_fn", nn.GELU)
    if ratio is not None:
        hyperparams["train_freq"], hyperparams["gradient_steps"] = sampling_schedule(ratio, n_envs)
    return hyperparams


def sampling_schedule(env_steps_per_gradient_step: int, n_envs: int) -> tuple[int, int]:
    """
    :return: ``(train_freq, gradient_steps)`` that make ``env_steps_per_gradient_step`` environment steps per gradient
        step with ``n_envs`` environments (one vector step is ``n_envs`` environment steps), as near as integers allow
    """
    if env_steps_per_gradient_step >= n_envs:
        return max(round(env_steps_per_gradient_step / n_envs), 1), 1
    return 1, max(round(n_envs / env_steps_per_gradient_step), 1)


def sampler_for(algo_class: type) -> Callable[..., dict[str, Any]]:
    """:return: the search space of ``algo_class`` (DSACT before DSACE: DSACT subclasses DSACE)"""
    samplers = {DSACT: sample_dsact_params, DSACE: sample_dsace_params}
    return next(samplers[cls] for cls in algo_class.__mro__ if cls in samplers)


def converter_for(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """:return: the converter of a zoo name's stored trials, with the ``n_envs`` of its hyperparameter file"""
    return functools.partial(convert_params, n_envs=n_envs_of(name))
