"""
Entropy units and targets (spec sections 5 and 6).

SB3 computes log-probabilities of actions squashed to [-1, 1]; the papers compute them in the environment's units.
An entropy in environment units equals the SB3-unit entropy plus ``c = sum_i log((high_i - low_i) / 2)`` per step.
The paper's per-step reference ``H0 = -dim(A)`` and its budget ``rho * H0 / (1 - gamma)`` are in environment units;
everything this module returns is in SB3's units, ready to compare with ``-log_prob`` from an SB3 actor.
"""

import math

import numpy as np
from gymnasium import spaces


def action_scale_log_volume(action_space: spaces.Box) -> float:
    """
    ``c = sum_i log((high_i - low_i) / 2)``: environment-unit entropy minus SB3-unit entropy, per step.

    :param action_space: a bounded Box action space
    :return: ``c`` in nats (0 for actions in [-1, 1])
    """
    half_range = (action_space.high.astype(np.float64) - action_space.low.astype(np.float64)) / 2.0
    return float(np.sum(np.log(half_range)))


def reference_entropy(target_entropy: str | float, action_space: spaces.Box) -> float:
    """
    The paper's per-step reference entropy ``H0`` in environment units.

    :param target_entropy: ``"auto"`` for ``H0 = -dim(A)``, or a float in SB3's units (as for SAC)
    :param action_space: the action space
    :return: ``H0`` in environment units
    """
    if target_entropy == "auto":
        return -float(np.prod(action_space.shape))
    return float(target_entropy) + action_scale_log_volume(action_space)


def step_entropy_target(target_entropy: str | float, action_space: spaces.Box) -> float:
    """
    Per-step entropy target in SB3's units, ``H0 - c``: what SAC and the official DSAC-T code target.

    :param target_entropy: ``"auto"`` or a float in SB3's units
    :param action_space: the action space
    :return: the target in SB3's units
    """
    return reference_entropy(target_entropy, action_space) - action_scale_log_volume(action_space)


def trajectory_entropy_budget(target_entropy: str | float, action_space: spaces.Box, rho: float, gamma: float) -> float:
    """
    Trajectory entropy budget in SB3's units: ``(rho * H0 - c) / (1 - gamma)``.

    It is the paper's ``rho * H0 / (1 - gamma)`` in environment units, converted with ``c`` per step so that the
    paper's rho values mean the same thing here.

    :param target_entropy: ``"auto"`` or a float in SB3's units
    :param action_space: the action space
    :param rho: budget scale (> 0); with ``H0 < 0`` a larger rho means a lower budget
    :param gamma: discount factor (< 1)
    :return: the budget in SB3's units
    """
    h0 = reference_entropy(target_entropy, action_space)
    return (rho * h0 - action_scale_log_volume(action_space)) / (1.0 - gamma)


def check_finite(name: str, value: float) -> float:
    """
    :raises ValueError: when ``value`` is NaN or infinite
    :return: ``value``
    """
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.")
    return value
