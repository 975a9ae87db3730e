"""
Entropy units, targets and budgets (spec sections 5 and 6).

SB3 computes log-probabilities of actions squashed to [-1, 1]; the papers (and the official DSAC-T code) compute them
in the environment's units. An entropy in environment units equals the SB3-unit entropy plus
``c = sum_i log((high_i - low_i) / 2)`` per step, i.e. ``log pi_env = log pi_sb3 - c``.

Two conventions, chosen with ``entropy_units``:

- ``"env"`` (the paper's): every log-probability in the losses, targets and the temperature update is
  ``log pi_sb3 - c``; the per-step target is ``H0`` and the budget ``rho * H0 / (1 - gamma^n)`` as written.
- ``"sb3"`` (SAC's): log-probabilities of squashed actions; targets converted so that the paper's ``rho`` keeps its
  meaning: per-step target ``H0 - c``, budget ``(rho * H0 - c) / (1 - gamma^n)``.

The two agree exactly when ``c = 0`` (actions in [-1, 1]).

``n`` is the n-step return length: an n-step transition holds no intermediate states, so the entropy critic's fixed
point for a constant per-step entropy ``h`` is ``gamma^n h / (1 - gamma^n)`` and the trajectory entropy estimate
``-log pi + Q_e`` is ``h / (1 - gamma^n)``. The budget lives on the same horizon, so that the per-step entropy the
temperature drives towards is ``rho * H0`` for every ``n``.
"""

import math

import numpy as np
from gymnasium import spaces

ENTROPY_UNITS = ("env", "sb3")


def action_scale_log_volume(action_space: spaces.Box) -> float:
    """
    ``c = sum_i log((high_i - low_i) / 2)``: environment-unit entropy minus SB3-unit entropy, per step.

    :param action_space: a bounded Box action space
    :return: ``c`` in nats (0 for actions in [-1, 1])
    """
    half_range = (action_space.high.astype(np.float64) - action_space.low.astype(np.float64)) / 2.0
    return float(np.sum(np.log(half_range)))


def check_entropy_units(entropy_units: str) -> None:
    """:raises ValueError: unless ``entropy_units`` is ``"env"`` or ``"sb3"``"""
    if entropy_units not in ENTROPY_UNITS:
        raise ValueError(
            f"entropy_units must be 'env' (log-probabilities of actions in the environment's units, the paper's) or "
            f"'sb3' (of actions squashed to [-1, 1], SAC's), got {entropy_units!r}."
        )


def entropy_shift(action_space: spaces.Box, entropy_units: str) -> float:
    """
    What an entropy in ``entropy_units`` adds to the same entropy in SB3's units, per step (and what to subtract from
    an SB3 log-probability to express it in ``entropy_units``).

    :param action_space: the action space
    :param entropy_units: ``"env"`` or ``"sb3"``
    :return: ``c`` for ``"env"``, 0 for ``"sb3"``
    """
    check_entropy_units(entropy_units)
    return action_scale_log_volume(action_space) if entropy_units == "env" else 0.0


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


def step_entropy_target(target_entropy: str | float, action_space: spaces.Box, entropy_units: str, rho: float = 1.0) -> float:
    """
    The per-step entropy ``rho * H0`` (``H0`` in environment units) expressed in ``entropy_units``:
    ``rho * H0`` for ``"env"``, ``rho * H0 - c`` for ``"sb3"``. With ``rho = 1`` it is the per-step target of SAC and
    the official DSAC-T code.

    :param target_entropy: ``"auto"`` or a float in SB3's units
    :param action_space: the action space
    :param entropy_units: ``"env"`` or ``"sb3"``
    :param rho: scale of the reference entropy
    :return: the target in ``entropy_units``
    """
    c = action_scale_log_volume(action_space)
    return rho * reference_entropy(target_entropy, action_space) - c + entropy_shift(action_space, entropy_units)


def entropy_horizon(gamma: float, n_steps: int = 1) -> float:
    """
    ``1 / (1 - gamma^n)``: the trajectory entropy ``-log pi + Q_e`` of a policy with constant per-step entropy ``h``
    is ``h`` times this, when ``Q_e`` learns from ``n``-step transitions.

    :param gamma: discount factor (< 1)
    :param n_steps: length of the n-step returns
    """
    return 1.0 / (1.0 - gamma**n_steps)


def trajectory_entropy_budget(
    target_entropy: str | float, action_space: spaces.Box, rho: float, gamma: float, n_steps: int, entropy_units: str
) -> float:
    """
    The trajectory entropy budget ``rho * H0 / (1 - gamma^n)`` (the paper's, in environment units, for ``n = 1``)
    in ``entropy_units``: at the entropy critic's fixed point it holds the per-step entropy at ``rho * H0``.

    :param target_entropy: ``"auto"`` or a float in SB3's units
    :param action_space: the action space
    :param rho: budget scale (> 0); with ``H0 < 0`` a larger rho means a lower budget
    :param gamma: discount factor (< 1)
    :param n_steps: length of the n-step returns the entropy critic learns from
    :param entropy_units: ``"env"`` or ``"sb3"``
    :return: the budget in ``entropy_units``
    """
    return step_entropy_target(target_entropy, action_space, entropy_units, rho) * entropy_horizon(gamma, n_steps)


def check_finite(name: str, value: float) -> float:
    """
    :raises ValueError: when ``value`` is NaN or infinite
    :return: ``value``
    """
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}.")
    return value
