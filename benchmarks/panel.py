"""
What the learning panels run and where their files live: tasks, algorithms, regimes and the result-file layout.

The runner (``benchmarks.learning``), the report (``benchmarks.report``) and the diagnostics
(``benchmarks.diagnostics``) import this module; the runner and the report also import the diagnostics, and nothing
imports the runner or the report back (no circle).

Panels (``python -m benchmarks.learning run --panel <name>``):

- ``short``: the first panel, SB3's 1:1 regime on short budgets (Pendulum-v1, InvertedDoublePendulum-v4, Hopper-v4
  30k), the same warm-up for every algorithm of a task; results in ``results/learning/``.
- ``P``: the papers' regime, 20 vectorised environments and one gradient step per vector step (20 environment steps
  per gradient step), compared at equal gradient steps: 50k gradient steps (1.01M environment steps, after a 10k
  warm-up), evaluated every 2,500 gradient steps. DSAC variants with the ``*_paper`` zoo files; SAC and TQC with their
  zoo entries (networks, learning rates, 10k warm-up) and the same sampling. Results in ``results/regime_P/``.
- ``P300``: the papers' regime where their headline claim is made: Ant-v4, 300k gradient steps (6.01M environment
  steps), evaluated every 5,000 gradient steps, DSAC-E, DSAC-T and SAC as in panel P. Results in ``results/regime_P300/``.
- ``tec_tune``: the constraint study's tuning panel (issue 28): DSAC-E's constraint options one by one and combined,
  and the w/o TEC / rho = 20 pairs, on Pendulum-v1, InvertedDoublePendulum-v4, Hopper-v4 (the short panel's budgets)
  and Reacher-v4 (20k), seeds 0-1; its DSAC-E cell is the bf16 panel's shipped-default runs (stored there). Results in
  ``results/tec_tune/``, study report ``python -m benchmarks.constraint_study``.
- ``tec_confirm``: the constraint study's confirmation (issue 28), Walker2d-v4 in SB3's regime (panel S's task and
  settings), seeds 0-4: today's shipped DSAC-E and DSAC-T, panel S's SAC (seeds 3-4 added there), the variants that
  act on Pendulum-v1 by the shipping rule and the trajectory-constraint variant nearest to it, with the shipped code
  path. Results in ``results/tec_confirm/``.
- ``S``: SB3's regime, 1 environment step per gradient step, compared at equal environment steps: 100k steps,
  evaluated every 5k, every algorithm with its shipped zoo settings, on Hopper-v4 and Walker2d-v4. Results in
  ``results/regime_S/``.
- ``rho``: Walker2d-v4 in the papers' regime, DSAC-E with rho = 1 against the shipped rho = 20. Results in
  ``results/rho/``; its rho = 20 cell is panel P's DSAC-E on Walker2d-v4 (``Algo.same_as``: those runs, not a rerun).
- ``rho_S``: the same question in SB3's regime (panel S's task and settings): DSAC-E with rho = 1 against the shipped
  rho = 20 and DSAC-T on Walker2d-v4, whose runs are panel S's. Results in ``results/rho_S/``.
- ``tec_S``: Walker2d-v4 in SB3's regime, DSAC-E w/o TEC (the separate reward and entropy critics, alpha tuned to the
  per-step target entropy) between DSAC-E and DSAC-T, whose runs are panel S's. Results in ``results/tec_S/``.
- ``bf16``: the learning check of ``matmul_precision="bfloat16"`` (every hidden layer of the actor and the critics):
  DSAC-E with its shipped zoo settings in float32 and in bfloat16 on the short panel's Pendulum-v1 and
  InvertedDoublePendulum-v4, same code and seeds; and of ``compile_update=True`` (``DSAC-E compiled``: bfloat16
  through ``torch.compile``). Results in ``results/bf16/``.
- ``bf16_S``: the same checks on a locomotion task, Hopper-v4 in SB3's regime (panel S's task and settings), whose
  float32 runs are panel S's DSAC-E. Results in ``results/bf16_S/``.

Files of one run (``<panel dir>/<task>/<algo>/``): ``seed<N>.csv`` (one row per evaluation: environment steps,
gradient steps, mean and std of 10 deterministic episodes, CPU and wall seconds so far), ``seed<N>_entropy.csv`` and
``seed<N>_train.csv`` (DSAC-E's diagnostics), ``seed<N>_run.json`` (versions, commit, machine, wall and CPU time, the
precision in use), ``seed<N>_starts.jsonl`` (each (re)start's step, CPU and precision: a resume on a CPU without native
bfloat16 falls back to float32), and
the same evaluations in the RL Zoo's layout, ``<panel dir>/zoo/<algo folder>/<task>_<seed + 1>/evaluations.npz``, for
``python -m rl_zoo3.plots.all_plots -f benchmarks/results/<panel dir>/zoo -a dsace sac -e Walker2d``.
"""

import csv
import functools
import inspect
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sb3_contrib import TQC
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.zoo.hyperparams import algorithm_kwargs, hyperparams_path

ROOT = Path(__file__).resolve().parent
RUNS = ROOT / "runs"
EVAL_EPISODES = 10
# The papers' regime: 20 environments, one gradient step per vector step; the official warm-up and evaluation period
PAPER_N_ENVS = 20
PAPER_WARMUP = 10_000
PAPER_GRADIENT_STEPS = 50_000
PAPER_EVAL_GRADIENT_STEPS = 2_500


@dataclass(frozen=True)
class Task:
    """
    A task of a panel: its budget and evaluation period, the warm-up every algorithm uses on it, and its sampling.

    :param env_id: Gymnasium id
    :param budget: environment steps
    :param eval_freq: evaluation period, in ``eval_unit``
    :param learning_starts: warm-up of every algorithm (``None``: each algorithm's zoo value)
    :param n_envs: vectorised environments; with one gradient step per vector step, also the env steps per update
    :param eval_unit: ``"env_steps"`` (equal environment steps, SB3's regime) or ``"gradient_steps"`` (the papers')
    """

    env_id: str
    budget: int
    eval_freq: int
    learning_starts: int | None
    n_envs: int = 1
    eval_unit: str = "env_steps"


@dataclass(frozen=True)
class Algo:
    """
    An algorithm of a panel: its class name, the zoo file its hyperparameters come from, and fixed overrides.

    :param cls: the algorithm class
    :param zoo_name: the zoo name of its hyperparameter file (ours: ``dsace``, ``dsace_paper``, ...; rl_zoo3's: ``sac``)
    :param overrides: keyword arguments that replace the file's
    :param zoo_folder: folder name of its runs in the RL Zoo's layout (what ``rl_zoo3.plots`` takes as ``-a``);
        default: the panel's name of the algorithm, lower case
    :param same_as: ``(panel, algorithm)`` of the identical cell of another panel, whose runs stand for this one's: they
        run once and are stored (results, checkpoints, zoo layout) under that panel and name
    """

    cls: type[BaseAlgorithm]
    zoo_name: str
    overrides: tuple[tuple[str, Any], ...] = ()
    zoo_folder: str | None = None
    same_as: tuple[str, str] | None = None


@dataclass(frozen=True)
class Panel:
    """A panel: tasks x algorithms x seeds, with its results folder and the cells that answer its main question."""

    folder: str
    tasks: dict[str, Task]
    algos: dict[str, Algo]
    seeds: tuple[int, ...] = (0, 1, 2)
    main_tasks: tuple[str, ...] = ()
    """the tasks of the panel's main question: the runner queues them (with ``main_algos``) first"""
    main_algos: tuple[str, ...] = ()
    reference: str = "DSAC-E"
    """the algorithm the report's comparison table sets against the others"""

    @property
    def results(self) -> Path:
        return ROOT / "results" / self.folder


def paper_task(env_id: str, gradient_steps: int = PAPER_GRADIENT_STEPS, eval_freq: int = PAPER_EVAL_GRADIENT_STEPS) -> Task:
    """
    A task of the papers' regime: ``gradient_steps`` (default 50k) after the 10k warm-up, evaluated every ``eval_freq``
    gradient steps (default 2,500).
    """
    budget = PAPER_WARMUP + gradient_steps * PAPER_N_ENVS
    return Task(env_id, budget, eval_freq, PAPER_WARMUP, PAPER_N_ENVS, "gradient_steps")


def sb3_task(env_id: str) -> Task:
    """A task of SB3's regime: 100k environment steps, evaluated every 5k, each algorithm's own warm-up."""
    return Task(env_id, 100_000, 5_000, None)


SHORT_TASKS = {
    "Pendulum-v1": Task("Pendulum-v1", budget=8_000, eval_freq=1_000, learning_starts=100),
    "InvertedDoublePendulum-v4": Task("InvertedDoublePendulum-v4", budget=20_000, eval_freq=2_000, learning_starts=1_000),
    "Hopper-v4": Task("Hopper-v4", budget=30_000, eval_freq=3_000, learning_starts=1_000),
}
WO_TEC = (("trajectory_entropy_constraint", False),)
# DSAC-E with the paper's trajectory entropy constraint: what every panel's "DSAC-E" cell on the ``dsace`` zoo file ran
# before 0.2.0, when that file (and the class) moved to the per-step form ("w/o TEC") by the constraint study's rule
WITH_TEC = (("trajectory_entropy_constraint", True),)
SHORT_ALGOS = {
    "DSAC-E": Algo(DSACE, "dsace", WITH_TEC, zoo_folder="dsace"),
    "DSAC-E w/o TEC": Algo(DSACE, "dsace", WO_TEC, "dsace-wo-tec"),
    "DSAC-T": Algo(DSACT, "dsact", zoo_folder="dsact"),
    "SAC": Algo(SAC, "sac"),
    "TQC": Algo(TQC, "tqc"),
}
# SAC and TQC in the papers' regime: their zoo entries, one gradient step per vector step of 20 environments
PAPER_SAMPLING = (("train_freq", 1), ("gradient_steps", 1))
PAPER_ALGOS = {
    "DSAC-E": Algo(DSACE, "dsace_paper", zoo_folder="dsace_paper"),
    "DSAC-E w/o TEC": Algo(DSACE, "dsace_paper", WO_TEC, "dsace_paper-wo-tec"),
    "DSAC-T": Algo(DSACT, "dsact_paper", zoo_folder="dsact_paper"),
    "SAC": Algo(SAC, "sac", PAPER_SAMPLING, "sac_paper"),
    "TQC": Algo(TQC, "tqc", PAPER_SAMPLING, "tqc_paper"),
}


def keeps_the_constraint(algo: Algo) -> bool:
    """
    :return: whether the cell is DSAC-E with its trajectory entropy constraint (the one with diagnostics to draw): its
        override, else its zoo file's ``default`` entry, else the class default
    """
    if algo.cls is not DSACE:
        return False
    overrides = {**zoo_default_entry(algo.zoo_name), **dict(algo.overrides)}
    default = inspect.signature(DSACE).parameters["trajectory_entropy_constraint"].default
    return bool(overrides.get("trajectory_entropy_constraint", default))


@functools.cache
def zoo_default_entry(zoo_name: str) -> dict[str, Any]:
    """:return: the ``default`` entry of one of our zoo files, read once (the reports ask it for every run's row)"""
    return algorithm_kwargs(hyperparams_path(zoo_name), "default")


def rho_panel(folder: str, task: Task, regime: str, algos: dict[str, Algo], also: tuple[str, ...] = ()) -> Panel:
    """
    A rho panel: DSAC-E with rho = 1 against the shipped rho = 20 on a Walker2d task, whose runs (and those of ``also``)
    are panel ``regime``'s, not reruns.

    :param folder: the panel's results folder
    :param task: the task, in the regime's budget
    :param regime: the panel whose runs stand for the shipped cells
    :param algos: that regime's algorithms (``SHORT_ALGOS`` or ``PAPER_ALGOS``)
    :param also: further algorithms of ``regime`` to set beside them
    """
    dsace = algos["DSAC-E"]
    cells = {
        "DSAC-E rho=20": replace(dsace, same_as=(regime, "DSAC-E")),
        "DSAC-E rho=1": Algo(DSACE, dsace.zoo_name, (*dsace.overrides, ("rho", 1.0)), f"{dsace.zoo_name}-rho1"),
    }
    cells |= runs_of(regime, algos, also)
    return Panel(folder, {task.env_id: task}, cells, reference="DSAC-E rho=20")


def runs_of(regime: str, algos: dict[str, Algo], names: tuple[str, ...]) -> dict[str, Algo]:
    """:return: cells of panel ``regime`` under the same names, standing for themselves in another panel (not rerun)"""
    return {name: replace(algos[name], same_as=(regime, name)) for name in names}


BF16_ALGO = Algo(DSACE, "dsace", (*WITH_TEC, ("matmul_precision", "bfloat16")), "dsace-bf16")
# the learning check of the compiled step (issue 29): bfloat16 (today's default) through torch.compile
COMPILED_ALGO = Algo(DSACE, "dsace", (*WITH_TEC, ("matmul_precision", "bfloat16"), ("compile_update", True)), "dsace-compiled")


# compile_update="auto" became DSACE's default on 2026-12-02, after panels P300 and tec_tune had started: their
# DSAC-E and DSAC-T cells keep the eager step they began with (a run resumed from a checkpoint keeps its saved setting)
EAGER_STEP = ("compile_update", False)


def eager_step(algo: Algo) -> Algo:
    """:return: ``algo`` with the eager gradient step"""
    return replace(algo, overrides=(*algo.overrides, EAGER_STEP))


def dsace_variant(name: str, *overrides: tuple[str, Any]) -> Algo:
    """
    :return: DSAC-E's ``dsace`` zoo settings with the trajectory entropy constraint (the shipped DSAC-E when the study
        ran) and ``overrides`` (which may turn it off), its zoo logs under ``dsace-<name>``
    """
    return Algo(DSACE, "dsace", (*WITH_TEC, *overrides), f"dsace-{name}")


def study_cell(name: str, *overrides: tuple[str, Any]) -> Algo:
    """A variant of the constraint study: :func:`dsace_variant` with the eager step."""
    return eager_step(dsace_variant(name, *overrides))


ENTROPY_TAU_1 = ("entropy_tau", 1.0)
# between the shipped 0.005 and 1.0 (which diverged on Hopper-v4): Q_e's time constant a tenth of the shipped one
ENTROPY_TAU_005 = ("entropy_tau", 0.05)
DUAL = ("temperature_update", "dual")
INITIAL = ("constraint_states", "initial")
RHO_20 = ("rho", 20.0)
ANNEAL = ("budget_schedule", "anneal")
PID = ("temperature_update", "pid")
# the constraint study (issue 28, docs: benchmarks/constraint_study): each hypothesis a cell, tuned on short tasks
TEC_STUDY_ALGOS = {
    "DSAC-E": replace(BF16_ALGO, same_as=("bf16", "DSAC-E bf16")),  # the shipped default: those runs, same code path
    "entropy_tau=1": study_cell("etau1", ENTROPY_TAU_1),
    "dual": study_cell("dual", DUAL),
    "initial": study_cell("initial", INITIAL),
    "dual+entropy_tau=1": study_cell("dual-etau1", DUAL, ENTROPY_TAU_1),
    "dual+initial+entropy_tau=1": study_cell("dual-initial-etau1", DUAL, INITIAL, ENTROPY_TAU_1),
    "w/o TEC": study_cell("wo-tec", *WO_TEC),
    "rho=20": study_cell("rho20", RHO_20),
    "w/o TEC rho=20": study_cell("wo-tec-rho20", *WO_TEC, RHO_20),
    "anneal": study_cell("anneal", ANNEAL),
    "anneal rho=20": study_cell("anneal-rho20", ANNEAL, RHO_20),
    "anneal+dual+entropy_tau=1 rho=20": study_cell("anneal-dual-etau1-rho20", ANNEAL, DUAL, ENTROPY_TAU_1, RHO_20),
    "entropy_tau=0.05": study_cell("etau005", ENTROPY_TAU_005),
    "dual+entropy_tau=0.05": study_cell("dual-etau005", DUAL, ENTROPY_TAU_005),
    "pid": study_cell("pid", PID),
    "pid+entropy_tau=0.05": study_cell("pid-etau005", PID, ENTROPY_TAU_005),
}

PANELS = {
    "short": Panel("learning", SHORT_TASKS, SHORT_ALGOS),
    # the main question first: DSAC-E against DSAC-T and SAC on Walker2d and Ant
    "P": Panel(
        "regime_P",
        {env_id: paper_task(env_id) for env_id in ("Walker2d-v4", "Ant-v4", "Hopper-v4", "HalfCheetah-v4")},
        {name: PAPER_ALGOS[name] for name in ("DSAC-E", "DSAC-T", "SAC", "DSAC-E w/o TEC", "TQC")},
        main_tasks=("Walker2d-v4", "Ant-v4"),
        main_algos=("DSAC-E", "DSAC-T", "SAC"),
    ),
    # the papers' claim where it is made (DSAC-E +21.9% over DSAC-T on Ant): 300k gradient steps, 6M environment steps
    "P300": Panel(
        "regime_P300",
        {"Ant-v4": paper_task("Ant-v4", gradient_steps=300_000, eval_freq=5_000)},
        {"DSAC-E": eager_step(PAPER_ALGOS["DSAC-E"]), "DSAC-T": eager_step(PAPER_ALGOS["DSAC-T"]), "SAC": PAPER_ALGOS["SAC"]},
        main_tasks=("Ant-v4",),
        main_algos=("DSAC-E", "DSAC-T", "SAC"),
    ),
    "S": Panel(
        "regime_S",
        # HalfCheetah-v4 was "if the budget allows" in the brief: not run, the panels had spent 3.5x their 12 CPU hours
        {env_id: sb3_task(env_id) for env_id in ("Hopper-v4", "Walker2d-v4")},
        {name: SHORT_ALGOS[name] for name in ("DSAC-E", "DSAC-T", "SAC", "TQC")},
    ),
    "rho": rho_panel("rho", paper_task("Walker2d-v4"), "P", PAPER_ALGOS),
    # SB3's regime: panel S's DSAC-E (rho = 20) lost to DSAC-T on Walker2d-v4 with its temperature annealed to ~1e-11
    "rho_S": rho_panel("rho_S", sb3_task("Walker2d-v4"), "S", SHORT_ALGOS, also=("DSAC-T",)),
    # what else separates DSAC-E from DSAC-T on Walker2d-v4 at 1:1: the trajectory entropy constraint, or the separate
    # reward and entropy critics (DSAC-E w/o TEC has those critics and DSAC-T's per-step temperature tuning)
    "tec_S": Panel(
        "tec_S",
        {"Walker2d-v4": sb3_task("Walker2d-v4")},
        {
            **runs_of("S", SHORT_ALGOS, ("DSAC-E",)),
            "DSAC-E w/o TEC": SHORT_ALGOS["DSAC-E w/o TEC"],
            **runs_of("S", SHORT_ALGOS, ("DSAC-T",)),
        },
        reference="DSAC-E w/o TEC",
    ),
    # the learning check of the speed option (docs/benchmarks/speed.rst): float32 against bfloat16, same code and seeds
    "bf16": Panel(
        "bf16",
        {name: SHORT_TASKS[name] for name in ("Pendulum-v1", "InvertedDoublePendulum-v4")},
        {
            "DSAC-E": SHORT_ALGOS["DSAC-E"],
            "DSAC-E bf16": BF16_ALGO,
            "DSAC-E compiled": COMPILED_ALGO,
        },
    ),
    "bf16_S": Panel(
        "bf16_S",
        {"Hopper-v4": sb3_task("Hopper-v4")},
        {**runs_of("S", SHORT_ALGOS, ("DSAC-E",)), "DSAC-E bf16": BF16_ALGO, "DSAC-E compiled": COMPILED_ALGO},
        reference="DSAC-E bf16",
    ),
    # panel S ran DSAC-E and DSAC-T before the bfloat16 and compiled-step defaults: fresh runs; SAC's code is unchanged
    "tec_confirm": Panel(
        "tec_confirm",
        {"Walker2d-v4": sb3_task("Walker2d-v4")},
        {
            "DSAC-E": SHORT_ALGOS["DSAC-E"],
            "DSAC-T": SHORT_ALGOS["DSAC-T"],
            **runs_of("S", SHORT_ALGOS, ("SAC",)),
            "w/o TEC": SHORT_ALGOS["DSAC-E w/o TEC"],  # acts on Pendulum-v1 seeds 0-1 (5%, 7%)
            # the trajectory-constraint variant nearest the shipping rule (Pendulum-v1 14% and 19%; seed 0 of
            # InvertedDoublePendulum-v4, Hopper-v4, Reacher-v4: 10%, 6%, 5%): is a constraint that acts worth anything?
            "dual+entropy_tau=0.05": dsace_variant("dual-etau005", DUAL, ENTROPY_TAU_005),
        },
        seeds=(0, 1, 2, 3, 4),
    ),
    "tec_tune": Panel(
        "tec_tune",
        {
            **{name: SHORT_TASKS[name] for name in ("Pendulum-v1", "InvertedDoublePendulum-v4", "Hopper-v4")},
            "Reacher-v4": Task("Reacher-v4", budget=20_000, eval_freq=2_000, learning_starts=1_000),
        },
        TEC_STUDY_ALGOS,
        seeds=(0, 1),
        main_tasks=("Pendulum-v1",),
        main_algos=tuple(TEC_STUDY_ALGOS),
    ),
}
# the first panel's names, which benchmarks.defaults_study and the tests use
TASKS = PANELS["short"].tasks
ALGOS = PANELS["short"].algos


def algo_folder(algo: str) -> str:
    return algo.replace(" ", "_").replace("/", "").replace("=", "")


def stored_as(panel: str, algo: str) -> tuple[str, str]:
    """:return: the panel and algorithm name a cell's runs are stored under: its own, or those of its ``same_as`` cell"""
    spec = PANELS[panel].algos.get(algo)
    return spec.same_as if spec is not None and spec.same_as is not None else (panel, algo)


def run_dir(task: str, algo: str, seed: int, panel: str = "short") -> Path:
    """Checkpoints and logs of a run in progress (not committed)."""
    panel, algo = stored_as(panel, algo)
    return RUNS / PANELS[panel].folder / task / algo_folder(algo) / f"seed{seed}"


def result_path(task: str, algo: str, seed: int, suffix: str = "", panel: str = "short") -> Path:
    """A result file of a run (committed): ``seed<N><suffix>.csv``."""
    panel, algo = stored_as(panel, algo)
    return PANELS[panel].results / task / algo_folder(algo) / f"seed{seed}{suffix}.csv"


def zoo_log_dir(task: str, algo: str, seed: int, panel: str = "short") -> Path:
    """The run's folder in the RL Zoo's layout: ``<panel dir>/zoo/<algo folder>/<task>_<seed + 1>``."""
    panel, algo = stored_as(panel, algo)
    folder = PANELS[panel].algos[algo].zoo_folder or algo_folder(algo).lower()
    return PANELS[panel].results / "zoo" / folder / f"{task}_{seed + 1}"


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
