"""
Study of DSAC-E's defaults for SB3's regime (one environment step per gradient step, issue 13), resumable.

    python -m benchmarks.defaults_study run [--tasks ...] [--configs ...] [--seeds 0 1]   # start or resume
    python -m benchmarks.defaults_study report                                          # table from finished runs

Design. The official settings (``PAPER``: policy delay 2, learning rates 1e-4 and 3e-4, alpha starting at e,
tau 0.005, three GELU layers of 256) were chosen for 1.5M gradient steps; the suspects for DSAC-E's slow start at 1:1
are varied one factor at a time, each configuration on the same tasks, seeds and warm-up as SB3 SAC with its zoo
settings (the reference, ``sac``). A grid rather than TPE: with about two CPU-hours per session a sampler would not
leave its random start-up trials, while a one-factor grid says which factor moves the return, and by how much.

- ``delay1`` (policy delay 1) is the main question: the issue measured it as most of the gap. It comes first.
- The other factors vary around ``delay1`` (the candidate default), not around ``PAPER``: the question is what to ship.
- Jobs run in ``job_order``, so that partial results answer the main question first: SAC, ``PAPER`` and ``delay1``
  on Pendulum-v1, then the other factors on Pendulum-v1 (the cheapest task: a DSAC-E run takes 5-8 minutes of this
  shared machine, an InvertedDoublePendulum-v4 run about three times that), then the same two stages on
  InvertedDoublePendulum-v4, and Reacher-v4 last. Factors in the order of their expected effect: learning rate,
  alpha's start, DSAC-T with delay 1 and learning rate 3e-4 (the candidate for ``dsact.yml``), temperature learning
  rate, network depth, tau. Tuning tasks are not the panel's (Hopper, HalfCheetah, Walker2d, Ant are kept apart);
  LunarLanderContinuous needs box2d, which is not installed here.

Storage: one CSV row per finished run (configuration, task, seed) in
``benchmarks/results/defaults_study/runs.csv``, committed as runs finish. ``run`` skips the rows present, so an
interrupted study resumes at run granularity (a run killed midway starts over). Each run evaluates the deterministic
policy before learning (the untrained policy) and every ``eval_freq`` steps, ``EVAL_EPISODES`` episodes each, on the
panel's evaluation environment seeding (``benchmarks.learning``).

Objective (``report``): per run, the final return (mean of the last 3 evaluations) and the area under the curve (mean
of the evaluations after step 0: early learning speed), both normalised per task between the untrained policy (0,
SAC's mean step-0 evaluation on the task) and SAC's mean final return (1), then aggregated per
configuration by IQM over seeds x tasks (rliable, 95% stratified bootstrap confidence intervals).
"""

import argparse
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from torch import nn

from benchmarks.learning import zoo_hyperparams
from benchmarks.panel import EVAL_EPISODES, TASKS, Task
from sb3_tecrl import DSACE, DSACT

RESULTS = Path(__file__).resolve().parent / "results" / "defaults_study"
RUNS_CSV = RESULTS / "runs.csv"
FINAL_EVALS = 3  # the final return is the mean of the last 3 evaluations
FIELDS = ("config", "task", "seed", "final", "auc", "timesteps", "returns", "seconds")

STUDY_TASKS = {
    "Pendulum-v1": TASKS["Pendulum-v1"],
    "InvertedDoublePendulum-v4": TASKS["InvertedDoublePendulum-v4"],
    "Reacher-v4": Task("Reacher-v4", budget=20_000, eval_freq=2_000, learning_starts=1_000),
}
# the return a task counts as solved at (gymnasium's reward_threshold; Pendulum has none, -200 is customary)
SOLVED = {"Pendulum-v1": -200.0, "InvertedDoublePendulum-v4": 9100.0, "Reacher-v4": -3.75}

# The official DSAC-T/DSAC-E MuJoCo settings (spec section 1) at SB3's 1:1
PAPER: dict[str, Any] = dict(
    learning_rate=1e-4,
    ent_coef_learning_rate=3e-4,
    ent_coef=f"auto_{math.e}",
    policy_delay=2,
    tau=0.005,
    batch_size=256,
    gamma=0.99,
    policy_kwargs=dict(net_arch=[256, 256, 256], activation_fn=nn.GELU),
)
DELAY1 = {**PAPER, "policy_delay": 1}


@dataclass(frozen=True)
class Config:
    """A configuration of the study: the algorithm and its keyword arguments (``None``: the zoo's, for SAC)."""

    name: str
    cls: type[BaseAlgorithm]
    kwargs: dict[str, Any] | None


CONFIGS = {
    config.name: config
    for config in (
        Config("sac", SAC, None),
        Config("paper", DSACE, PAPER),
        Config("delay1", DSACE, DELAY1),
        Config("delay1_lr3e-4", DSACE, {**DELAY1, "learning_rate": 3e-4}),
        Config("delay1_lr1e-3", DSACE, {**DELAY1, "learning_rate": 1e-3}),
        Config("delay1_alpha1", DSACE, {**DELAY1, "ent_coef": "auto"}),
        Config("dsact_delay1_lr3e-4", DSACT, {**DELAY1, "learning_rate": 3e-4}),
        Config("delay1_entlr1e-3", DSACE, {**DELAY1, "ent_coef_learning_rate": 1e-3}),
        Config("delay1_net2x256", DSACE, {**DELAY1, "policy_kwargs": dict(net_arch=[256, 256], activation_fn=nn.GELU)}),
        Config("delay1_tau0.01", DSACE, {**DELAY1, "tau": 0.01}),
        Config("delay1_lr3e-4_tau0.01", DSACE, {**DELAY1, "learning_rate": 3e-4, "tau": 0.01}),
    )
}
MAIN = ("sac", "paper", "delay1")
FACTORS = tuple(name for name in CONFIGS if name not in MAIN)
SEEDS = (0, 1)


def job_order(tasks: list[str], configs: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """:return: the (configuration, task, seed) jobs, task by task: the main question first, then the factors"""
    stages = [(MAIN, "Pendulum-v1"), (FACTORS, "Pendulum-v1"), (MAIN, "InvertedDoublePendulum-v4")]
    stages += [(FACTORS, "InvertedDoublePendulum-v4"), (MAIN + FACTORS, "Reacher-v4")]
    jobs = []
    for names, task in stages:
        for name in names:
            jobs += [(name, task, seed) for seed in seeds if name in configs and task in tasks]
    return jobs


def read_runs(path: Path = RUNS_CSV) -> list[dict[str, Any]]:
    """:return: the finished runs, with ``timesteps`` and ``returns`` as lists"""
    if not path.exists():
        return []
    with path.open() as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        row["seed"], row["seconds"] = int(row["seed"]), int(row["seconds"])
        row["final"], row["auc"] = float(row["final"]), float(row["auc"])
        row["timesteps"] = [int(value) for value in row["timesteps"].split()]
        row["returns"] = [float(value) for value in row["returns"].split()]
    return rows


def append_run(row: dict[str, Any], path: Path = RUNS_CSV) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with path.open("a", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow({**row, **{key: " ".join(map(str, row[key])) for key in ("timesteps", "returns")}})


class Evaluate(BaseCallback):
    """Deterministic evaluation (``EVAL_EPISODES`` episodes) before learning and every ``eval_freq`` steps."""

    def __init__(self, task: Task, seed: int):
        super().__init__()
        self.task = task
        self.eval_env = Monitor(gym.make(task.env_id))
        self.eval_env.reset(seed=10_000 + seed)  # the panel's evaluation seeding
        self.timesteps: list[int] = []
        self.returns: list[float] = []

    def _on_training_start(self) -> None:
        self.evaluate()

    def _on_step(self) -> bool:
        if self.num_timesteps % self.task.eval_freq == 0:
            self.evaluate()
        return True

    def evaluate(self) -> None:
        mean, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=EVAL_EPISODES, deterministic=True)
        self.timesteps.append(self.num_timesteps)
        self.returns.append(float(mean))


def make_model(config: Config, task: Task, seed: int) -> BaseAlgorithm:
    """The model of a job: SAC with its zoo settings or DSAC-E with the configuration's; the task's warm-up for both."""
    kwargs = zoo_hyperparams("sac", task.env_id) if config.kwargs is None else config.kwargs
    return config.cls("MlpPolicy", task.env_id, seed=seed, device="cpu", **{**kwargs, "learning_starts": task.learning_starts})


def run_one(name: str, task_name: str, seed: int) -> dict[str, Any]:
    """Train one job to its task's budget; :return: its result row"""
    task = STUDY_TASKS[task_name]
    start = time.time()
    model = make_model(CONFIGS[name], task, seed)
    callback = Evaluate(task, seed)
    model.learn(task.budget, callback=callback)
    returns = callback.returns
    return dict(
        config=name,
        task=task_name,
        seed=seed,
        final=float(np.mean(returns[-FINAL_EVALS:])),
        auc=float(np.mean(returns[1:])),
        timesteps=callback.timesteps,
        returns=returns,
        seconds=round(time.time() - start),
    )


def steps_to_solve(row: dict[str, Any]) -> float:
    """:return: the first evaluation step with a return at the task's threshold (``inf`` if never)"""
    threshold = SOLVED[row["task"]]
    return next((step for step, value in zip(row["timesteps"], row["returns"], strict=True) if value >= threshold), math.inf)


def normalised_scores(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, np.ndarray]]:
    """
    :param key: ``"final"`` or ``"auc"``
    :return: per task (with SAC runs), per configuration, the runs' ``key`` normalised between the untrained policy
        (0: SAC's mean step-0 return) and SAC's mean final return (1), by seed; SAC's runs alone set the scale, so that
        adding runs of other configurations does not move it
    """
    scores: dict[str, dict[str, np.ndarray]] = {}
    for task in STUDY_TASKS:
        task_rows = [row for row in rows if row["task"] == task]
        sac = [row for row in task_rows if row["config"] == "sac"]
        if not sac:
            continue
        low, high = float(np.mean([row["returns"][0] for row in sac])), float(np.mean([row["final"] for row in sac]))
        for name in CONFIGS:
            runs = sorted((row for row in task_rows if row["config"] == name), key=lambda row: row["seed"])
            if runs:
                scores.setdefault(task, {})[name] = np.array([(row[key] - low) / (high - low) for row in runs])
    return scores


def aggregate(scores: dict[str, dict[str, np.ndarray]], tasks: list[str]) -> dict[str, tuple[float, float, float]]:
    """:return: per configuration present on all ``tasks`` with as many seeds as SAC: IQM over seeds x tasks, 95% CI"""
    from benchmarks.report import iqm_with_ci

    names = [name for name in CONFIGS if all(len(scores[task].get(name, ())) == len(scores[task]["sac"]) for task in tasks)]
    n_seeds = min(len(scores[task]["sac"]) for task in tasks)
    return iqm_with_ci({name: np.stack([scores[task][name][:n_seeds] for task in tasks], axis=1) for name in names})


def write_report(rows: list[dict[str, Any]] | None = None) -> str:
    """Write ``benchmarks/results/defaults_study/report.md`` (per task, then aggregated); return its text."""
    rows = read_runs() if rows is None else rows
    finals, aucs = normalised_scores(rows, "final"), normalised_scores(rows, "auc")
    lines = [
        "| task | configuration | seeds | final return (mean) | normalised final | normalised AUC | steps to solve (median) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task in finals:
        for name, final in finals[task].items():
            runs = [row for row in rows if row["task"] == task and row["config"] == name]
            returns, solve = np.mean([row["final"] for row in runs]), np.median([steps_to_solve(row) for row in runs])
            cells = f"{returns:.1f} | {final.mean():.2f} | {aucs[task][name].mean():.2f} | {solve:.0f}"
            lines.append(f"| {task} | {name} | {len(final)} | {cells} |")
    for tasks in [[task] for task in finals] + ([list(finals)] if len(finals) > 1 else []):
        final_iqm, auc_iqm = aggregate(finals, tasks), aggregate(aucs, tasks)
        lines += ["", f"IQM over seeds x tasks ({', '.join(tasks)}), normalised: 0 untrained, 1 SAC's final return", ""]
        lines += ["| configuration | final, IQM [95% CI] | AUC, IQM [95% CI] |", "| --- | --- | --- |"]
        for name, (iqm, low, high) in final_iqm.items():
            auc, auc_low, auc_high = auc_iqm[name]
            lines.append(f"| {name} | {iqm:.2f} [{low:.2f}, {high:.2f}] | {auc:.2f} [{auc_low:.2f}, {auc_high:.2f}] |")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the jobs not yet in runs.csv, in priority order (one process, one thread)")
    run.add_argument("--tasks", nargs="+", default=list(STUDY_TASKS), choices=list(STUDY_TASKS))
    run.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    run.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    sub.add_parser("report", help="write the results table from runs.csv")
    args = parser.parse_args()
    if args.command == "report":
        print(write_report())
        return
    th.set_num_threads(1)
    done = {(row["config"], row["task"], row["seed"]) for row in read_runs()}
    for job in job_order(args.tasks, args.configs, args.seeds):
        if job in done:
            continue
        row = run_one(*job)
        append_run(row)
        print(f"{job}: final {row['final']:.1f}, AUC {row['auc']:.1f}, {row['seconds']} s", flush=True)


if __name__ == "__main__":
    main()
