"""
Optuna search spaces of DSACE and DSACT (under every zoo name they are registered with) for the zoo's ``-optimize``,
in the zoo's sampler/converter format.
"""

from collections.abc import Callable
from typing import Any

import optuna
from rl_zoo3.hyperparams_opt import convert_offpolicy_params, sample_her_params
from torch import nn

from sb3_tecrl import DSACE, DSACT


def sample_dsact_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    Search space of DSAC-T: discount, learning rates of the networks and of the temperature, batch size, tau,
    network size ("large" is the default 3x256) and the policy delay.

    :return: the algorithm's keyword arguments
    """
    return convert_params(_sample_common(trial, additional_args))


def sample_dsace_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    DSAC-T's search space plus rho, the scale of the trajectory entropy budget (the paper uses 1 to 20).

    :return: the algorithm's keyword arguments
    """
    hyperparams = _sample_common(trial, additional_args)
    hyperparams["rho"] = trial.suggest_float("rho", 0.5, 30.0, log=True)
    return convert_params(hyperparams)


def _sample_common(trial: optuna.Trial, additional_args: dict) -> dict[str, Any]:
    hyperparams = {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 0.0001, 0.03, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "ent_coef_learning_rate": trial.suggest_float("ent_coef_learning_rate", 1e-5, 3e-3, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 6, 10),
        "tau": trial.suggest_float("tau", 0.001, 0.05, log=True),
        "net_arch": trial.suggest_categorical("net_arch", ["medium", "large", "verybig"]),
        "policy_delay": trial.suggest_int("policy_delay", 1, 3),
    }
    if additional_args["using_her_replay_buffer"]:
        hyperparams = sample_her_params(trial, hyperparams, additional_args["her_kwargs"])
    return hyperparams


def convert_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    The zoo's off-policy conversion (gamma, batch size, net_arch), with DSAC-T's GELU activation.
    It also maps the trial parameters stored in a study back to keyword arguments.
    """
    hyperparams = convert_offpolicy_params(sampled_params)
    hyperparams["policy_kwargs"].setdefault("activation_fn", nn.GELU)
    return hyperparams


def sampler_for(algo_class: type) -> Callable[..., dict[str, Any]]:
    """:return: the search space of ``algo_class`` (DSACT before DSACE: DSACT subclasses DSACE)"""
    samplers = {DSACT: sample_dsact_params, DSACE: sample_dsace_params}
    return next(samplers[cls] for cls in algo_class.__mro__ if cls in samplers)
