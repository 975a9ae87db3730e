"""
``learn()`` throughput on Hopper-v4 with and without the RL Zoo's ``ParallelTrainCallback`` (a copy of the model
trains in a second thread, 100 gradient steps per round, while the model collects experience).

Each algorithm runs with its zoo hyperparameters for Hopper-v4 (ours shipped with the package, SAC's from rl_zoo3),
a 1000-step random warm-up (untimed), then ``learn()`` for a fixed wall time, once plainly (one gradient step per
environment step) and once with the callback, alternating. Reported: environment steps and gradient steps per second
of the timed ``learn()`` (which includes waiting for the callback's last round). One torch thread per Python thread.

    OMP_NUM_THREADS=1 python -m benchmarks.parallel_train [--seconds 60] [--out benchmarks/results/parallel_train.md]
"""

import argparse
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import rl_zoo3
import stable_baselines3
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure

import sb3_tecrl
from benchmarks.learning import zoo_hyperparams
from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.zoo.callbacks import ParallelTrainCallback

ENV_ID = "Hopper-v4"
WARMUP = 1_000
ALGOS = {"DSACE": (DSACE, "dsace"), "DSACT": (DSACT, "dsact"), "SAC": (SAC, "sac")}


class StopAfter(BaseCallback):
    """Stop ``learn()`` once ``seconds`` of wall time have passed."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def _on_training_start(self) -> None:
        self.deadline = time.perf_counter() + self.seconds

    def _on_step(self) -> bool:
        return time.perf_counter() < self.deadline


def warmed_up(algo: type[BaseAlgorithm], zoo_name: str) -> BaseAlgorithm:
    """A model with the zoo's Hopper-v4 hyperparameters whose buffer holds ``WARMUP`` random transitions."""
    kwargs = {**zoo_hyperparams(zoo_name, ENV_ID), "learning_starts": WARMUP, "seed": 0, "device": "cpu"}
    kwargs.pop("policy", None)
    model = algo("MlpPolicy", ENV_ID, **kwargs)
    model.set_logger(configure(None, []))
    model.learn(WARMUP)
    return model


def throughput(model: BaseAlgorithm, seconds: float, parallel: bool) -> tuple[float, float]:
    """:return: environment steps and gradient steps per second of a timed ``learn()``"""
    parallel_callback = ParallelTrainCallback() if parallel else None
    callbacks = [StopAfter(seconds), *([parallel_callback] if parallel_callback else [])]
    start_steps, start_updates, start = model.num_timesteps, model._n_updates, time.perf_counter()
    model.learn(10**9, callback=callbacks, reset_num_timesteps=False)
    elapsed = time.perf_counter() - start
    trainer = parallel_callback._model if parallel_callback else model
    return (model.num_timesteps - start_steps) / elapsed, (trainer._n_updates - start_updates) / elapsed


def table(seconds: float) -> str:
    lines = [
        "| algorithm | env steps/s | gradient steps/s | env steps/s, parallel | gradient steps/s, parallel |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, (algo, zoo_name) in ALGOS.items():
        plain_env, plain_grad = throughput(warmed_up(algo, zoo_name), seconds, parallel=False)
        parallel_env, parallel_grad = throughput(warmed_up(algo, zoo_name), seconds, parallel=True)
        lines.append(f"| {name} | {plain_env:.1f} | {plain_grad:.1f} | {parallel_env:.1f} | {parallel_grad:.1f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="wall time of each timed learn()")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "parallel_train.md")
    args = parser.parse_args()
    th.set_num_threads(1)
    load = os.getloadavg()[0]
    rows = table(args.seconds)
    header = (
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `OMP_NUM_THREADS=1 python -m "
        f"benchmarks.parallel_train --seconds {args.seconds:g}`: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (load average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end), torch "
        f"{th.__version__}, stable-baselines3 {stable_baselines3.__version__}, rl-zoo3 {rl_zoo3.__version__}, "
        f"sb3-tecrl {sb3_tecrl.__version__}. {ENV_ID}, zoo hyperparameters, {WARMUP} warm-up steps.\n\n"
    )
    result = header + rows + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(result)
    print(result)


if __name__ == "__main__":
    main()
