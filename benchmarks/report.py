"""
Report of a learning panel (``python -m benchmarks.learning report --panel P``): learning curves against environment
(or gradient) steps and against CPU time, an IQM table with 95% stratified-bootstrap confidence intervals (rliable),
the normalised aggregate, where DSAC-E's CI lies against each other algorithm's (higher, lower, overlapping; per task
once every algorithm has three seeds), what a CPU budget buys (every run read at the CPU time of the task's cheapest
finished run), the end of every run's training log (alpha, per-step entropy, and for DSAC-E the trajectory entropy
against its budget and Q_e against the realised entropy), DSAC-E's entropy diagnostics plot per task, and a table of
every run's cost and provenance. Only runs that reached their task's budget count.

Final return of a run: the mean of its last three evaluations. Normalised score per task: 0 is the mean return of
uniformly random actions (``random_policy_return``), 1 is SAC's mean final return, so that tasks with negative returns
(Pendulum) aggregate the right way up. Not the untrained policy's first evaluation: its deterministic action (the
Gaussian's mean, near 0) stands an Ant still for ~1,000, above what the panel's runs reach, which would turn the scale
upside down. A task where SAC does not beat random actions has no scale and stays out of the aggregate.
"""

import contextlib
import itertools
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rliable import library as rly
from rliable import metrics

from benchmarks.diagnostics import plot_run
from benchmarks.machine import has_native_bfloat16
from benchmarks.panel import PANELS, Algo, keeps_the_constraint, read_rows, result_path
from sb3_tecrl import DSACE

SEEDS_MAX = 10
MIN_SEEDS = 3  # an algorithm enters a task's comparison and the normalised aggregate with this many finished seeds
FINAL_EVALS = 3  # the final return is the mean of the last evaluations
BOOTSTRAP_REPS = 2000
BOOTSTRAP_SEED = 0
RANDOM_EPISODES = 10  # episodes of uniformly random actions that set a task's normalised 0
BFLOAT16_DEFAULT_SINCE = "2026-12-01T23:09:22+00:00"  # DSACE's matmul_precision default became bfloat16 (1b09de2)
Runs = dict[str, list[list[dict[str, float]]]]


def completed_runs(task: str, panel: str = "short") -> Runs:
    """:return: per algorithm, the evaluation rows (up to the budget) of each finished seed"""
    budget = PANELS[panel].tasks[task].budget
    runs: Runs = {}
    for algo in PANELS[panel].algos:
        for seed in range(SEEDS_MAX):
            rows = [row for row in read_rows(result_path(task, algo, seed, "", panel)) if row["timesteps"] <= budget]
            if rows and rows[-1]["timesteps"] == budget:
                runs.setdefault(algo, []).append(rows)
    return runs


def final_return(rows: list[dict[str, float]]) -> float:
    return float(np.mean([row["mean"] for row in rows[-FINAL_EVALS:]]))


STEP_UNITS = {"gradient_steps": "gradient steps", "timesteps": "environment steps"}


def step_key(task: str, panel: str) -> str:
    """:return: the column of the evaluation rows a task's runs are compared at: gradient or environment steps"""
    return "gradient_steps" if PANELS[panel].tasks[task].eval_unit == "gradient_steps" else "timesteps"


def plot_curves(task: str, runs: Runs, panel: str) -> str:
    """Return against steps (mean +- std over seeds) and against CPU hours (one line per seed), side by side."""
    spec = PANELS[panel]
    x_key = step_key(task, panel)
    fig, (steps_axis, cpu_axis) = plt.subplots(1, 2, figsize=(12, 4))
    for color, (algo, seeds) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], runs.items(), strict=False):
        length = min(map(len, seeds))
        steps = [row[x_key] for row in seeds[0][:length]]
        returns = np.array([[row["mean"] for row in rows[:length]] for rows in seeds])
        mean, std = returns.mean(axis=0), returns.std(axis=0)
        steps_axis.plot(steps, mean, color=color, label=f"{algo} ({len(seeds)} seeds)")
        steps_axis.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15)
        for index, rows in enumerate(seeds):
            if "cpu_seconds" in rows[0]:
                hours = [row["cpu_seconds"] / 3600 for row in rows]
                cpu_axis.plot(hours, [row["mean"] for row in rows], color=color, lw=1, label=algo if index == 0 else None)
    steps_axis.set_xlabel(STEP_UNITS[x_key])
    cpu_axis.set_xlabel("CPU hours (one core, one torch thread; evaluations excluded)")
    for axis in (steps_axis, cpu_axis):
        axis.set_ylabel("return (deterministic, 10 episodes)")
        if axis.get_legend_handles_labels()[0]:  # runs from before CPU time was measured have no CPU curve
            axis.legend(fontsize=8)
    fig.suptitle(f"{task}, panel {panel}", fontsize=10)
    fig.tight_layout()
    path = spec.results / f"{task}_curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def final_scores(runs: Runs) -> dict[str, np.ndarray]:
    return {algo: np.array([final_return(rows) for rows in seeds]) for algo, seeds in runs.items()}


def random_policy_return(env_id: str, episodes: int = RANDOM_EPISODES) -> float:
    """:return: the mean return of uniformly random actions over ``episodes`` seeded episodes (the normalised 0)"""
    env = gym.make(env_id)
    env.action_space.seed(0)
    returns = []
    for episode in range(episodes):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def with_enough_seeds(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:return: the algorithms of a task with at least ``MIN_SEEDS`` finished seeds (the others are listed, not compared)"""
    return {algo: finals for algo, finals in scores.items() if len(finals) >= MIN_SEEDS}


def can_be_normalised(scores: dict[str, np.ndarray], reference: str) -> bool:
    """:return: whether SAC (the normalised 1) and the panel's reference both have enough seeds on a task"""
    return {"SAC", reference} <= set(with_enough_seeds(scores))


def aggregated_tasks(task_scores: dict[str, dict[str, np.ndarray]], lows: dict[str, float], reference: str) -> list[str]:
    """
    :param lows: per task that ``can_be_normalised``, the normalised 0 (``random_policy_return``)
    :return: the tasks where SAC and ``reference`` have at least ``MIN_SEEDS`` finished seeds and SAC's mean final
        return lies above the task's 0 (SAC sets the 1)
    """
    return [
        task
        for task, scores in task_scores.items()
        if can_be_normalised(scores, reference) and float(np.mean(scores["SAC"])) > lows[task]
    ]


def normalised(
    task_scores: dict[str, dict[str, np.ndarray]], lows: dict[str, float], tasks: list[str]
) -> dict[str, np.ndarray]:
    """
    :param lows: per task, the normalised 0 (``random_policy_return``); SAC's mean final return is the 1
    :param tasks: the tasks to aggregate (``aggregated_tasks``)
    :return: per algorithm with at least ``MIN_SEEDS`` finished seeds on every one of ``tasks``, an array
        (seeds x tasks) of normalised final scores; an algorithm still short of seeds somewhere stays out, the task stays in
    """
    algos = set.intersection(*(set(with_enough_seeds(task_scores[task])) for task in tasks)) if tasks else set()
    n_seeds = min(len(task_scores[task][algo]) for task in tasks for algo in algos) if algos else 0
    result = {}
    for algo in sorted(algos):
        columns = []
        for task in tasks:
            low, high = lows[task], float(np.mean(task_scores[task]["SAC"]))
            columns.append((task_scores[task][algo][:n_seeds] - low) / (high - low))
        result[algo] = np.stack(columns, axis=1)
    return result


@contextlib.contextmanager
def numpy_global_rng_seeded(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for the block, then give the caller back its state."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_with_ci(scores: dict[str, np.ndarray]) -> dict[str, tuple[float, float, float]]:
    """
    IQM and 95% stratified-bootstrap confidence interval (rliable) of each algorithm, reproducible from one process to
    the next: rliable's ``StratifiedBootstrap`` draws its resamples from numpy's global generator (not from the
    ``random_state`` it is given), so each algorithm's bootstrap runs with that generator seeded afresh. An algorithm's
    interval therefore depends on its own scores only, not on the global state or on which algorithms sit beside it.

    :param scores: per algorithm, an array (seeds x tasks) of scores
    :return: per algorithm, ``(IQM, low, high)``
    """

    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x)])

    result = {}
    for algo, algo_scores in scores.items():
        with numpy_global_rng_seeded(BOOTSTRAP_SEED):
            point, interval = rly.get_interval_estimates({algo: algo_scores}, aggregate, reps=BOOTSTRAP_REPS)
        result[algo] = (float(point[algo][0]), float(interval[algo][0, 0]), float(interval[algo][1, 0]))
    return result


def ci_comparison(intervals: dict[str, tuple[float, float, float]], reference: str) -> dict[str, str]:
    """
    Where the reference algorithm's 95% CI lies against each other algorithm's.

    :param intervals: per algorithm, ``(IQM, low, high)`` as ``iqm_with_ci`` returns it
    :return: per other algorithm, ``"higher"`` or ``"lower"`` (the reference's CI lies wholly above or below theirs)
        or ``"overlapping"``
    """
    _, low, high = intervals[reference]
    verdicts = {}
    for algo, (_, other_low, other_high) in intervals.items():
        if algo != reference:
            verdicts[algo] = "higher" if low > other_high else "lower" if high < other_low else "overlapping"
    return verdicts


def comparison_rows(label: str, intervals: dict[str, tuple[float, float, float]], reference: str) -> list[str]:
    """:return: markdown rows, the reference against every other algorithm (none when the reference is not among them)"""
    if reference not in intervals:
        return []
    return [f"| {label} | {algo} | {verdict} |" for algo, verdict in ci_comparison(intervals, reference).items()]


def at_cpu_time(rows: list[dict[str, float]], cpu_seconds: float, x_key: str) -> tuple[float, float]:
    """
    :return: the steps (``x_key``) a run had reached by ``cpu_seconds`` of CPU time and its return there (the mean of its
        last ``FINAL_EVALS`` evaluations up to then)
    """
    reached = [row for row in rows if row["cpu_seconds"] <= cpu_seconds]
    return reached[-1][x_key], final_return(reached)


def span(values: list[float], digits: int = 0) -> str:
    """:return: ``"low to high"`` (one value when they agree at that precision)"""
    low, high = f"{min(values):,.{digits}f}", f"{max(values):,.{digits}f}"
    return low if low == high else f"{low} to {high}"


def equal_cpu_rows(task: str, runs: Runs, panel: str) -> list[str]:
    """
    What a CPU budget buys: every run read at the CPU time of the task's cheapest finished run.

    :return: markdown rows per algorithm: the steps its runs had reached by then and their return there (ranges over
        seeds); none when the runs predate CPU time measurement
    """
    timed = {algo: [rows for rows in seeds if "cpu_seconds" in rows[0]] for algo, seeds in runs.items()}
    ends = [rows[-1]["cpu_seconds"] for seeds in timed.values() for rows in seeds]
    if not ends:
        return []
    cut, x_key = min(ends), step_key(task, panel)
    lines = []
    for algo, seeds in timed.items():
        if seeds:
            steps, returns = zip(*(at_cpu_time(rows, cut, x_key) for rows in seeds), strict=True)
            reached = f"{span(steps)} {STEP_UNITS[x_key]}"
            lines.append(f"| {task} | {cut / 60:.1f} | {algo} | {len(seeds)} | {reached} | {span(returns, 1)} |")
    return lines


def last_value(rows: list[dict[str, float]], key: str) -> float:
    """:return: the last logged (not NaN) value of ``key`` in a training log, NaN when it was never logged"""
    return next((row[key] for row in reversed(rows) if not math.isnan(row.get(key, math.nan))), math.nan)


def logged(value: float, spec: str) -> str:
    """:return: ``value`` formatted, or "not logged" for NaN (SAC and TQC log no per-step entropy)"""
    return "not logged" if math.isnan(value) else format(value, spec)


def first_step_within_budget(rows: list[dict[str, float]]) -> str:
    """:return: the first logged environment step where DSAC-E's trajectory entropy estimate met its budget, or never"""
    for row in rows:
        if row.get("train/trajectory_entropy", math.inf) <= row.get("train/entropy_budget", -math.inf):
            return f"{row['time/total_timesteps']:,.0f}"
    return "never"


def finished_runs(task: str, panel: str) -> Iterator[tuple[str, int, Path]]:
    """:return: ``(algorithm, seed, path of its seed<N>_run.json)`` of every run of a task that finished (wrote that file)"""
    for algo, seed in itertools.product(PANELS[panel].algos, range(SEEDS_MAX)):
        path = result_path(task, algo, seed, "_run", panel).with_suffix(".json")
        if path.exists():
            yield algo, seed, path


def diagnostics_rows(task: str, panel: str) -> list[str]:
    """
    The end of every finished run's training log: alpha and the per-step entropy, and for DSAC-E with its constraint the
    trajectory entropy estimate against the budget, the step where it first met the budget, and ``Q_e`` against the
    realised discounted entropy of the last stochastic episode (``diagnostics.entropy_tracking``).

    :return: markdown rows, one per run
    """
    lines = []
    for algo, seed, _ in finished_runs(task, panel):
        train = read_rows(result_path(task, algo, seed, "_train", panel))
        alpha, entropy = last_value(train, "train/ent_coef"), last_value(train, "train/entropy")
        cells = [logged(alpha, ".2g"), logged(entropy, ".1f"), "", "", "", ""]
        if keeps_the_constraint(PANELS[panel].algos[algo]):
            tracking = read_rows(result_path(task, algo, seed, "_entropy", panel))
            cells[2:] = [
                f"{last_value(train, 'train/trajectory_entropy'):,.0f}",
                f"{last_value(train, 'train/entropy_budget'):,.0f}",
                first_step_within_budget(train),
                f"{tracking[-1]['q_e']:,.0f} / {tracking[-1]['realised']:,.0f}" if tracking else "",
            ]
        lines.append(f"| {task} | {algo} | {seed} | " + " | ".join(cells) + " |")
    return lines


def run_precision(info: dict[str, Any], algo: Algo) -> str:
    """
    :param info: a finished run's ``seed<N>_run.json``
    :param algo: its cell
    :return: the precision of the run's hidden matrix products, as recorded (per start since 2026-12-03); for older
        records, inferred for the last start from its CPU and the cell's setting (float32 for SB3's algorithms), else
        "not recorded"
    """
    if "precision" in info:
        return info["precision"]
    if not issubclass(algo.cls, DSACE):
        return "float32"
    if "cpu" not in info:
        return "not recorded"
    native = has_native_bfloat16(info["cpu"])
    default = "bfloat16" if info["last_start"] >= BFLOAT16_DEFAULT_SINCE else "float32"
    asked = dict(algo.overrides).get("matmul_precision", default)
    return f"{'bfloat16' if native and asked == 'bfloat16' else 'float32'} at its last start"


def seed_list(seeds: list[int]) -> str:
    """:return: ``"seed 1"`` or ``"seeds 0, 2"``"""
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def run_table(panel: str) -> list[str]:
    """
    :return: markdown rows of every finished run's cost, precision and provenance (``seed<N>_run.json``), then a line
        per cell whose runs did not all compute in the same precision
    """
    lines, precisions = [], {}
    for task in PANELS[panel].tasks:
        for algo, seed, path in finished_runs(task, panel):
            info = json.loads(path.read_text())
            precision = run_precision(info, PANELS[panel].algos[algo])
            precisions.setdefault((task, algo), {}).setdefault(precision, []).append(seed)
            versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
            lines.append(
                f"| {task} | {algo} | {seed} | {precision} | {info['cpu_seconds'] / 60:.1f} | "
                f"{info['wall_seconds'] / 60:.1f} | {info['finished']} | {info['commit'][:10]} | {versions} |"
            )
    if not lines:
        return []
    header = "| task | algorithm | seed | precision | CPU minutes | wall minutes | finished (UTC) | commit | versions |"
    mixed = [
        f"- {task}, {algo}: " + "; ".join(f"{precision} ({seed_list(seeds)})" for precision, seeds in by.items())
        for (task, algo), by in precisions.items()
        if len(by) > 1
    ]
    if mixed:
        mixed = ["", "Cells whose runs did not all compute in one precision (the CPU decides bfloat16's fallback):", *mixed]
    return [header, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |", *lines, *mixed]


def write_report(panel: str = "short") -> str:
    """Draw the PNGs and write ``<panel results>/report.md``; return its text."""
    spec = PANELS[panel]
    spec.results.mkdir(parents=True, exist_ok=True)  # a panel whose cells are all another panel's runs may have none
    lines = ["| task | algorithm | seeds | final return, IQM [95% CI] |", "| --- | --- | --- | --- |"]
    task_scores, images, comparisons, cpu_rows = {}, [], [], []
    for task in spec.tasks:
        runs = completed_runs(task, panel)
        if not runs:
            continue
        images.append(plot_curves(task, runs, panel))
        cpu_rows += equal_cpu_rows(task, runs, panel)
        task_scores[task] = final_scores(runs)
        intervals = iqm_with_ci({a: s.reshape(-1, 1) for a, s in task_scores[task].items()})
        for algo, (iqm, low, high) in intervals.items():
            lines.append(f"| {task} | {algo} | {len(task_scores[task][algo])} | {iqm:.1f} [{low:.1f}, {high:.1f}] |")
        compared = {algo: intervals[algo] for algo in with_enough_seeds(task_scores[task])}
        comparisons += comparison_rows(task, compared, spec.reference)
    # random episodes only for the tasks that can enter the aggregate (HalfCheetah's take ~20 s)
    lows = {
        task: random_policy_return(task) for task, scores in task_scores.items() if can_be_normalised(scores, spec.reference)
    }
    aggregated = aggregated_tasks(task_scores, lows, spec.reference)
    norm = normalised(task_scores, lows, aggregated)
    if norm:
        header = "| tasks aggregated (normalised: 0 random actions, 1 SAC's mean final) | algorithm | IQM [95% CI] |"
        lines += ["", header, "| --- | --- | --- |"]
        tasks = ", ".join(aggregated)
        intervals = iqm_with_ci(norm)
        for algo, (iqm, low, high) in intervals.items():
            lines.append(f"| {tasks} | {algo} | {iqm:.2f} [{low:.2f}, {high:.2f}] |")
        comparisons += comparison_rows(f"aggregate ({tasks})", intervals, spec.reference)
    if comparisons:
        header = f"| task (algorithms with {MIN_SEEDS}+ seeds) | {spec.reference} against | {spec.reference}'s 95% CI |"
        lines += ["", header, "| --- | --- | --- |", *comparisons]
    if cpu_rows:
        header = "| task | CPU minutes (the cheapest finished run's) | algorithm | seeds | steps reached | return there |"
        lines += ["", header, "| --- | --- | --- | --- | --- | --- |", *cpu_rows]
    diagnostics = [row for task in task_scores for row in diagnostics_rows(task, panel)]
    if diagnostics:
        header = (
            "| task | algorithm | seed | final alpha | final -log pi | final -log pi + Q_e | budget | budget met at step "
            "| last Q_e / realised |"
        )
        lines += ["", header, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |", *diagnostics]
    for task, algo in itertools.product(task_scores, spec.algos):  # the first seed with a training log of each DSAC-E
        if not keeps_the_constraint(spec.algos[algo]):
            continue
        seed = next((seed for seed in range(SEEDS_MAX) if result_path(task, algo, seed, "_train", panel).exists()), None)
        if seed is not None:
            images.append(os.path.relpath(plot_run(task, algo, seed, panel), spec.results))
    runs_table = run_table(panel)
    text = "\n".join(lines) + "\n\n" + "\n".join(f"![{name}]({name})" for name in images) + "\n"
    if runs_table:
        text += "\n" + "\n".join(runs_table) + "\n"
    (spec.results / "report.md").write_text(text)
    return text
