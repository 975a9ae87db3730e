"""
Report of the learning panel: learning-curve PNGs, an IQM table with bootstrap confidence intervals (rliable) and
the entropy diagnostics of DSAC-E, from the result files of ``benchmarks.learning`` (``python -m benchmarks.learning
report``). Only runs that reached their task's budget count.

Normalised score per task: 0 is the mean return of the first evaluation of all runs (an untrained policy), 1 is SAC's
mean final return, so that tasks with negative returns (Pendulum) aggregate the right way up.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rliable import library as rly
from rliable import metrics

from benchmarks.learning import ALGOS, RESULTS, TASKS, read_rows, result_path

SEEDS_MAX = 10
MIN_SEEDS = 3  # a task enters the normalised aggregate once every algorithm has this many finished seeds
BOOTSTRAP_REPS = 2000


def completed_runs(task: str) -> dict[str, list[list[dict[str, float]]]]:
    """:return: per algorithm, the evaluation rows (up to the budget) of each finished seed"""
    budget = TASKS[task].budget
    runs: dict[str, list[list[dict[str, float]]]] = {}
    for algo in ALGOS:
        for seed in range(SEEDS_MAX):
            rows = [row for row in read_rows(result_path(task, algo, seed)) if row["timesteps"] <= budget]
            if rows and rows[-1]["timesteps"] == budget:
                runs.setdefault(algo, []).append(rows)
    return runs


def plot_curves(task: str, runs: dict[str, list[list[dict[str, float]]]]) -> str:
    fig, axis = plt.subplots(figsize=(6.5, 4))
    for algo, seeds in runs.items():
        steps = [row["timesteps"] for row in seeds[0]]
        returns = np.array([[row["mean"] for row in rows] for rows in seeds])
        mean, std = returns.mean(axis=0), returns.std(axis=0)
        axis.plot(steps, mean, label=f"{algo} ({len(seeds)} seeds)")
        axis.fill_between(steps, mean - std, mean + std, alpha=0.15)
    axis.set_title(f"{task}: deterministic evaluation, mean +- std over seeds", fontsize=10)
    axis.set_xlabel("environment steps")
    axis.set_ylabel("return")
    axis.legend(fontsize=8)
    fig.tight_layout()
    path = RESULTS / f"{task}_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def final_scores(runs: dict[str, list[list[dict[str, float]]]]) -> dict[str, np.ndarray]:
    return {algo: np.array([rows[-1]["mean"] for rows in seeds]) for algo, seeds in runs.items()}


def aggregated_tasks(task_scores: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """:return: the tasks with SAC where every algorithm has at least ``MIN_SEEDS`` finished seeds"""
    return [task for task, scores in task_scores.items() if "SAC" in scores and min(map(len, scores.values())) >= MIN_SEEDS]


def normalised(task_scores: dict[str, dict[str, np.ndarray]], first_evals: dict[str, float]) -> dict[str, np.ndarray]:
    """:return: per algorithm, an array (seeds x tasks) of normalised final scores over ``aggregated_tasks``"""
    tasks = aggregated_tasks(task_scores)
    algos = set.intersection(*(set(task_scores[task]) for task in tasks)) if tasks else set()
    n_seeds = min(len(task_scores[task][algo]) for task in tasks for algo in algos) if algos else 0
    result = {}
    for algo in sorted(algos):
        columns = []
        for task in tasks:
            low, high = first_evals[task], float(np.mean(task_scores[task]["SAC"]))
            columns.append((task_scores[task][algo][:n_seeds] - low) / (high - low))
        result[algo] = np.stack(columns, axis=1)
    return result


def iqm_with_ci(scores: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
    """:return: per algorithm, IQM and its 95% stratified-bootstrap confidence interval (rliable)"""

    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x)])

    point, interval = rly.get_interval_estimates(scores, aggregate, reps=BOOTSTRAP_REPS, random_state=np.random.RandomState(0))
    return {algo: (float(point[algo][0]), float(interval[algo][0, 0]), float(interval[algo][1, 0])) for algo in scores}


def write_report() -> str:
    """Draw the PNGs and write ``benchmarks/results/learning/report.md``; return its text."""
    from benchmarks.diagnostics import plot_run

    lines = ["| task | algorithm | seeds | final return, IQM [95% CI] |", "| --- | --- | --- | --- |"]
    task_scores, first_evals, images = {}, {}, []
    for task in TASKS:
        runs = completed_runs(task)
        if not runs:
            continue
        images.append(plot_curves(task, runs))
        task_scores[task] = final_scores(runs)
        first_evals[task] = float(np.mean([seeds_rows[0]["mean"] for seeds in runs.values() for seeds_rows in seeds]))
        for algo, (iqm, low, high) in iqm_with_ci({a: s.reshape(-1, 1) for a, s in task_scores[task].items()}).items():
            lines.append(f"| {task} | {algo} | {len(task_scores[task][algo])} | {iqm:.1f} [{low:.1f}, {high:.1f}] |")
    norm = normalised(task_scores, first_evals)
    if norm:
        header = "| tasks aggregated (normalised: 0 untrained, 1 SAC final) | algorithm | IQM [95% CI] |"
        lines += ["", header, "| --- | --- | --- |"]
        tasks = ", ".join(aggregated_tasks(task_scores))
        for algo, (iqm, low, high) in iqm_with_ci(norm).items():
            lines.append(f"| {tasks} | {algo} | {iqm:.2f} [{low:.2f}, {high:.2f}] |")
    for task in task_scores:  # the diagnostics of the first DSAC-E seed with a training log
        seed = next((seed for seed in range(SEEDS_MAX) if result_path(task, "DSAC-E", seed, "_train").exists()), None)
        if seed is not None:
            images.append(str(Path(plot_run(task, "DSAC-E", seed)).relative_to(RESULTS)))
    text = "\n".join(lines) + "\n\n" + "\n".join(f"![{name}]({name})" for name in images) + "\n"
    (RESULTS / "report.md").write_text(text)
    return text
