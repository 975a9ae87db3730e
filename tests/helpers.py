"""Test helpers shared by several test files."""

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor


def parameters_of(module: th.nn.Module) -> list[th.Tensor]:
    """:return: detached copies of the module's parameters, to compare after training"""
    return [parameter.detach().clone() for parameter in module.parameters()]


class TinyExtractor(BaseFeaturesExtractor):
    """A features extractor with parameters (one ReLU layer), where SB3's ``FlattenExtractor`` has none."""

    def __init__(self, observation_space: spaces.Box, features_dim: int = 5):
        super().__init__(observation_space, features_dim)
        self.linear = th.nn.Linear(observation_space.shape[0], features_dim)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return th.relu(self.linear(observations))


class ConstantStateEnv(gym.Env):
    """
    The same observation forever: the future depends on the policy only (the entropy critic's toy problem), and the
    env's state after N steps is known (exact resume).

    :param action_dim: size of the Box action space in [-1, 1]
    :param max_steps: truncate episodes after this many steps (never if None)
    """

    observation_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

    def __init__(self, action_dim: int = 1, max_steps: int | None = None):
        self.action_space = spaces.Box(-1.0, 1.0, (action_dim,), dtype=np.float32)
        self.max_steps = max_steps
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._steps = 0
        return np.full(2, 0.5, dtype=np.float32), {}

    def step(self, action):
        self._steps += 1
        reward = -float(np.sum(np.square(action - 0.3)))
        truncated = self.max_steps is not None and self._steps >= self.max_steps
        return np.full(2, 0.5, dtype=np.float32), reward, False, truncated, {}


class TerminatingEnv(gym.Env):
    """
    Episodes that terminate (a true termination, not a time limit) every ``episode_length`` steps; subclasses give the
    observation and the reward.

    :param episode_length: steps until termination
    """

    observation_space = spaces.Box(-1.0, 1.0, (3,), dtype=np.float32)

    def __init__(self, episode_length: int):
        self.episode_length = episode_length
        self._steps = 0

    def _observation(self) -> np.ndarray:
        raise NotImplementedError

    def _reward(self, action: np.ndarray) -> float:
        raise NotImplementedError

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._steps = 0
        return self._observation(), {}

    def step(self, action):
        self._steps += 1
        return self._observation(), self._reward(action), self._steps >= self.episode_length, False, {}


class ScaledTerminatingEnv(TerminatingEnv):
    """
    Random observations, actions in ``[low, high]^dim`` (so ``c = dim * log((high - low) / 2) != 0``), and episodes that
    terminate (a true termination, not a time limit) every ``episode_length`` steps.

    :param low: lower action bound
    :param high: upper action bound
    :param dim: action size
    :param episode_length: steps until termination
    """

    def __init__(self, low: float = -0.4, high: float = 0.4, dim: int = 2, episode_length: int = 5):
        super().__init__(episode_length)
        self.action_space = spaces.Box(low, high, (dim,), dtype=np.float32)

    def _observation(self) -> np.ndarray:
        return self.np_random.uniform(-1.0, 1.0, 3).astype(np.float32)

    def _reward(self, action: np.ndarray) -> float:
        return 1.0 - float(np.sum(np.square(action)))


class ClockEnv(TerminatingEnv):
    """
    Observations that are a function of the step in the episode, and a true termination every ``episode_length``
    steps: the env's whole state is that step, so a run saved at an episode boundary resumes on a fresh env exactly.

    :param episode_length: steps until termination
    """

    action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)

    def __init__(self, episode_length: int = 10):
        super().__init__(episode_length)

    def _observation(self) -> np.ndarray:
        return np.array([np.sin(self._steps), np.cos(self._steps), self._steps / self.episode_length], dtype=np.float32)

    def _reward(self, action: np.ndarray) -> float:
        return float(np.cos(self._steps) - np.sum(np.square(action - 0.3)))
