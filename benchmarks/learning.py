"""
Learning-curve runner: panels of algorithms x tasks x seeds, deterministic evaluations, resumable.

    python -m benchmarks.learning run --panel P [--tasks ...] [--algos ...] [--seeds 0 1 2] [--workers 2] [--storage URL]
    python -m benchmarks.learning status --panel P [--workers 2]
    python -m benchmarks.learning report [--panel P]

The panels (what runs, in which sampling regime, and where the files go) are defined in ``benchmarks.panel``.
``run`` skips finished runs and resumes unfinished ones from their last complete checkpoint set (model and replay
buffer, written atomically by ``sb3_tecrl.checkpoint``, kept in ``benchmarks/runs/``, not committed; a killed run loses
only the steps since its last evaluation): commit a finished run's result files at once, since a later start may be on a
machine without the checkpoints. ``run`` puts the selected runs on the panel's queue (``benchmarks.work_queue``: Optuna's
storage, a SQLite file here by default, any RDB server's URL to share the panel between machines) and starts
``--workers`` workers on it; the same command on another machine adds workers to the same queue. Each worker is one
process with one torch thread (two processes with two threads on
two cores thrash). Every run measures its CPU time (seconds of one core, evaluations excluded) and wall time.
``status`` lists the runs still to do with an estimate of their CPU time (from the finished runs' measured cost);
``report`` draws the curves and tables (``benchmarks.report``). ``run`` refuses to start when ``sb3_tecrl`` comes from
another checkout than this one (an editable install elsewhere): from a ``git worktree``, run it in the worktree's folder
with ``SB3_TECRL_NO_ZOO_HOOK=1``.
"""

import argparse
import csv
import json
import math
import multiprocessing
import os
import platform
import subprocess
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor

from benchmarks.diagnostics import entropy_tracking
from benchmarks.machine import cpu_description
from benchmarks.panel import (
    EVAL_EPISODES,
    PANELS,
    ROOT,
    Task,
    append_row,
    read_rows,
    result_path,
    run_dir,
    stored_as,
    zoo_log_dir,
)
from benchmarks.work_queue import DEFAULT_GRACE, DEFAULT_HEARTBEAT, Job, default_storage, enqueue, open_queue, work
from sb3_tecrl import DSACE
from sb3_tecrl.checkpoint import latest_checkpoint, read_sets, save_checkpoint
from sb3_tecrl.zoo.hyperparams import algorithm_kwargs, hyperparams_path

VERSIONED_PACKAGES = ("sb3-tecrl", "torch", "stable-baselines3", "sb3-contrib", "gymnasium", "mujoco", "numpy")


def zoo_hyperparams(zoo_name: str, env_id: str) -> dict[str, Any]:
    """
    The zoo's hyperparameters of an algorithm for a task: ours shipped with the package, SAC's and TQC's from rl_zoo3
    (``{}``, the class defaults, when the file has no entry).
    """
    import rl_zoo3

    if zoo_name.startswith(("dsace", "dsact")):
        return algorithm_kwargs(hyperparams_path(zoo_name), env_id)
    return algorithm_kwargs(Path(rl_zoo3.__file__).parent / "hyperparams" / f"{zoo_name}.yml", env_id)


def keep_rows_up_to(path: Path, timesteps: int) -> None:
    """Drop the rows of a result file (first column: timesteps) written after the checkpoint a run resumes from."""
    if not path.exists():
        return
    header, *lines = path.read_text().splitlines(keepends=True)
    path.write_text(header + "".join(line for line in lines if float(line.split(",")[0]) <= timesteps))


def append_zoo_evaluation(folder: Path, timesteps: int, returns: list[float], lengths: list[int]) -> None:
    """Append one evaluation to ``evaluations.npz`` in the RL Zoo's layout (the keys of SB3's ``EvalCallback``)."""
    path = folder / "evaluations.npz"
    new = dict(timesteps=np.array([timesteps]), results=np.array([returns]), ep_lengths=np.array([lengths]))
    if path.exists():
        new = {key: np.concatenate([old, new[key]]) for key, old in np.load(path).items()}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(path, **new)


def keep_zoo_evaluations_up_to(folder: Path, timesteps: int) -> None:
    """Drop the evaluations written after the checkpoint a run resumes from, as :func:`keep_rows_up_to` does."""
    path = folder / "evaluations.npz"
    if path.exists():
        old = dict(np.load(path))
        keep = old["timesteps"] <= timesteps
        np.savez(path, **{key: value[keep] for key, value in old.items()})


class RunClock:
    """CPU seconds (of the process, i.e. one core with one thread) and wall seconds of a run, across resumes."""

    def __init__(self, cpu_before: float = 0.0, wall_before: float = 0.0):
        self.cpu_before, self.wall_before = cpu_before, wall_before
        self.cpu_start, self.wall_start = time.process_time(), time.perf_counter()
        self.excluded_cpu = 0.0

    def cpu_seconds(self) -> float:
        return self.cpu_before + time.process_time() - self.cpu_start - self.excluded_cpu

    def wall_seconds(self) -> float:
        return self.wall_before + time.perf_counter() - self.wall_start

    def exclude(self, started_cpu: float) -> None:
        """Leave the CPU time since ``started_cpu`` (an evaluation, a checkpoint) out of the run's CPU time."""
        self.excluded_cpu += time.process_time() - started_cpu


class EvaluateAndCheckpoint(BaseCallback):
    """
    Every ``task.eval_freq`` environment or gradient steps (and before the first step of a new run): a deterministic
    evaluation on a separate env, DSAC-E's entropy diagnostics, then a checkpoint set to resume from (model and replay
    buffer, see :func:`sb3_tecrl.checkpoint.save_checkpoint`; only the newest complete set is kept), saved at the next
    rollout boundary, where the step's transition is stored and its gradient steps made.
    """

    def __init__(self, panel: str, task: Task, algo: str, seed: int, clock: RunClock):
        super().__init__()
        self.panel, self.task, self.algo, self.seed, self.clock = panel, task, algo, seed, clock
        self.eval_env = Monitor(gym.make(task.env_id))
        self.eval_env.reset(seed=10_000 + seed)
        self.last_evaluated = -1
        self.checkpoint_due = False

    def progress(self) -> int:
        """:return: the run's progress in the unit of its evaluation period"""
        return self.model._n_updates if self.task.eval_unit == "gradient_steps" else self.num_timesteps

    def _on_training_start(self) -> None:
        self.next_eval = (self.progress() // self.task.eval_freq + 1) * self.task.eval_freq
        if not read_rows(self.path()):  # a new run (one resumed from its checkpoint at step 0 has that evaluation)
            self.evaluate()

    def _on_step(self) -> bool:
        if self.progress() >= self.next_eval:
            self.next_eval += self.task.eval_freq
            self.evaluate()
        return True

    def _on_rollout_start(self) -> None:
        if self.checkpoint_due:
            self.checkpoint()

    def _on_training_end(self) -> None:
        if self.last_evaluated < self.num_timesteps:
            self.evaluate()  # the budget's end, when it falls between two periods
        if self.checkpoint_due:
            self.checkpoint()

    def checkpoint(self) -> None:
        started_cpu = time.process_time()
        save_checkpoint(
            self.model, run_dir(self.task.env_id, self.algo, self.seed, self.panel), save_replay_buffer=True, keep_last=1
        )
        self.checkpoint_due = False
        self.clock.exclude(started_cpu)

    def path(self, suffix: str = "") -> Path:
        return result_path(self.task.env_id, self.algo, self.seed, suffix, self.panel)

    def evaluate(self) -> None:
        started_cpu = time.process_time()
        cost = dict(cpu_seconds=self.clock.cpu_seconds(), wall_seconds=self.clock.wall_seconds())  # up to this evaluation
        returns, lengths = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True, return_episode_rewards=True
        )
        row = dict(
            timesteps=self.num_timesteps,
            gradient_steps=self.model._n_updates,
            mean=float(np.mean(returns)),
            std=float(np.std(returns)),
            **cost,
        )
        append_row(self.path(), row)
        self.last_evaluated = self.num_timesteps
        append_zoo_evaluation(
            zoo_log_dir(self.task.env_id, self.algo, self.seed, self.panel), self.num_timesteps, returns, lengths
        )
        if isinstance(self.model, DSACE) and self.model.separate_entropy_critic:
            append_row(
                self.path("_entropy"), dict(timesteps=self.num_timesteps, **entropy_tracking(self.model, self.eval_env))
            )
        self.checkpoint_due = True
        self.clock.exclude(started_cpu)


def make_env(task: Task, seed: int) -> Any:
    return make_vec_env(task.env_id, n_envs=task.n_envs, seed=seed)


def make_model(panel: str, task: Task, algo_name: str, seed: int) -> BaseAlgorithm:
    algo = PANELS[panel].algos[algo_name]
    params = {**zoo_hyperparams(algo.zoo_name, task.env_id), **dict(algo.overrides)}
    if task.learning_starts is not None:
        params["learning_starts"] = task.learning_starts
    return algo.cls("MlpPolicy", make_env(task, seed), seed=seed, device="cpu", **params)


def resume_or_create(panel: str, task: Task, algo_name: str, seed: int) -> tuple[BaseAlgorithm, RunClock]:
    folder = run_dir(task.env_id, algo_name, seed, panel)
    paths = {suffix: result_path(task.env_id, algo_name, seed, suffix, panel) for suffix in ("", "_entropy", "_train")}
    done = read_rows(paths[""])
    zoo_folder = zoo_log_dir(task.env_id, algo_name, seed, panel)
    checkpoint = latest_checkpoint(folder) if done else None
    if checkpoint is not None:
        model = checkpoint.load(PANELS[panel].algos[algo_name].cls, env=make_env(task, seed), device="cpu")
        for suffix in ("", "_entropy"):
            keep_rows_up_to(paths[suffix], model.num_timesteps)
        keep_zoo_evaluations_up_to(zoo_folder, model.num_timesteps)
        last = read_rows(paths[""])[-1]
        return model, RunClock(last.get("cpu_seconds", 0.0), last.get("wall_seconds", 0.0))
    for path in (*paths.values(), zoo_folder / "evaluations.npz"):  # a run without a checkpoint starts over
        path.unlink(missing_ok=True)
    return make_model(panel, task, algo_name, seed), RunClock()


def run_one(job: Job) -> float:
    """
    Train one (panel, task, algorithm, seed) to its budget, resuming if a checkpoint exists.

    :return: the run's CPU seconds up to its last evaluation (evaluations excluded)
    """
    panel, task_name, algo_name, seed = job
    th.set_num_threads(1)
    task = PANELS[panel].tasks[task_name]
    panel, algo_name = stored_as(panel, algo_name)  # a cell that stands for another panel's runs trains those
    path = result_path(task_name, algo_name, seed, "", panel)
    rows = read_rows(path)
    if rows and rows[-1]["timesteps"] >= task.budget:
        print(f"{job}: already done", flush=True)
        return rows[-1]["cpu_seconds"]
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    model, clock = resume_or_create(panel, task, algo_name, seed)
    starts = record_start(panel, task_name, algo_name, seed, model, started)
    # one log folder per (re)start, so that resuming does not overwrite the earlier part of the log
    log_folder = run_dir(task_name, algo_name, seed, panel) / f"log_{model.num_timesteps:09d}"
    model.set_logger(configure(str(log_folder), ["csv"]))
    callback = EvaluateAndCheckpoint(panel, task, algo_name, seed, clock)
    model.learn(task.budget - model.num_timesteps, callback=callback, reset_num_timesteps=False)
    copy_train_log(panel, task_name, algo_name, seed)
    write_run_info(panel, task_name, algo_name, seed, clock, starts)
    print(f"{job}: done at {model.num_timesteps} steps, {clock.cpu_seconds() / 60:.1f} CPU-minutes", flush=True)
    return read_rows(path)[-1]["cpu_seconds"]


def matmul_precision_in_use(model: BaseAlgorithm) -> str:
    """
    :return: the precision of the model's hidden matrix products on this machine: ``"bfloat16"`` or ``"float32"``
        (DSAC-E's bfloat16 default falls back to float32 on a CPU without native bfloat16; SB3's algorithms are float32)
    """
    if isinstance(model, DSACE) and model.actor.hidden_matmul_dtype == th.bfloat16:
        return "bfloat16"
    return "float32"


def starts_path(panel: str, task: str, algo: str, seed: int) -> Path:
    """``seed<N>_starts.jsonl``: one line per (re)start of a run (step, time, CPU, precision in use)."""
    return result_path(task, algo, seed, "_starts", panel).with_suffix(".jsonl")


def record_start(panel: str, task: str, algo: str, seed: int, model: BaseAlgorithm, started: str) -> list[dict[str, Any]]:
    """
    Append this (re)start of a run to :func:`starts_path`, after dropping the starts at later steps (their steps are
    redone from an earlier checkpoint), so that a run resumed on another machine shows each part's CPU and precision.

    :return: the run's starts so far, this one last
    """
    path = starts_path(panel, task, algo, seed)
    starts = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    starts = [start for start in starts if start["timesteps"] < model.num_timesteps]
    starts.append(
        dict(timesteps=model.num_timesteps, started=started, cpu=cpu_description(), precision=matmul_precision_in_use(model))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(start) + "\n" for start in starts))
    return starts


def write_run_info(panel: str, task: str, algo: str, seed: int, clock: RunClock, starts: list[dict[str, Any]]) -> None:
    """``seed<N>_run.json``: what produced the run (versions, commit, machine, CPU and precision) and what it cost."""
    precisions = list(dict.fromkeys(start["precision"] for start in starts))  # in order of use, once each
    info = dict(
        panel=panel,
        task=task,
        algo=algo,
        seed=seed,
        cpu_seconds=clock.cpu_seconds(),
        wall_seconds=clock.wall_seconds(),
        last_start=starts[-1]["started"],
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        commit=git_commit(),
        versions={package: metadata.version(package) for package in VERSIONED_PACKAGES},
        python=platform.python_version(),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {th.get_num_threads()} torch thread(s)",
        cpu=cpu_description(),  # the CPU costs of runs on different machines compare only with it
        # "bfloat16, then float32" when a resume on a CPU without native bfloat16 changed it mid-run
        precision=", then ".join(precisions),
        starts=starts,
    )
    result_path(task, algo, seed, "_run", panel).with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")


def check_the_package_is_this_checkouts() -> None:
    """
    Refuse to run a panel when ``sb3_tecrl`` is imported from another checkout than this one: a run would record this
    checkout's commit but train with the other's code. An editable install of another checkout does that: its RL
    Zoo hook (``sb3_tecrl_zoo.pth``) imports the package at interpreter start, before the current folder is searched
    (a panel run from a ``git worktree`` beside the edited checkout picked up its changed defaults that way).

    :raises SystemExit: saying where the package comes from and how to run this checkout's
    """
    import sb3_tecrl

    package, checkout = Path(sb3_tecrl.__file__).resolve().parent, ROOT.parent.resolve()
    if package.parent != checkout:
        raise SystemExit(
            f"sb3_tecrl is imported from {package}, not from this checkout ({checkout}): a run would record this "
            "checkout's commit and train with the other's code. Run from this checkout's folder with "
            f"SB3_TECRL_NO_ZOO_HOOK=1 (the installed RL Zoo hook imports the other at start), or install this one "
            f"(pip install -e {checkout})."
        )


def git_commit() -> str:
    """:return: the checkout's commit, with ``-dirty`` when ``sb3_tecrl/`` or ``benchmarks/`` has uncommitted changes"""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "../sb3_tecrl", "../hyperparams", "*.py")
    return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")


def copy_train_log(panel: str, task: str, algo: str, seed: int) -> None:
    """Keep the logger's train/ columns next to the results (small, committed) for the diagnostics plots."""
    sources = sorted(run_dir(task, algo, seed, panel).glob("log_*/progress.csv"))
    # a log folder's name is the step its (re)start resumed from: later rows of the previous folder were redone
    ends = [float(source.parent.name.removeprefix("log_")) for source in sources[1:]] + [math.inf]
    rows = []
    for source, end in zip(sources, ends, strict=True):
        with source.open() as file:
            rows += [row for row in csv.DictReader(file) if float(row["time/total_timesteps"]) <= end]
    if not rows:
        return
    keys = ["time/total_timesteps", *sorted(key for key in rows[0] if key.startswith("train/"))]
    target = result_path(task, algo, seed, "_train", panel)
    with target.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def jobs(panel: str, tasks: list[str], algos: list[str], seeds: list[int]) -> list[Job]:
    """
    The queue, ordered so that partial results answer the panel's main question first: its main tasks x main
    algorithms for every seed, then the rest, seed by seed.
    """
    spec = PANELS[panel]
    queue = [(panel, task, algo, seed) for seed in seeds for task in tasks for algo in algos]
    return sorted(queue, key=lambda job: (not (job[1] in spec.main_tasks and job[2] in spec.main_algos), job[3]))


def cell_state(panel: str, task: str, algo: str, seed: int) -> tuple[float, float | None]:
    """
    :return: the fraction of the budget a run can start from (its last checkpoint's evaluation; 0 without a checkpoint
        on this machine, since the runner then starts it over) and, when it has finished, its CPU minutes
    """
    info = result_path(task, algo, seed, "_run", panel).with_suffix(".json")
    if info.exists():
        return 1.0, json.loads(info.read_text())["cpu_seconds"] / 60
    rows = read_rows(result_path(task, algo, seed, "", panel))
    if not rows or not read_sets(run_dir(task, algo, seed, panel)):
        return 0.0, None
    return rows[-1]["timesteps"] / PANELS[panel].tasks[task].budget, None


def status(queue: list[Job]) -> tuple[list[str], float, float]:
    """
    What is done and what is left of a queue. A run still to do is costed at the mean CPU time of the finished runs of
    its algorithm on its task, else of its algorithm, else of every finished run.

    :return: markdown rows (one per unfinished run), CPU hours spent by the finished runs, CPU hours left (estimate)
    """

    def groups(task: str, algo: str) -> tuple[tuple[str, ...], ...]:
        return (task, algo), (algo,), ()  # from the closest group of finished runs to the widest

    states = {job: cell_state(*job) for job in queue}
    costs: dict[tuple[str, ...], list[float]] = {}
    for (_, task, algo, _), (_, minutes) in states.items():
        if minutes is not None:
            for key in groups(task, algo):
                costs.setdefault(key, []).append(minutes)
    rows, left = [], 0.0
    for (_, task, algo, seed), (done, minutes) in states.items():
        if minutes is None:
            estimate = next((float(np.mean(costs[key])) for key in groups(task, algo) if key in costs), math.nan)
            left += estimate * (1.0 - done)
            rows.append(f"| {task} | {algo} | {seed} | {done:.0%} | {estimate * (1.0 - done):.0f} |")
    spent = sum(minutes for _, minutes in states.values() if minutes is not None)
    return rows, spent / 60, left / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    selection = argparse.ArgumentParser(add_help=False)
    selection.add_argument("--panel", default="short", choices=list(PANELS))
    selection.add_argument("--tasks", nargs="+", help="default: the panel's tasks")
    selection.add_argument("--algos", nargs="+", help="default: the panel's algorithms")
    selection.add_argument("--seeds", nargs="+", type=int, help="default: the panel's seeds")
    selection.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)), help="worker processes here")
    selection.add_argument("--storage", help="the queue's Optuna RDB URL (default: a SQLite file in benchmarks/runs/)")
    selection.add_argument("--heartbeat", type=int, default=DEFAULT_HEARTBEAT, help="seconds between a run's heartbeats")
    selection.add_argument("--grace", type=int, default=DEFAULT_GRACE, help="seconds without one before a run is given back")
    sub.add_parser("run", parents=[selection], help="train a panel (resumes)")
    sub.add_parser("status", parents=[selection], help="what a panel has finished and what is left, in CPU hours")
    report = sub.add_parser("report", help="draw the learning curves and the IQM tables from the result files")
    report.add_argument("--panel", nargs="+", default=list(PANELS), choices=list(PANELS))
    args = parser.parse_args()
    if args.command == "report":
        from benchmarks.report import write_report

        for panel in args.panel:
            write_report(panel)
        return
    spec = PANELS[args.panel]
    for name, given, known in (("task", args.tasks, spec.tasks), ("algorithm", args.algos, spec.algos)):
        unknown = set(given or []) - set(known)
        if unknown:
            parser.error(f"unknown {name}(s) {sorted(unknown)} for panel {args.panel}: choose from {list(known)}")
    queue = jobs(args.panel, args.tasks or list(spec.tasks), args.algos or list(spec.algos), args.seeds or list(spec.seeds))
    if args.command == "status":
        rows, spent, left = status(queue)
        print("| task | algorithm | seed | done (resumable) | CPU minutes left (estimate) |\n| --- | --- | --- | --- | --- |")
        print("\n".join(rows))
        estimate = (
            "unknown until a run has finished"
            if math.isnan(left)
            else f"about {left:.1f} CPU hours, {left / args.workers:.1f} hours with {args.workers} workers"
        )
        print(f"\n{len(queue) - len(rows)} of {len(queue)} runs finished, {spent:.1f} CPU hours spent; left: {estimate}")
        return
    check_the_package_is_this_checkouts()
    storage = args.storage or default_storage()
    study = open_queue(args.panel, storage, args.heartbeat, args.grace)
    print(f"queue {study.study_name} at {storage}: {enqueue(study, queue)} run(s) added", flush=True)
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=worker, args=(args.panel, storage, args.heartbeat, args.grace)) for _ in range(args.workers)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join()


def worker(panel: str, storage: str, heartbeat: int, grace: int) -> None:
    """One worker process (one torch thread): trains the queue's runs until nothing waits and nothing runs."""
    th.set_num_threads(1)
    check_the_package_is_this_checkouts()  # a spawned worker imports afresh
    work(open_queue(panel, storage, heartbeat, grace), run_one, poll_seconds=min(10.0, heartbeat))


if __name__ == "__main__":
    main()
