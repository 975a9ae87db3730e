"""Random number generator states saved with a model, so that a resumed run continues exactly where it stopped."""

import random
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces


def capture_random_states(action_space: spaces.Space | None) -> dict[str, Any]:
    """
    :param action_space: the model's action space (SB3 samples warm-up actions from its generator)
    :return: the states of Python's, NumPy's (global: SB3's replay buffers sample with it) and torch's CPU generators,
        and of the action space's generator
    """
    states: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": th.get_rng_state()}
    if action_space is not None:
        states["action_space"] = action_space.np_random.bit_generator.state
    return states


def restore_random_states(states: dict[str, Any], action_space: spaces.Space | None) -> None:
    """Set the generators back to the states returned by :func:`capture_random_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    th.set_rng_state(states["torch"])
    if action_space is not None and "action_space" in states:
        action_space.np_random.bit_generator.state = states["action_space"]
