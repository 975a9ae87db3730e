"""
The constraint study (issue 28): does each variant's temperature follow its constraint, and what does it cost or buy?

    python -m benchmarks.learning run --panel tec_tune --workers 1   # the runs (resumable, a queue)
    python -m benchmarks.constraint_study                            # results/tec_tune/constraint_study.md and PNGs

Per run of panel ``tec_tune``: the estimate the temperature is tuned on (``-log pi + Q_e`` on replayed states, on
initial states with ``constraint_states="initial"``, or ``-log pi`` without TEC), its mean over the last quarter of
the run against the logged target (with ``budget_schedule="anneal"`` the current budget; the configured one beside
it), and alpha at the end. A constraint *acts* when that mean lies within
``ACTS_WITHIN`` of its target and alpha ends above ``ALPHA_FLOOR`` (the issue's shipping rule, on Pendulum-v1 seeds 0-1).
The termination incentive is measured on panels S, rho_S, tec_S and tec_confirm (Hopper-v4 and Walker2d-v4, which
terminate): the mean length of the deterministic evaluation episodes at the end of each run.
"""

import math
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from benchmarks.panel import PANELS, Algo, keeps_the_constraint, read_rows, result_path, zoo_log_dir
from benchmarks.report import ci_comparison, completed_runs, final_return, final_scores, iqm_with_ci
from sb3_tecrl.dsace.dsace import constraint_estimate_key

PANEL = "tec_tune"
ACTS_WITHIN = 0.15
ALPHA_FLOOR = 1e-4
LAST_QUARTER = 0.75
SHIPPING_TASK, SHIPPING_SEEDS = "Pendulum-v1", (0, 1)
CONFIRMATION, CONFIRMATION_TASK, FAITHFUL = "tec_confirm", "Walker2d-v4", "DSAC-E"
VERDICT_WORDS = {"higher": "CI wholly above", "lower": "CI wholly below", "overlapping": "overlapping"}  # ci_comparison's
TERMINATING = (
    ("S", "Hopper-v4"),
    ("S", "Walker2d-v4"),
    ("rho_S", "Walker2d-v4"),
    ("tec_S", "Walker2d-v4"),
    ("tec_confirm", "Walker2d-v4"),
)
REFERENCE = "DSAC-E"  # drawn in every row of the figures
# the figures' rows: the issue's hypotheses, each with the cells of panel tec_tune that test it
HYPOTHESES = {
    "an entropy critic that keeps up": ("entropy_tau=1", "entropy_tau=0.05"),
    "a temperature that follows the constraint": (
        "dual",
        "dual+entropy_tau=1",
        "dual+entropy_tau=0.05",
        "pid",
        "pid+entropy_tau=0.05",
    ),
    "a per-step target in disguise": ("w/o TEC", "rho=20", "w/o TEC rho=20"),
    "a constraint about trajectories": ("initial", "dual+initial+entropy_tau=1"),
    "an adaptive budget": ("anneal", "anneal rho=20", "anneal+dual+entropy_tau=1 rho=20"),
}


def estimate_key(algo: Algo) -> str:
    """:return: the logged column of the estimate that the algorithm's temperature follows"""
    states = dict(algo.overrides).get("constraint_states", "replay")
    return "train/" + constraint_estimate_key(keeps_the_constraint(algo), states)


def constraint_state(train: list[dict[str, float]], key: str, budget_steps: int) -> dict[str, float]:
    """
    :param train: a run's training log (``seed<N>_train.csv`` rows)
    :param key: the column of the estimate
    :param budget_steps: the run's budget in environment steps
    :return: the estimate's mean over the last quarter, the target (the logged budget at the end), the configured
        target (an annealed budget's final one, else the target), their relative gap, alpha at the end and whether
        the constraint acts
    """
    late = [row for row in train if row["time/total_timesteps"] >= LAST_QUARTER * budget_steps]
    estimate = float(np.mean([row[key] for row in late]))
    target = late[-1]["train/entropy_budget"]
    configured = late[-1].get("train/entropy_budget_final", math.nan)
    configured = target if math.isnan(configured) else configured
    gap = abs(estimate - target) / abs(target)
    alpha = late[-1]["train/ent_coef"]
    acts = float(gap <= ACTS_WITHIN and alpha > ALPHA_FLOOR)
    return dict(estimate=estimate, target=target, configured=configured, gap=gap, alpha=alpha, acts=acts)


FinishedRun = tuple[str, int, dict[str, float], list[dict[str, float]]]  # variant, seed, constraint state, evaluations


def finished_states(task: str) -> Iterator[FinishedRun]:
    """:return: per finished run of the task: the variant, the seed, its constraint's state and its evaluation rows"""
    spec = PANELS[PANEL]
    for algo_name, algo in spec.algos.items():
        for seed in spec.seeds:
            train = read_rows(result_path(task, algo_name, seed, "_train", PANEL))
            rows = read_rows(result_path(task, algo_name, seed, "", PANEL))
            if train and rows[-1]["timesteps"] >= spec.tasks[task].budget:
                yield algo_name, seed, constraint_state(train, estimate_key(algo), spec.tasks[task].budget), rows


FinishedRuns = dict[str, list[FinishedRun]]  # per task: its finished_states


def constraint_rows(task: str, finished: FinishedRuns) -> list[str]:
    """:return: markdown rows, one per finished run of the task: the constraint's state and the final return"""
    lines = []
    for algo_name, seed, state, rows in finished[task]:
        column = estimate_key(PANELS[PANEL].algos[algo_name]).removeprefix("train/")
        lines.append(
            f"| {task} | {algo_name} | {seed} | `{column}` | {state['estimate']:,.1f} | {state['target']:,.1f} | "
            f"{state['configured']:,.1f} | "
            f"{state['gap']:.0%} | {state['alpha']:.2g} | {'yes' if state['acts'] else 'no'} | {final_return(rows):.0f} |"
        )
    return lines


def acting_runs(finished: FinishedRuns) -> dict[tuple[str, str, int], float]:
    """:return: per finished run ``(task, variant, seed)``, whether its constraint acts (1.0) or not (0.0)"""
    return {(task, algo, seed): state["acts"] for task in finished for algo, seed, state, _ in finished[task]}


def meets_shipping_rule(acting: dict[tuple[str, str, int], float], algo: str) -> bool:
    """:return: whether the variant's constraint acts on every one of ``SHIPPING_SEEDS`` of ``SHIPPING_TASK``"""
    return all(acting.get((SHIPPING_TASK, algo, seed), False) for seed in SHIPPING_SEEDS)


def acting_rows(finished: FinishedRuns) -> list[str]:
    """
    :return: markdown rows, one per variant: on each task, the seeds whose constraint acts among those finished, and
        whether it meets the shipping rule (:func:`meets_shipping_rule`)
    """
    spec = PANELS[PANEL]
    acting = acting_runs(finished)
    lines = []
    for algo in spec.algos:
        cells = []
        for task in spec.tasks:
            runs = [seed for (name, run_algo, seed) in acting if (name, run_algo) == (task, algo)]
            acts = [seed for seed in runs if acting[task, algo, seed]]
            cells.append(f"{len(acts)} of {len(runs)}" if runs else "-")
        lines.append(f"| {algo} | " + " | ".join(cells) + f" | {'yes' if meets_shipping_rule(acting, algo) else 'no'} |")
    return lines


def shipping_decision(
    eligible: list[str], intervals: dict[str, tuple[float, float, float]], complete: bool
) -> tuple[str | None, list[str]]:
    """
    The issue's shipping rule on the confirmation: among the variants that meet the rule on Pendulum-v1, the one with
    the best confirmation IQM becomes the ``dsace`` default, provided its 95% CI does not lie wholly below the faithful
    DSAC-E's; else the default stays the faithful DSAC-E.

    :param eligible: the variants that meet the shipping rule (:func:`meets_shipping_rule`)
    :param intervals: per algorithm of the confirmation, ``(IQM, low, high)`` of its final returns
    :param complete: whether every run of the confirmation has finished (no decision before)
    :return: the variant to ship (``None``: the faithful DSAC-E stays, or no decision yet) and markdown lines that say
        why, with every confirmed variant set against each other algorithm (its CI wholly above, below, or overlapping)
    """
    if not complete:
        return None, ["Pending: the confirmation has not finished every run; no decision before it has."]
    lines = [
        "| variant | meets the rule on Pendulum-v1 | IQM [95% CI] | "
        + " | ".join(f"against {algo}" for algo in intervals)
        + " |",
        "| --- " * (len(intervals) + 3) + "|",
    ]
    candidates = []
    for variant, (iqm, low, high) in intervals.items():
        if variant == FAITHFUL:
            continue
        verdicts = ci_comparison(intervals, variant)
        verdicts[variant] = "-"
        lines.append(
            f"| {variant} | {'yes' if variant in eligible else 'no'} | {iqm:.0f} [{low:.0f}, {high:.0f}] | "
            + " | ".join(VERDICT_WORDS.get(verdicts[algo], verdicts[algo]) for algo in intervals)
            + " |"
        )
        if variant in eligible and verdicts.get(FAITHFUL) != "lower":
            candidates.append(variant)
    chosen = max(candidates, key=lambda variant: intervals[variant][0], default=None)
    lines += [
        "",
        f"Decision: `{chosen}` becomes the `dsace` default (the best confirmation IQM of the variants that meet the rule, "
        f"its CI not wholly below {FAITHFUL}'s)."
        if chosen
        else f"Decision: no variant meets the rule with a CI not wholly below {FAITHFUL}'s; the default stays {FAITHFUL}.",
    ]
    return chosen, lines


def confirmation_decision(finished: FinishedRuns) -> tuple[str | None, list[str]]:
    """:return: :func:`shipping_decision` on panel ``tec_confirm``'s result files"""
    spec = PANELS[CONFIRMATION]
    runs = completed_runs(CONFIRMATION_TASK, CONFIRMATION)
    complete = all(len(runs.get(algo, [])) == len(spec.seeds) for algo in spec.algos)
    scores = {algo: values.reshape(-1, 1) for algo, values in final_scores(runs).items()}
    acting = acting_runs(finished)
    eligible = [algo for algo in spec.algos if meets_shipping_rule(acting, algo)]
    return shipping_decision(eligible, iqm_with_ci(scores) if complete else {}, complete)


def plot_task(task: str, seed: int = 0) -> str:
    """
    Draw, per variant (one seed), the estimate against its target, alpha, and ``Q_e`` against the realised entropy:
    one row per hypothesis of :data:`HYPOTHESES`, each with the shipped DSAC-E beside its cells.
    """
    spec = PANELS[PANEL]
    fig, rows = plt.subplots(len(HYPOTHESES), 3, figsize=(18, 3.4 * len(HYPOTHESES)), squeeze=False)
    colours = dict(zip(spec.algos, plt.get_cmap("tab20").colors, strict=False))
    colours[REFERENCE] = "black"
    logs = {name: run_logs(task, name, seed) for name in spec.algos}  # each read once: the reference is in every row
    for axes, (hypothesis, cells) in zip(rows, HYPOTHESES.items(), strict=True):
        for algo_name in (REFERENCE, *cells):
            plot_variant(axes, algo_name, *logs[algo_name], colours[algo_name])
        axes[0].axhline(-1.0, color="grey", linestyle=":", label="target")
        axes[0].set_ylabel(hypothesis, fontsize=9)
        axes[0].set_yscale("symlog", linthresh=1.0)  # a diverging cell (entropy_tau=1 on Hopper-v4) hides the rest otherwise
        axes[1].set_yscale("log")
        axes[1].axhline(ALPHA_FLOOR, color="grey", linestyle=":")
        axes[2].set_yscale("symlog", linthresh=10.0)
        axes[0].legend(fontsize=7)
    titles = ("estimate / |target| (the temperature's constraint)", "alpha", "Q_e (solid) vs realised (dashed)")
    for axis, title in zip(rows[0], titles, strict=True):
        axis.set_title(title)
    for axis in rows[-1]:
        axis.set_xlabel("environment steps")
    fig.suptitle(f"Constraint study on {task}, seed {seed}")
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.98))  # room for the title above the first row's
    path = spec.results / f"{task}_constraint.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path.name


def run_logs(task: str, algo_name: str, seed: int) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """:return: a run's training log and its ``Q_e``-against-realised tracking (empty where not written yet)"""
    train = read_rows(result_path(task, algo_name, seed, "_train", PANEL))
    return train, read_rows(result_path(task, algo_name, seed, "_entropy", PANEL))


def plot_variant(
    axes: np.ndarray,
    algo_name: str,
    train: list[dict[str, float]],
    tracking: list[dict[str, float]],
    colour: tuple[float, ...] | str,
) -> None:
    """Draw one variant's run (its :func:`run_logs`) on one row of :func:`plot_task`; nothing without a training log."""
    if not train:
        return
    steps = [row["time/total_timesteps"] for row in train]
    key = estimate_key(PANELS[PANEL].algos[algo_name])
    axes[0].plot(steps, [row[key] / abs(row["train/entropy_budget"]) for row in train], color=colour, label=algo_name)
    axes[1].plot(steps, [row["train/ent_coef"] for row in train], color=colour)
    if tracking and key != "train/entropy":
        times = [row["timesteps"] for row in tracking]
        axes[2].plot(times, [row["q_e"] for row in tracking], "o-", color=colour)
        axes[2].plot(times, [row["realised"] for row in tracking], "s--", color=colour, alpha=0.5)


def final_episode_length(panel: str, task: str, algo: str, seed: int) -> float:
    """:return: the mean length of the last evaluation's deterministic episodes of a run (RL Zoo layout), NaN if none"""
    path = zoo_log_dir(task, algo, seed, panel) / "evaluations.npz"
    return float(np.mean(np.load(path)["ep_lengths"][-1])) if path.exists() else math.nan


def episode_length_rows() -> list[str]:
    """:return: markdown rows: per terminating task and algorithm, the final evaluation episodes' lengths per seed"""
    lines = []
    for panel, task in TERMINATING:
        for algo in completed_runs(task, panel):
            lengths = [final_episode_length(panel, task, algo, seed) for seed in range(5)]
            shown = ", ".join(f"{length:.0f}" for length in lengths if not math.isnan(length))
            lines.append(f"| {panel} | {task} | {algo} | {shown} |")
    return lines


def return_rows(task: str) -> list[str]:
    """:return: markdown rows of the final return's IQM with its 95% bootstrap interval, per variant"""
    scores = {algo: values.reshape(-1, 1) for algo, values in final_scores(completed_runs(task, PANEL)).items()}
    return [
        f"| {task} | {algo} | {len(scores[algo])} | {m:.0f} [{lo:.0f}, {hi:.0f}] |"
        for algo, (m, lo, hi) in iqm_with_ci(scores).items()
    ]


def write_study() -> str:
    """Write ``results/tec_tune/constraint_study.md`` with its figures; return its text."""
    spec = PANELS[PANEL]
    lines = [
        "# Constraint study (issue 28)",
        "",
        "Command: `python -m benchmarks.constraint_study`. " + __doc__.split("\n\n")[2],
    ]
    lines += ["", "## Does the temperature follow its constraint?", ""]
    header = ("task", "variant", "seed", "estimate", "last-quarter mean", "target", "configured", "gap", "alpha (end)", "acts")
    lines += ["| " + " | ".join((*header, "return")) + " |"]
    lines += ["| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    finished = {task: list(finished_states(task)) for task in spec.tasks}  # each run's CSVs read once
    for task in spec.tasks:
        lines += constraint_rows(task, finished)
    lines += ["", "## Where each variant acts (seeds acting of those finished)", ""]
    lines += ["| variant | " + " | ".join(spec.tasks) + " | meets the shipping rule (Pendulum-v1, seeds 0 and 1) |"]
    lines += ["| --- " * (len(spec.tasks) + 2) + "|", *acting_rows(finished)]
    lines += ["", f"## Shipping decision: the confirmation ({CONFIRMATION}, {CONFIRMATION_TASK}, final returns)", ""]
    lines += confirmation_decision(finished)[1]
    lines += ["", "## Final return (mean of the last 3 evaluations): IQM [95% CI]", "", "| task | variant | seeds | IQM |"]
    lines += ["| --- | --- | --- | --- |"]
    for task in spec.tasks:
        lines += return_rows(task)
    lines += ["", "## Figures", ""] + [f"![{task}]({plot_task(task)})" for task in spec.tasks]
    lines += ["", "## Episode lengths where episodes terminate (last evaluation, per seed)", ""]
    lines += ["| panel | task | algorithm | episode lengths |", "| --- | --- | --- | --- |", *episode_length_rows()]
    text = "\n".join(lines) + "\n"
    Path(spec.results / "constraint_study.md").write_text(text)
    return text


if __name__ == "__main__":
    print(write_study())
