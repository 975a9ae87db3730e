"""
Update speed: gradient steps per second of ``train()`` on a pre-filled replay buffer, as ratios to SB3's SAC.

DSACE, DSACT, SB3's SAC and sb3-contrib's TQC run in one process, in alternating rounds, with batch 256, on
synthetic Hopper-shaped (obs 11, act 3) and Humanoid-shaped (obs 376, act 17) spaces, at 1 and 2 torch threads.
Two network settings: each algorithm's own defaults (DSAC-E/T: 3x256 GELU; SAC/TQC: 2x256 ReLU), and the same
2x256 ReLU networks for all ("same nets"). The ratio is the median over rounds of (ours / SAC) per round.

    python -m benchmarks.speed [--rounds 7] [--steps 30] [--out benchmarks/results/speed.md]
"""

import argparse
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import gymnasium as gym
import numpy as np
import sb3_contrib
import stable_baselines3
import torch as th
from gymnasium import spaces
from sb3_contrib import TQC
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import configure

import sb3_tecrl
from sb3_tecrl import DSACE, DSACT

SHAPES = {"Hopper": (11, 3), "Humanoid": (376, 17)}
ALGOS = {"DSACE": DSACE, "DSACT": DSACT, "SAC": SAC, "TQC": TQC}
SAME_NETS = dict(net_arch=[256, 256], activation_fn=th.nn.ReLU)
BATCH_SIZE = 256
FILL = 5_000


class RandomEnv(gym.Env):
    """Random observations of a given size; nothing to simulate."""

    def __init__(self, obs_dim: int, act_dim: int):
        self.observation_space = spaces.Box(-1.0, 1.0, (obs_dim,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (act_dim,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def prefilled(algo: type[BaseAlgorithm], shape: tuple[int, int], same_nets: bool) -> BaseAlgorithm:
    """A model whose replay buffer holds ``FILL`` random transitions, ready for ``train()``."""
    policy_kwargs = dict(SAME_NETS) if same_nets else None
    model = algo("MlpPolicy", RandomEnv(*shape), learning_starts=FILL + 1, batch_size=BATCH_SIZE, seed=0, device="cpu",
                 policy_kwargs=policy_kwargs)  # fmt: skip
    model.learn(FILL)
    model.set_logger(configure(None, []))
    model.train(gradient_steps=3, batch_size=BATCH_SIZE)  # warm-up (allocations, optimizer states)
    return model


def steps_per_second(model: BaseAlgorithm, steps: int) -> float:
    start = time.perf_counter()
    model.train(gradient_steps=steps, batch_size=BATCH_SIZE)
    return steps / (time.perf_counter() - start)


def measure(shape: tuple[int, int], threads: int, same_nets: bool, rounds: int, steps: int) -> dict[str, tuple[float, float]]:
    """:return: per algorithm, (median steps/s, median ratio to SAC over rounds)"""
    th.set_num_threads(threads)
    models = {name: prefilled(algo, shape, same_nets) for name, algo in ALGOS.items()}
    rates: dict[str, list[float]] = {name: [] for name in models}
    for round_index in range(rounds):
        order = list(models) if round_index % 2 == 0 else list(reversed(models))
        for name in order:
            rates[name].append(steps_per_second(models[name], steps))
    sac = np.array(rates["SAC"])
    return {name: (float(np.median(rate)), float(np.median(np.array(rate) / sac))) for name, rate in rates.items()}


def table(rounds: int, steps: int) -> str:
    lines = [
        "| shape | nets | threads | " + " | ".join(f"{name} steps/s (ratio)" for name in ALGOS) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in ALGOS) + " |",
    ]
    for shape_name, shape in SHAPES.items():
        for same_nets in (False, True):
            for threads in (1, 2):
                results = measure(shape, threads, same_nets, rounds, steps)
                cells = " | ".join(f"{rate:.1f} ({ratio:.2f})" for rate, ratio in results.values())
                nets = "same 2x256 ReLU" if same_nets else "own defaults"
                lines.append(f"| {shape_name} | {nets} | {threads} | {cells} |")
                print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30, help="gradient steps per timed round")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed.md")
    args = parser.parse_args()
    header = (
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `python -m benchmarks.speed --rounds "
        f"{args.rounds} --steps {args.steps}`: {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores, torch {th.__version__}, stable-baselines3 {stable_baselines3.__version__}, sb3-contrib "
        f"{sb3_contrib.__version__}, sb3-tecrl {sb3_tecrl.__version__}. Batch {BATCH_SIZE}; ratio = median over "
        "rounds of (algorithm / SAC) in the same round.\n\n"
    )
    result = header + table(args.rounds, args.steps) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(result)
    print(result)


if __name__ == "__main__":
    main()
