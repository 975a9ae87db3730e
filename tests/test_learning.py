"""
Learning checks. In CI's default run: DSAC-E learns Pendulum-v1 in 4,000 steps on three seeds (about a minute and a half
of CPU). Slow, not in CI's default run: DSAC-E solves Pendulum-v1 within 20k steps.

Run the test with ``python -m pytest -m slow tests/test_learning.py``; print the steps each algorithm needed on the
same seeds (DSAC-E, DSAC-T and SB3's SAC with the zoo's Pendulum settings) with ``python tests/test_learning.py``.
"""

import sys

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.zoo.hyperparams import algorithm_kwargs, hyperparams_path

THRESHOLD = -200.0
BUDGET = 20_000
EVAL_FREQ = 1_000
SEEDS = (0, 1, 2)
ENV_ID = "Pendulum-v1"
# rl-baselines3-zoo's SAC settings for Pendulum-v1
SAC_PENDULUM_KWARGS = dict(learning_rate=1e-3)


def shipped(algo: str) -> dict:
    """Our zoo hyperparameters for Pendulum-v1 (short warm-up, SAC-zoo-like learning rates)."""
    return algorithm_kwargs(hyperparams_path(algo), ENV_ID)


class StepsToThreshold(BaseCallback):
    """Evaluate deterministically every ``eval_freq`` steps; stop training once the mean return reaches the threshold."""

    def __init__(self, eval_env: gym.Env, eval_freq: int = EVAL_FREQ, threshold: float = THRESHOLD):
        super().__init__()
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.threshold = threshold
        self.solved_at: int | None = None

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_freq != 0:
            return True
        mean_return, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True)
        if mean_return >= self.threshold:
            self.solved_at = self.num_timesteps
        return self.solved_at is None


def steps_to_solve(algo: type[BaseAlgorithm], seed: int, **kwargs) -> int | None:
    """:return: the environment steps after which the deterministic mean return reached -200, or None within 20k"""
    th.set_num_threads(1)
    model = algo("MlpPolicy", ENV_ID, seed=seed, **kwargs)
    eval_env = Monitor(gym.make(ENV_ID))
    eval_env.reset(seed=1000 + seed)
    callback = StepsToThreshold(eval_env)
    model.learn(BUDGET, callback=callback)
    return callback.solved_at


# The short check: the shipped Pendulum-v1 settings with 2x64 networks (3x256 shipped), 4k steps. Measured with a correct
# update, the deterministic mean returns at 4k steps were -189 and -217 (seeds 1, 2; seed 0: -228 at 3k); a random
# policy, or an update that does not learn, scores about -1200 to -1500
SHORT_BUDGET = 4_000
SHORT_THRESHOLD = -600.0


def mean_return_after(steps: int, seed: int) -> float:
    """:return: the deterministic mean return over 10 episodes of DSACE after ``steps`` steps on Pendulum-v1"""
    kwargs = shipped("dsace")
    kwargs["policy_kwargs"] = {**kwargs["policy_kwargs"], "net_arch": [64, 64]}
    model = DSACE("MlpPolicy", ENV_ID, seed=seed, device="cpu", **kwargs)
    model.learn(steps)
    eval_env = Monitor(gym.make(ENV_ID))
    eval_env.reset(seed=1000 + seed)
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    return float(mean_return)


def test_dsace_learns_pendulum_in_a_few_thousand_steps():
    threads = th.get_num_threads()
    th.set_num_threads(1)
    try:
        returns = [mean_return_after(SHORT_BUDGET, seed) for seed in SEEDS]
    finally:
        th.set_num_threads(threads)
    assert np.mean(returns) >= SHORT_THRESHOLD, f"mean returns {returns} after {SHORT_BUDGET} steps on seeds {SEEDS}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_dsace_solves_pendulum(seed: int) -> None:
    solved_at = steps_to_solve(DSACE, seed, **shipped("dsace"))
    assert solved_at is not None, f"DSACE did not reach {THRESHOLD} on Pendulum-v1 within {BUDGET} steps (seed {seed})"


if __name__ == "__main__":
    candidates = {"DSACE": (DSACE, shipped("dsace")), "DSACT": (DSACT, shipped("dsact")), "SAC": (SAC, SAC_PENDULUM_KWARGS)}
    names = sys.argv[1:] or list(candidates)
    for name in names:
        algo, kwargs = candidates[name]
        steps = [steps_to_solve(algo, seed, **kwargs) for seed in SEEDS]
        print(f"{name}: steps to mean deterministic return >= {THRESHOLD} on seeds {SEEDS}: {steps}", flush=True)
