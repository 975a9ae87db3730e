"""
Learning-curve runner: algorithms x tasks x seeds, deterministic evaluation every K steps, resumable.

    python -m benchmarks.learning run [--tasks ...] [--algos ...] [--seeds 0 1 2] [--workers 2]
    python -m benchmarks.learning report

``run`` skips finished runs and resumes unfinished ones from their last checkpoint (model and replay buffer, kept in
``benchmarks/runs/``, not committed). Results are plain CSV files in ``benchmarks/results/learning/<task>/<algo>/``:
``seed<N>.csv`` (timesteps, mean and std of 10 deterministic evaluation episodes), and for the algorithms with an
entropy critic ``seed<N>_entropy.csv`` (Q_e against the realised discounted entropy, see ``benchmarks.diagnostics``)
and ``seed<N>_train.csv`` (the logger's train/ keys). ``report`` draws the PNGs and the IQM table.
"""

import argparse
import csv
import math
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch as th
from sb3_contrib import TQC
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.zoo.hyperparams import algorithm_kwargs, hyperparams_path

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "learning"
RUNS = ROOT / "runs"
EVAL_EPISODES = 10


@dataclass(frozen=True)
class Task:
    """A task of the panel: its budget, evaluation period and the warm-up every algorithm uses on it."""

    env_id: str
    budget: int
    eval_freq: int
    learning_starts: int


@dataclass(frozen=True)
class Algo:
    """An algorithm of the panel: its class, the zoo file its hyperparameters come from, and fixed overrides."""

    cls: type[BaseAlgorithm]
    zoo_name: str
    overrides: tuple[tuple[str, Any], ...] = ()


TASKS = {
    "Pendulum-v1": Task("Pendulum-v1", budget=8_000, eval_freq=1_000, learning_starts=100),
    "InvertedDoublePendulum-v4": Task("InvertedDoublePendulum-v4", budget=20_000, eval_freq=2_000, learning_starts=1_000),
    "Hopper-v4": Task("Hopper-v4", budget=30_000, eval_freq=3_000, learning_starts=1_000),
}
ALGOS = {
    "DSAC-E": Algo(DSACE, "dsace"),
    "DSAC-E w/o TEC": Algo(DSACE, "dsace", (("trajectory_entropy_constraint", False),)),
    "DSAC-T": Algo(DSACT, "dsact"),
    "SAC": Algo(SAC, "sac"),
    "TQC": Algo(TQC, "tqc"),
    # the speed option's learning check (README, update speed): not in the default panel
    "DSAC-E bf16": Algo(DSACE, "dsace", (("matmul_precision", "bfloat16"),)),
}
PANEL = ["DSAC-E", "DSAC-E w/o TEC", "DSAC-T", "SAC", "TQC"]


def zoo_hyperparams(zoo_name: str, env_id: str) -> dict[str, Any]:
    """
    The zoo's hyperparameters of an algorithm for a task: ours shipped with the package, SAC's and TQC's from rl_zoo3
    (``{}``, the class defaults, when the file has no entry).
    """
    import rl_zoo3

    if zoo_name in ("dsace", "dsact"):
        return algorithm_kwargs(hyperparams_path(zoo_name), env_id)
    return algorithm_kwargs(Path(rl_zoo3.__file__).parent / "hyperparams" / f"{zoo_name}.yml", env_id)


def run_dir(task: str, algo: str, seed: int) -> Path:
    return RUNS / task / algo.replace(" ", "_").replace("/", "") / f"seed{seed}"


def result_path(task: str, algo: str, seed: int, suffix: str = "") -> Path:
    return RESULTS / task / algo.replace(" ", "_").replace("/", "") / f"seed{seed}{suffix}.csv"


def read_rows(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    with path.open() as file:
        # an empty cell (a logger key not recorded in that row) reads as NaN
        return [{key: float(value or "nan") for key, value in row.items()} for row in csv.DictReader(file)]


def append_row(path: Path, row: dict[str, float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def keep_rows_up_to(path: Path, timesteps: int) -> None:
    """Drop the rows of a result file (first column: timesteps) written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    header, *lines = path.read_text().splitlines(keepends=True)
    path.write_text(header + "".join(line for line in lines if float(line.split(",")[0]) <= timesteps))


class EvaluateAndCheckpoint(BaseCallback):
    """Every ``eval_freq`` steps: deterministic evaluation, entropy diagnostics, then a checkpoint to resume from."""

    def __init__(self, task: Task, algo: str, seed: int):
        super().__init__()
        self.task, self.algo, self.seed = task, algo, seed
        self.eval_env = Monitor(gym.make(task.env_id))
        self.eval_env.reset(seed=10_000 + seed)

    def _on_step(self) -> bool:
        if self.num_timesteps % self.task.eval_freq == 0:
            self.evaluate()
        return True

    def evaluate(self) -> None:
        from benchmarks.diagnostics import entropy_tracking

        mean, std = evaluate_policy(self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        task_name = self.task.env_id
        append_row(result_path(task_name, self.algo, self.seed), dict(timesteps=self.num_timesteps, mean=mean, std=std))
        if isinstance(self.model, DSACE) and self.model.separate_entropy_critic:
            row = entropy_tracking(self.model, self.eval_env)
            append_row(result_path(task_name, self.algo, self.seed, "_entropy"), dict(timesteps=self.num_timesteps, **row))
        folder = run_dir(task_name, self.algo, self.seed)
        self.model.save(folder / "model")
        self.model.save_replay_buffer(folder / "replay_buffer")


def make_model(task: Task, algo_name: str, seed: int) -> BaseAlgorithm:
    algo = ALGOS[algo_name]
    params = {**zoo_hyperparams(algo.zoo_name, task.env_id), **dict(algo.overrides), "learning_starts": task.learning_starts}
    return algo.cls("MlpPolicy", task.env_id, seed=seed, device="cpu", **params)


def resume_or_create(task: Task, algo_name: str, seed: int) -> BaseAlgorithm:
    folder = run_dir(task.env_id, algo_name, seed)
    done = read_rows(result_path(task.env_id, algo_name, seed))
    if done and (folder / "model.zip").exists():
        model = ALGOS[algo_name].cls.load(folder / "model", env=Monitor(gym.make(task.env_id)), device="cpu")
        model.load_replay_buffer(folder / "replay_buffer")
        for suffix in ("", "_entropy"):
            keep_rows_up_to(result_path(task.env_id, algo_name, seed, suffix), model.num_timesteps)
        return model
    for suffix in ("", "_entropy", "_train"):  # a run without a checkpoint starts over
        result_path(task.env_id, algo_name, seed, suffix).unlink(missing_ok=True)
    return make_model(task, algo_name, seed)


def run_one(job: tuple[str, str, int]) -> str:
    """Train one (task, algorithm, seed) to its budget, resuming if a checkpoint exists."""
    task_name, algo_name, seed = job
    th.set_num_threads(1)
    task = TASKS[task_name]
    rows = read_rows(result_path(task_name, algo_name, seed))
    if rows and rows[-1]["timesteps"] >= task.budget:
        return f"{job}: already done"
    model = resume_or_create(task, algo_name, seed)
    # one log folder per (re)start, so that resuming does not overwrite the earlier part of the log
    log_folder = run_dir(task_name, algo_name, seed) / f"log_{model.num_timesteps:09d}"
    model.set_logger(configure(str(log_folder), ["csv"]))
    callback = EvaluateAndCheckpoint(task, algo_name, seed)
    model.learn(task.budget - model.num_timesteps, callback=callback, reset_num_timesteps=False)
    copy_train_log(task_name, algo_name, seed)
    return f"{job}: done at {model.num_timesteps} steps"


def copy_train_log(task: str, algo: str, seed: int) -> None:
    """Keep the logger's train/ columns next to the results (small, committed) for the diagnostics plots."""
    sources = sorted(run_dir(task, algo, seed).glob("log_*/progress.csv"))
    # a log folder's name is the step its (re)start resumed from: later rows of the previous folder were redone
    ends = [float(source.parent.name.removeprefix("log_")) for source in sources[1:]] + [math.inf]
    rows = []
    for source, end in zip(sources, ends, strict=True):
        with source.open() as file:
            rows += [row for row in csv.DictReader(file) if float(row["time/total_timesteps"]) <= end]
    if not rows:
        return
    keys = ["time/total_timesteps", *sorted(key for key in rows[0] if key.startswith("train/"))]
    target = result_path(task, algo, seed, "_train")
    with target.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the panel (resumes)")
    run.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    run.add_argument("--algos", nargs="+", default=PANEL, choices=list(ALGOS))
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    sub.add_parser("report", help="draw the learning curves and the IQM table from the result files")
    args = parser.parse_args()
    if args.command == "report":
        from benchmarks.report import write_report

        write_report()
        return
    jobs = [(task, algo, seed) for task in args.tasks for seed in args.seeds for algo in args.algos]
    with multiprocessing.get_context("spawn").Pool(args.workers, maxtasksperchild=1) as pool:
        for message in pool.imap_unordered(run_one, jobs):
            print(message, flush=True)


if __name__ == "__main__":
    main()
