"""
The initial states of episodes, for a temperature update on the trajectory entropy from the episodes' start
(``constraint_states="initial"`` of :class:`~sb3_tecrl.DSACE`, spec section 10).
"""

from typing import Any

import numpy as np
from gymnasium import spaces

from sb3_tecrl.common.validation import check_integer

DEFAULT_CAPACITY = 10_000


class InitialStateBuffer:
    """
    A ring buffer of the last ``capacity`` initial observations of episodes (unnormalised, as the replay buffer keeps
    them), sampled uniformly with replacement with NumPy's global generator (as SB3's replay buffer is, so that a run
    saved with its random states resumes exactly). It pickles only the rows it holds.

    :param observation_space: the (Box) observation space
    :param capacity: how many initial observations to keep (the newest)
    :raises ValueError: for a space other than Box, or a capacity below 1
    """

    def __init__(self, observation_space: spaces.Space, capacity: int = DEFAULT_CAPACITY):
        if not isinstance(observation_space, spaces.Box):
            raise ValueError(
                f"constraint_states='initial' supports Box observation spaces, got {observation_space}: "
                "use constraint_states='replay'."
            )
        check_integer("capacity", capacity, 1)
        self.capacity = capacity
        self.observations = np.zeros((capacity, *observation_space.shape), dtype=observation_space.dtype)
        self.position = 0
        self.full = False

    def __len__(self) -> int:
        return self.capacity if self.full else self.position

    def add(self, observations: np.ndarray) -> None:
        """
        :param observations: initial observations, one per row (possibly none); beyond the capacity the oldest go
        """
        for observation in observations:
            self.observations[self.position] = observation
            self.position = (self.position + 1) % self.capacity
            self.full = self.full or self.position == 0

    def sample(self, n: int) -> np.ndarray:
        """
        :param n: how many observations to draw (with replacement)
        :return: ``(n, *observation_shape)`` stored observations
        :raises ValueError: when the buffer is empty
        """
        if len(self) == 0:
            raise ValueError("No initial state stored yet: sample after the first transition is stored.")
        return self.observations[np.random.randint(0, len(self), size=n)]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "observations": self.observations[: len(self)].copy()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        stored = state["observations"]
        observations = np.zeros((state["capacity"], *stored.shape[1:]), dtype=stored.dtype)
        observations[: len(stored)] = stored
        self.__dict__.update({**state, "observations": observations})
