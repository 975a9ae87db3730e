"""
The paper's MuJoCo ids (v2/v3) on Gymnasium 1.x.

Gymnasium 1.x registers ``Ant-v3`` and friends but cannot build them without the unmaintained ``mujoco-py``. When
such an id cannot be built, :func:`substitute_legacy_mujoco_envs` makes it build its maintained v4 equivalent (v3
ported to the ``mujoco`` bindings: same dynamics, rewards and terminations) with a one-time warning. An id that can
be built (e.g. with gymnasium-robotics and mujoco-py installed) keeps its meaning. ``SB3_TECRL_NO_ENV_SUBSTITUTION=1``
turns the substitution off.
"""

import os
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

OFF_SWITCH = "SB3_TECRL_NO_ENV_SUBSTITUTION"
LEGACY_VERSIONS = (2, 3)
SUBSTITUTE_VERSION = 4
_warned: set[str] = set()


class LegacyMujocoEntryPoint:
    """
    Entry point of a v2/v3 MuJoCo id: build the original, or the v4 substitute when the original needs mujoco-py.

    :param original: the id's original entry point
    :param substitute_id: the v4 id to build instead
    """

    def __init__(self, original: str | Callable[..., gym.Env], substitute_id: str):
        self.original = original
        self.substitute_id = substitute_id

    def __call__(self, **kwargs: Any) -> gym.Env:
        creator = load_env_creator(self.original) if isinstance(self.original, str) else self.original
        try:
            return creator(**kwargs)
        except ImportError as error:
            if os.environ.get(OFF_SWITCH, "").strip() not in ("", "0"):
                raise
            self.check_substitute_installed()
            warn_once(self.substitute_id, error)
            return gym.make(self.substitute_id, **kwargs).unwrapped

    def check_substitute_installed(self) -> None:
        """Raise a one-line ``DependencyNotInstalled`` saying what to install when the v4 substitute cannot be built."""
        try:
            load_env_creator(gym.spec(self.substitute_id).entry_point)
        except (ImportError, gym.error.DependencyNotInstalled) as missing:
            raise gym.error.DependencyNotInstalled(
                f"This v2/v3 MuJoCo id runs on {self.substitute_id} here, which needs MuJoCo ({missing}): "
                "pip install 'sb3-tecrl[mujoco]' (or 'gymnasium[mujoco]')."
            ) from None


def warn_once(substitute_id: str, error: ImportError) -> None:
    if substitute_id in _warned:
        return
    _warned.add(substitute_id)
    warnings.warn(
        f"sb3-tecrl: this v2/v3 MuJoCo environment cannot be built here ({error}); running its maintained equivalent "
        f"{substitute_id} (same dynamics and rewards on the `mujoco` bindings) instead. "
        f"Set {OFF_SWITCH}=1 to turn this substitution off.",
        stacklevel=3,
    )


def substitute_legacy_mujoco_envs() -> list[str]:
    """
    Route every registered v2/v3 MuJoCo id that has a v4 MuJoCo equivalent through :class:`LegacyMujocoEntryPoint`,
    and give it the time limit of the v4 id where Gymnasium registers none. Idempotent.

    :return: the ids concerned
    """
    routed = []
    for env_id, spec in gym.registry.items():
        substitute_id = f"{spec.name}-v{SUBSTITUTE_VERSION}" if spec.namespace is None else None
        if spec.version not in LEGACY_VERSIONS or substitute_id not in gym.registry:
            continue
        if not str(gym.registry[substitute_id].entry_point).startswith("gymnasium.envs.mujoco"):
            continue
        if not isinstance(spec.entry_point, LegacyMujocoEntryPoint):
            spec.entry_point = LegacyMujocoEntryPoint(spec.entry_point, substitute_id)
        if spec.max_episode_steps is None:
            # Gymnasium 1.x registers these ids without their time limit (1000 steps in gym, as for v4)
            spec.max_episode_steps = gym.registry[substitute_id].max_episode_steps
        routed.append(env_id)
    return routed
