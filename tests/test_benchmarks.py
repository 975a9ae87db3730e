"""
Logic of the learning benchmark (resume bookkeeping, report aggregation, diagnostics sums) on synthetic files, and
tiny real runs of the runner in both sampling regimes.
"""

import collections
import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch as th

from benchmarks import learning, mutation, panel, report, sb3_suite
from benchmarks.diagnostics import discounted_future_sum
from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.checkpoint import read_sets


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setattr(panel, "ROOT", tmp_path)
    monkeypatch.setattr(panel, "RUNS", tmp_path / "runs")
    return tmp_path


def test_discounted_future_sum():
    values, gamma = np.array([1.0, 2.0, 3.0, 4.0]), 0.5
    expected = [sum(gamma**k * values[t + k] for k in range(1, len(values) - t)) for t in range(len(values))]
    np.testing.assert_allclose(discounted_future_sum(values, gamma), expected)


def test_keep_rows_up_to(folders):
    path = panel.result_path("Pendulum-v1", "SAC", 0)
    for step in (1000, 2000, 3000):
        panel.append_row(path, dict(timesteps=step, mean=-step, std=1.0))
    learning.keep_rows_up_to(path, 2000)
    assert [row["timesteps"] for row in panel.read_rows(path)] == [1000, 2000]


def test_zoo_layout_evaluations_append_and_truncate(folders):
    folder = panel.zoo_log_dir("Walker2d-v4", "DSAC-E", 1, "P")
    assert folder == folders / "results" / "regime_P" / "zoo" / "dsace_paper" / "Walker2d-v4_2"
    for step in (100, 200, 300):
        learning.append_zoo_evaluation(folder, step, [step, step + 1.0], [10, 20])
    learning.keep_zoo_evaluations_up_to(folder, 200)
    log = np.load(folder / "evaluations.npz")
    assert log["timesteps"].tolist() == [100, 200]
    assert log["results"].tolist() == [[100, 101], [200, 201]] and log["ep_lengths"].shape == (2, 2)


def test_train_log_drops_rows_redone_after_resume(folders):
    run = panel.run_dir("Pendulum-v1", "DSAC-E", 0)
    for start, steps in ((0, (200, 400, 600)), (400, (600, 800))):
        log = run / f"log_{start:09d}" / "progress.csv"
        log.parent.mkdir(parents=True)
        log.write_text("time/total_timesteps,train/ent_coef\n" + "".join(f"{step},{start + step}\n" for step in steps))
    panel.result_path("Pendulum-v1", "DSAC-E", 0).parent.mkdir(parents=True)
    learning.copy_train_log("short", "Pendulum-v1", "DSAC-E", 0)
    rows = panel.read_rows(panel.result_path("Pendulum-v1", "DSAC-E", 0, "_train"))
    assert [(row["time/total_timesteps"], row["train/ent_coef"]) for row in rows] == [
        (200, 200),
        (400, 400),
        (600, 1000),
        (800, 1200),
    ]


def test_completed_runs_reads_up_to_the_budget(folders):
    budget, freq = panel.TASKS["Pendulum-v1"].budget, panel.TASKS["Pendulum-v1"].eval_freq
    for seed, last in ((0, budget + freq), (1, budget), (2, budget - freq)):  # longer, finished, unfinished
        for step in range(freq, last + 1, freq):
            panel.append_row(panel.result_path("Pendulum-v1", "SAC", seed), dict(timesteps=step, mean=step, std=0.0))
    runs = report.completed_runs("Pendulum-v1")
    assert len(runs["SAC"]) == 2
    # the final return is the mean of the last three evaluations up to the budget
    assert report.final_scores(runs)["SAC"].tolist() == [budget - freq, budget - freq]


def test_normalised_aggregate_keeps_a_task_when_only_an_ablation_is_short_of_seeds():
    seeds = report.MIN_SEEDS
    task_scores = {
        # the ablation's one finished seed keeps it out of the comparison, not the task out of the aggregate
        "a": {"SAC": np.full(seeds, 10.0), "DSAC-E": np.full(seeds, 5.0), "w/o TEC": np.full(1, 7.0)},
        "b": {"SAC": np.full(seeds, -100.0), "DSAC-E": np.full(seeds - 1, -550.0)},  # too few seeds of the reference
        "c": {"SAC": np.full(seeds, 900.0), "DSAC-E": np.full(seeds, 800.0)},  # SAC below random actions: no scale
        "d": {"SAC": np.full(seeds, 20.0), "DSAC-E": np.full(seeds, 30.0), "w/o TEC": np.full(seeds, 0.0)},
    }
    lows = {"a": 0.0, "b": -1000.0, "c": 1000.0, "d": 10.0}
    assert report.with_enough_seeds(task_scores["a"]).keys() == {"SAC", "DSAC-E"}
    tasks = report.aggregated_tasks(task_scores, lows, "DSAC-E")
    assert tasks == ["a", "d"]
    norm = report.normalised(task_scores, lows, tasks)
    assert norm.keys() == {"SAC", "DSAC-E"}  # "w/o TEC" lacks seeds on "a", so it is not aggregated over both
    np.testing.assert_allclose(norm["DSAC-E"], np.tile([0.5, 2.0], (seeds, 1)))
    iqm, low, high = report.iqm_with_ci(norm)["SAC"]
    assert iqm == low == high == 1.0
    assert report.aggregated_tasks(task_scores, lows, "w/o TEC") == ["d"]


def test_bootstrap_intervals_do_not_depend_on_global_numpy_state_or_on_the_other_algorithms():
    scores = {"SAC": np.array([[0.2, 1.4], [1.1, 0.7], [0.9, 2.0], [0.4, 1.0]]), "DSAC-E": np.array([[0.5], [3.0], [1.2]])}
    np.random.seed(1)
    first = report.iqm_with_ci(scores)
    np.random.seed(2)
    after_other_draws = report.iqm_with_ci(scores)
    assert first == after_other_draws
    assert report.iqm_with_ci({"DSAC-E": scores["DSAC-E"]})["DSAC-E"] == first["DSAC-E"]
    _, low, high = first["SAC"]
    assert low < high  # the scores differ, so the resamples must too
    np.random.seed(3)
    next_draw = np.random.random_sample()
    np.random.seed(3)
    report.iqm_with_ci(scores)
    assert np.random.random_sample() == next_draw  # the caller's generator is left as it was


def test_random_policy_return_is_seeded_and_far_below_a_solved_task():
    # Pendulum: random torques score about -1,200 per 200-step episode; a solved pendulum about -150
    first = report.random_policy_return("Pendulum-v1", episodes=3)
    assert first == report.random_policy_return("Pendulum-v1", episodes=3)
    assert -1800.0 < first < -600.0


@pytest.mark.parametrize("rho_panel, regime_panel, zoo_folder", [("rho", "P", "dsace_paper"), ("rho_S", "S", "dsace")])
def test_the_rho_panels_shipped_cell_is_its_regime_panels_run(rho_panel, regime_panel, zoo_folder):
    shipped = panel.result_path("Walker2d-v4", "DSAC-E", 1, "", regime_panel)
    assert panel.result_path("Walker2d-v4", "DSAC-E rho=20", 1, "", rho_panel) == shipped
    shipped_runs = panel.run_dir("Walker2d-v4", "DSAC-E", 1, regime_panel)
    assert panel.run_dir("Walker2d-v4", "DSAC-E rho=20", 1, rho_panel) == shipped_runs
    assert panel.zoo_log_dir("Walker2d-v4", "DSAC-E rho=20", 1, rho_panel).parent.name == zoo_folder
    assert rho_panel in panel.result_path("Walker2d-v4", "DSAC-E rho=1", 1, "", rho_panel).parts


def test_the_tec_panel_runs_only_dsace_without_tec_and_reads_panel_s_for_the_rest():
    tec = panel.PANELS["tec_S"]
    for name in ("DSAC-E", "DSAC-T"):
        assert panel.result_path("Walker2d-v4", name, 2, "", "tec_S") == panel.result_path("Walker2d-v4", name, 2, "", "S")
    assert "tec_S" in panel.result_path("Walker2d-v4", "DSAC-E w/o TEC", 2, "", "tec_S").parts
    assert dict(tec.algos["DSAC-E w/o TEC"].overrides) == {"trajectory_entropy_constraint": False}
    assert tec.tasks["Walker2d-v4"] == panel.PANELS["S"].tasks["Walker2d-v4"]


def test_equal_cpu_rows_read_every_run_at_the_cheapest_runs_end(folders):
    def run(cpu_per_step: float) -> list[dict[str, float]]:
        return [dict(timesteps=s, gradient_steps=s, mean=s / 10, cpu_seconds=s * cpu_per_step) for s in range(0, 601, 100)]

    # SAC ends at 600 CPU s; DSAC-E (twice as slow per step) had reached 300 steps by then, its seeds alike
    runs = {"SAC": [run(1.0)], "DSAC-E": [run(2.0), run(2.0)]}
    rows = report.equal_cpu_rows("Pendulum-v1", runs, "short")
    # the return there is the mean of the last three evaluations up to then: (10 + 20 + 30) / 3 for DSAC-E
    sac, dsace = "| Pendulum-v1 | 10.0 | SAC | 1 | 600 environment steps | 50.0 |", "| 2 | 300 environment steps | 20.0 |"
    assert rows[0] == sac and rows[1].endswith(dsace)
    assert report.equal_cpu_rows("Pendulum-v1", {"SAC": [[dict(timesteps=100, mean=1.0)]]}, "short") == []


def test_diagnostics_rows_tell_when_the_budget_was_first_met(folders):
    def log(task: str, algo: str, rows: list[dict[str, float]]) -> None:
        for row in rows:
            panel.append_row(panel.result_path(task, algo, 0, "_train", "short"), row)
        panel.result_path(task, algo, 0, "_run", "short").with_suffix(".json").write_text("{}")

    keys = ("time/total_timesteps", "train/ent_coef", "train/entropy", "train/trajectory_entropy", "train/entropy_budget")
    within = [(100, 1.0, 2.0, 50.0, -10.0), (200, 0.5, 1.0, -10.0, -10.0), (300, 0.6, -1.0, -20.0, -10.0)]
    log("Pendulum-v1", "DSAC-E", [dict(zip(keys, values, strict=True)) for values in within])
    panel.append_row(panel.result_path("Pendulum-v1", "DSAC-E", 0, "_entropy", "short"), dict(q_e=-12.4, realised=-15.6))
    # SAC logs alpha only; a NaN (a row without that key) is skipped back to the last logged value
    log("Pendulum-v1", "SAC", [{"time/total_timesteps": 100, "train/ent_coef": 0.2}, {"time/total_timesteps": 200}])
    rows = report.diagnostics_rows("Pendulum-v1", "short")
    assert "| Pendulum-v1 | DSAC-E | 0 | 0.6 | -1.0 | -20 | -10 | 200 | -12 / -16 |" in rows
    assert "| Pendulum-v1 | SAC | 0 | 0.2 | not logged |  |  |  |  |" in rows and len(rows) == 2
    assert report.first_step_within_budget([dict(zip(keys, within[0], strict=True))]) == "never"


def test_ci_comparison_separates_only_disjoint_intervals():
    intervals = {"DSAC-E": (5.0, 4.0, 6.0), "SAC": (2.0, 1.0, 3.0), "TQC": (7.0, 6.5, 8.0), "DSAC-T": (5.5, 5.9, 7.0)}
    assert report.ci_comparison(intervals, "DSAC-E") == {"SAC": "higher", "TQC": "lower", "DSAC-T": "overlapping"}
    # rows only when the reference is among the algorithms
    assert report.comparison_rows("Ant-v4", intervals, "DSAC-E")[0] == "| Ant-v4 | SAC | higher |"
    assert report.comparison_rows("Ant-v4", {"SAC": (1.0, 1.0, 1.0)}, "DSAC-E") == []
    # a panel names its own reference: the rho panel sets the shipped rho against rho = 1
    assert all(spec.reference in spec.algos for spec in panel.PANELS.values())
    rho = {"DSAC-E rho=20": (5.0, 4.0, 6.0), "DSAC-E rho=1": (2.0, 1.0, 3.0)}
    assert report.comparison_rows("W", rho, panel.PANELS["rho"].reference) == ["| W | DSAC-E rho=1 | higher |"]


def test_status_costs_what_is_left_from_the_finished_runs(folders, monkeypatch):
    tasks = {name: panel.Task(name, 1_000, 100, 10) for name in ("a", "b")}
    algos = {name: panel.Algo(learning.DSACE, "dsace") for name in ("X", "Y")}
    monkeypatch.setitem(panel.PANELS, "synthetic", panel.Panel("synthetic", tasks, algos))
    for task, algo, minutes in (("a", "X", 10.0), ("a", "Y", 30.0), ("b", "Y", 50.0)):
        path = panel.result_path(task, algo, 0, "_run", "synthetic").with_suffix(".json")
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(dict(cpu_seconds=minutes * 60)))
    for seed, checkpoint in ((1, True), (2, False)):  # half-way, with and without a checkpoint on this machine
        panel.append_row(panel.result_path("b", "X", seed, "", "synthetic"), dict(timesteps=500, mean=0.0))
        if checkpoint:
            manifest = panel.run_dir("b", "X", seed, "synthetic") / "rl_model_manifest_500_steps.json"
            manifest.parent.mkdir(parents=True)
            manifest.write_text(json.dumps({"files": {"model": {"name": "rl_model_500_steps.zip"}}}))
    queue = learning.jobs("synthetic", ["a", "b"], ["X", "Y"], [0, 1, 2])
    rows, spent, left = learning.status(queue)
    assert spent == pytest.approx(90 / 60) and len(rows) == len(queue) - 3
    # b/X has no finished run: X's mean elsewhere (10); a/Y: its own (30); b/X seed 1 is half done
    assert "| b | X | 1 | 50% | 5 |" in rows and "| b | X | 2 | 0% | 10 |" in rows and "| a | Y | 1 | 0% | 30 |" in rows
    assert left == pytest.approx((10 + 10 + 30 + 30 + 10 + 5 + 10 + 50 + 50) / 60)  # a/X, a/Y, b/X, b/Y


def test_queue_answers_the_main_question_first():
    queue = learning.jobs("P", list(panel.PANELS["P"].tasks), list(panel.PANELS["P"].algos), [0, 1, 2])
    main = [job for job in queue if job[1] in ("Walker2d-v4", "Ant-v4") and job[2] in ("DSAC-E", "DSAC-T", "SAC")]
    assert queue[: len(main)] == main and len(main) == 2 * 3 * 3
    assert len(queue) == 4 * 5 * 3


def test_panels_of_the_two_regimes():
    paper, sb3 = panel.PANELS["P"], panel.PANELS["S"]
    walker = paper.tasks["Walker2d-v4"]
    # 50k gradient steps after the 10k warm-up, 20 env steps each, evaluated every 2,500 gradient steps
    assert (walker.budget, walker.n_envs, walker.eval_freq, walker.eval_unit) == (1_010_000, 20, 2_500, "gradient_steps")
    assert dict(paper.algos["SAC"].overrides) == {"train_freq": 1, "gradient_steps": 1}
    assert paper.algos["DSAC-E"].zoo_name == "dsace_paper" and sb3.algos["DSAC-E"].zoo_name == "dsace"
    assert (sb3.tasks["Hopper-v4"].budget, sb3.tasks["Hopper-v4"].learning_starts) == (100_000, None)


TINY = (("policy_kwargs", dict(net_arch=[16, 16])), ("batch_size", 32), ("buffer_size", 5_000))


@pytest.mark.parametrize("n_envs, eval_unit", [(1, "env_steps"), (20, "gradient_steps")])
def test_a_tiny_run_writes_every_file_and_resumes(folders, monkeypatch, capsys, n_envs, eval_unit):
    def tiny_panel(gradient_steps: int) -> panel.Panel:
        # a 100-step warm-up, then gradient steps; evaluations every 10 gradient steps or 60 env steps
        budget = 100 + gradient_steps * n_envs
        task = panel.Task("Pendulum-v1", budget, 10 if eval_unit == "gradient_steps" else 60, 100, n_envs, eval_unit)
        algo = panel.Algo(learning.DSACE, "dsace", (*TINY, ("train_freq", 1), ("gradient_steps", 1)), "tiny-dsace")
        return panel.Panel("tiny", {"Pendulum-v1": task}, {"DSAC-E": algo})

    monkeypatch.setattr(learning, "EVAL_EPISODES", 2)
    monkeypatch.setitem(panel.PANELS, "tiny", tiny_panel(20))
    # the default ("auto") computes in float32 on a CPU where bfloat16 does not pay; resumed on one where it does, the
    # run says so
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_pays", lambda device: False)
    cpu_seconds = learning.run_one(("tiny", "Pendulum-v1", "DSAC-E", 0))
    assert learning.run_one(("tiny", "Pendulum-v1", "DSAC-E", 0)) == cpu_seconds and "already done" in capsys.readouterr().out
    monkeypatch.setitem(panel.PANELS, "tiny", tiny_panel(40))  # a larger budget: the run resumes from its checkpoint
    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_pays", lambda device: True)
    learning.run_one(("tiny", "Pendulum-v1", "DSAC-E", 0))

    rows = panel.read_rows(panel.result_path("Pendulum-v1", "DSAC-E", 0, "", "tiny"))
    timesteps = [row["timesteps"] for row in rows]
    assert timesteps[0] == 0 and timesteps[-1] == 100 + 40 * n_envs  # before the first step and at the end
    assert timesteps == sorted(set(timesteps))  # resumed, not restarted or repeated
    # one complete checkpoint set kept, the last one, and no temporary file
    run = panel.run_dir("Pendulum-v1", "DSAC-E", 0, "tiny")
    assert [checkpoint.steps for checkpoint in read_sets(run)] == [timesteps[-1]] and not list(run.glob(".*"))
    if eval_unit == "gradient_steps":
        assert [row["gradient_steps"] for row in rows] == [0, 10, 20, 30, 40]
    assert all(0 <= earlier["cpu_seconds"] <= later["cpu_seconds"] for earlier, later in itertools.pairwise(rows))
    zoo_log = np.load(panel.zoo_log_dir("Pendulum-v1", "DSAC-E", 0, "tiny") / "evaluations.npz")
    assert zoo_log["timesteps"].tolist() == timesteps and zoo_log["results"].shape == (len(rows), 2)
    info = json.loads(panel.result_path("Pendulum-v1", "DSAC-E", 0, "_run", "tiny").with_suffix(".json").read_text())
    assert info["versions"]["sb3-tecrl"] and info["cpu_seconds"] >= rows[-1]["cpu_seconds"] and len(info["commit"]) >= 40
    assert "torch CPU capability" in info["cpu"]  # the CPU that the cost was measured on
    assert info["precision"] == "float32, then bfloat16"
    assert [start["timesteps"] for start in info["starts"]] == [0, 100 + 20 * n_envs]
    assert [start["precision"] for start in info["starts"]] == ["float32", "bfloat16"]
    assert panel.result_path("Pendulum-v1", "DSAC-E", 0, "_entropy", "tiny").exists()
    text = report.write_report("tiny")
    assert "Pendulum-v1_curves.png" in text and "| Pendulum-v1 | DSAC-E | 0 | float32, then bfloat16 |" in text

    # a cell of another panel that stands for this run: nothing reruns, and its report reads this run's files
    alias = panel.replace(tiny_panel(40).algos["DSAC-E"], same_as=("tiny", "DSAC-E"))
    monkeypatch.setitem(panel.PANELS, "alias", panel.Panel("alias", tiny_panel(40).tasks, {"DSAC-E again": alias}))
    learning.run_one(("alias", "Pendulum-v1", "DSAC-E again", 0))
    assert "already done" in capsys.readouterr().out
    text = report.write_report("alias")
    assert "| Pendulum-v1 | DSAC-E again | 0 |" in text


def test_a_restart_from_an_earlier_checkpoint_drops_the_starts_it_redoes(folders):
    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]), matmul_precision="float32")
    for steps in (0, 500, 900, 500):  # the start at 900 died before its next checkpoint; its steps are redone from 500
        model.num_timesteps = steps
        starts = learning.record_start("P", "Pendulum-v1", "DSAC-E", 0, model, f"start at {steps}")
    assert [start["started"] for start in starts] == ["start at 0", "start at 500"]
    assert learning.starts_path("P", "Pendulum-v1", "DSAC-E", 0).read_text().count("\n") == 2
    assert {start["precision"] for start in starts} == {"float32"} and "torch CPU capability" in starts[0]["cpu"]


def test_the_precision_of_runs_recorded_before_it_was_is_inferred_from_their_cpu_or_not_at_all():
    dsace, sac = panel.PANELS["S"].algos["DSAC-E"], panel.PANELS["S"].algos["SAC"]
    amx, avx2 = "Intel Xeon (avx2, amx_bf16; torch CPU capability AVX512)", "AMD EPYC (avx2; torch CPU capability AVX2)"
    after, before = "2026-12-02T10:00:00+00:00", "2026-11-30T10:00:00+00:00"  # the bfloat16 default's date between
    assert report.run_precision(dict(precision="bfloat16, then float32"), dsace) == "bfloat16, then float32"
    assert report.run_precision(dict(last_start=after, cpu=amx), sac) == "float32"
    assert report.run_precision(dict(last_start=after), dsace) == "not recorded"
    assert report.run_precision(dict(last_start=after, cpu=amx), dsace) == "bfloat16 at its last start"
    assert report.run_precision(dict(last_start=before, cpu=amx), dsace) == "float32 at its last start"
    assert report.run_precision(dict(last_start=after, cpu=avx2), dsace) == "float32 at its last start"
    float32 = panel.replace(dsace, overrides=(*dsace.overrides, ("matmul_precision", "float32")))
    assert report.run_precision(dict(last_start=after, cpu=amx), float32) == "float32 at its last start"


def test_the_run_table_names_a_cell_whose_runs_differ_in_precision(folders, monkeypatch):
    algos = {name: panel.PANELS["S"].algos[name] for name in ("DSAC-E", "SAC")}
    monkeypatch.setitem(panel.PANELS, "mixed", panel.Panel("mixed", {"Hopper-v4": panel.sb3_task("Hopper-v4")}, algos))
    runs = [("DSAC-E", 0, "bfloat16"), ("DSAC-E", 1, "float32"), ("DSAC-E", 2, "bfloat16"), ("SAC", 0, "float32")]
    for algo, seed, precision in [*runs, ("SAC", 1, "float32")]:
        info = dict(cpu_seconds=60, wall_seconds=60, finished="now", commit="0" * 40, versions={}, precision=precision)
        path = panel.result_path("Hopper-v4", algo, seed, "_run", "mixed").with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info))
    lines = report.run_table("mixed")
    assert "| Hopper-v4 | DSAC-E | 1 | float32 | 1.0 |" in "\n".join(lines)
    assert lines[-1] == "- Hopper-v4, DSAC-E: bfloat16 (seeds 0, 2); float32 (seed 1)"  # SAC's runs agree: no line
    assert sum(line.startswith("- ") for line in lines) == 1


def test_the_limit_measure_records_every_product_of_a_step_with_its_shape_and_dtype(monkeypatch):
    from benchmarks import speed

    monkeypatch.setattr("sb3_tecrl.dsace.dsace.bfloat16_matmul_supported", lambda device: True)
    products = {}
    for precision in ("float32", "bfloat16"):
        model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8, 8]), learning_starts=300,
                      matmul_precision=precision, device="cpu", seed=0)  # fmt: skip
        model.learn(300)
        products[precision] = speed.recorded_products(model)
    # the critics' 8x8 hidden layer (3 members: two reward critics and the entropy critic) in the step's precision,
    # forward (target, online, frozen under the actor's loss) and backward (online: input and weight; frozen: input)
    hidden = [(name, left, right) for name, left, right, dtype in products["bfloat16"] if right == (3, 8, 8)]
    assert len(hidden) >= 4 and {name for name, *_ in hidden} <= {"bmm", "baddbmm"}
    assert {dtype for *_, right, dtype in products["bfloat16"] if right == (3, 8, 8)} == {th.bfloat16}
    assert {dtype for *_, dtype in products["float32"]} == {th.float32}
    assert len(products["float32"]) == len(products["bfloat16"])
    assert speed.product_flops([("mm", (256, 3), (3, 8), th.float32)]) == 2 * 256 * 3 * 8


@pytest.mark.parametrize(("algorithm", "members"), [(DSACE, 3), (DSACT, 2)])
def test_the_floor_times_each_activation_of_a_step_once_and_each_network_is_evaluated_as_often_as_its_maths_needs(
    algorithm, members
):
    """
    The floor measure's GELU parts come from the step's recorded activations: the critics' hidden layers in three
    passes (target, online, frozen under the actor's loss), two backward (online, frozen); the actor's in two (target
    actor, actor), one backward. A step that evaluated a network once more would show here.
    """
    from benchmarks import speed

    model = algorithm("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8, 8]), learning_starts=300, seed=0)
    model.learn(300)
    calls = speed.dispatched_calls(model, speed.ACTIVATIONS)
    counted = collections.Counter((call["operator"], call["shapes"][-1]) for call in calls)
    batch = speed.BATCH_SIZE
    assert counted == {
        ("gelu", (members, batch, 8)): 2 * 3,
        ("gelu", (batch, 8)): 2 * 2,
        ("gelu_backward", (members, batch, 8)): 2 * 2,
        ("gelu_backward", (batch, 8)): 2,
    }
    timers = speed.floor_timers(model)
    assert list(timers) == list(speed.FLOOR_PARTS) and all(timer() > 0 for timer in timers.values())


def test_the_floor_table_bounds_the_ratio_to_sac_by_sacs_step_over_the_floor():
    from benchmarks import speed

    parts = dict(zip(speed.FLOOR_PARTS, [2.0, 1.0, 0.5, 0.25, 0.15, 0.1], strict=True))  # 4 ms in all
    slower = {part: 2 * ms for part, ms in parts.items()}  # a slower round: each time twice as long
    row = dict(case="Hopper", algorithm="DSACE compiled", parts=[parts, slower, parts], step_ms=[10.0, 20.0, 10.0],
               sac_ms=[8.0, 16.0, 8.0])  # fmt: skip
    line = speed.floor_table(dict(rows=[row])).splitlines()[-1]
    assert line.startswith("| Hopper | DSACE compiled | 2.00 | 1.00 | 0.50 | 0.25 | 0.15 | 0.10 | **4.00** | 10.00 | 8.00 |")
    assert line.endswith("| 2.00x [2.00, 2.00] | 0.80x [0.80, 0.80] |")  # each round's ratio within the round


def test_the_timed_products_group_each_layout_of_a_step_and_name_the_critics_transposed_output_product():
    from benchmarks import speed

    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8, 8]), learning_starts=290, device="cpu", seed=0)
    model.learn(300)
    rows = speed.timed_product_rows(model, steps=2, shown=100)
    assert sum(calls for _, calls, _, _ in rows) == len(speed.recorded_products(model))  # every product, once a step
    assert all(ms > 0 and rate > 0 for _, _, ms, rate in rows)
    assert [row[2] for row in rows] == sorted((row[2] for row in rows), reverse=True)
    # the critics' output layer (3 members, 8 -> 2) as computed: the transposed weight is the left factor
    assert any(key.startswith("baddbmm (3, 2, 8) strides (16, 1, 2) @ (3, 8, 256)") for key, *_ in rows)
    assert len(speed.timed_product_rows(model, steps=1, shown=3)) == 3


def test_the_profile_groups_operators_by_what_they_do():
    from benchmarks.speed import operator_group

    assert operator_group("aten::bmm") == operator_group("aten::addmm") == "matrix products"
    assert operator_group("aten::bmm_out") == "rest"  # products by exact name only
    assert operator_group("aten::gelu_backward") == "kernels with a GELU"
    assert operator_group("graph_1_cpp_fused__to_copy_gelu_15") == "kernels with a GELU"
    assert operator_group("aten::_fused_adam_") == operator_group("aten::lerp_") == "optimizers and target updates"
    assert operator_group("graph_4_cpp_fused__to_copy_relu_11") == operator_group("aten::copy_") == "rest"


def test_the_levers_interval_holds_the_median_and_narrows_with_agreeing_rounds():
    from benchmarks.speed import bootstrap_median_interval

    noisy = np.random.default_rng(1).normal(1.0, 0.1, 40)
    low, high = bootstrap_median_interval(noisy)
    assert low < np.median(noisy) < high
    assert bootstrap_median_interval(np.full(40, 0.97)) == (0.97, 0.97)
    tighter_low, tighter_high = bootstrap_median_interval(1.0 + (noisy - 1.0) / 10)
    assert tighter_high - tighter_low < (high - low) / 5


def test_speed_ratios_are_medians_of_same_round_ratios_with_an_interval_and_the_table_prints_it():
    from benchmarks.speed import rate_table, ratios_to

    rates = {"SAC": [100.0, 50.0, 60.0], "DSACE": [80.0, 45.0, 30.0]}  # per round: 0.8, 0.9, 0.5
    results = ratios_to(rates, "SAC")
    rate, ratio, low, high = results["DSACE"]
    assert (rate, ratio) == (45.0, 0.8)  # not the ratio of the median rates (0.75)
    assert low <= ratio <= high and low >= 0.5 and high <= 0.9
    assert results["SAC"] == [60.0, 1.0, 1.0, 1.0]
    table = rate_table([dict(case="Hopper", threads=1, results=results)], "updates/s")
    assert "| Hopper | 1 | 60.0 (1.00 [1.00, 1.00]) | 45.0 (0.80 [" in table


def test_the_tanh_gelu_lever_is_a_gelu_activation_class_off_the_exact_one_by_its_approximation():
    from benchmarks.speed import TanhApproximateGELU

    x = th.linspace(-6.0, 6.0, 10_001)
    activation = TanhApproximateGELU()  # SB3 builds activation_fn without arguments
    deviation = (activation(x) - th.nn.functional.gelu(x)).abs().max()
    assert isinstance(activation, th.nn.GELU) and 1e-5 < deviation < 5e-4


def test_aten_gelu_in_inductor_makes_a_compiled_graph_call_atens_gelu_kernels():
    """Run in a subprocess: the patch is process-wide."""
    script = """
import torch as th
from torch.profiler import profile
from benchmarks.speed import aten_gelu_in_inductor
from sb3_tecrl.common.compile import compiler_error
if compiler_error(th.device("cpu")) is not None:
    print("no compiler")
    raise SystemExit
def gelu_operators(function):
    x = th.randn(8, 8, requires_grad=True)
    function(x)
    with profile() as profiler:
        th.autograd.grad(function(x), x)
    return sorted({event.key for event in profiler.key_averages() if event.key.startswith("aten::gelu")})
def loss(x):
    return th.nn.functional.gelu(2 * x).sum()
print(gelu_operators(th.compile(loss)))
aten_gelu_in_inductor()
th._dynamo.reset()
print(gelu_operators(th.compile(loss)))
"""
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    if output == ["no compiler"]:
        pytest.skip("torch.compile cannot compile on this machine")
    assert output[-2:] == ["[]", "['aten::gelu', 'aten::gelu_backward']"]


def test_a_constraint_acts_when_its_late_estimate_meets_the_target_and_alpha_stays_up():
    from benchmarks.constraint_study import constraint_state

    def log(estimates: list[float], alpha: float) -> list[dict[str, float]]:
        steps = range(100, 100 * (len(estimates) + 1), 100)
        keys = ("time/total_timesteps", "train/trajectory_entropy", "train/entropy_budget", "train/ent_coef")
        return [
            dict(zip(keys, (step, value, -100.0, alpha), strict=True)) for step, value in zip(steps, estimates, strict=True)
        ]

    # the last quarter (steps >= 750 of 1,000) counts: its mean is -90, 10% from the target
    held = constraint_state(log([0.0] * 7 + [-85.0, -95.0, -90.0], alpha=0.01), "train/trajectory_entropy", 1_000)
    assert held["estimate"] == pytest.approx(-90.0) and held["gap"] == pytest.approx(0.1) and held["acts"]
    assert not constraint_state(log([0.0] * 7 + [-85.0, -95.0, -90.0], alpha=1e-5), "train/trajectory_entropy", 1_000)["acts"]
    assert not constraint_state(log([-100.0] * 7 + [-50.0] * 3, alpha=0.01), "train/trajectory_entropy", 1_000)["acts"]
    assert held["target"] == held["configured"] == -100.0  # a fixed budget: the logged one
    annealed = log([0.0] * 7 + [-85.0, -95.0, -90.0], alpha=0.01)
    annealed[-1]["train/entropy_budget_final"] = -2_000.0  # an annealed budget: the current one, the configured beside
    state = constraint_state(annealed, "train/trajectory_entropy", 1_000)
    assert (state["target"], state["configured"], state["acts"]) == (-100.0, -2_000.0, 1.0)


@pytest.mark.parametrize("name", ["P300", "tec_tune"])
def test_panels_started_before_the_auto_compile_default_keep_the_eager_step(name):
    trained_here = {
        key: algo for key, algo in panel.PANELS[name].algos.items() if issubclass(algo.cls, DSACE) and not algo.same_as
    }
    assert trained_here and all(dict(algo.overrides)["compile_update"] is False for algo in trained_here.values())
    if name == "tec_tune":  # the override reaches the model
        assert learning.make_model(name, panel.SHORT_TASKS["Pendulum-v1"], "dual", 0).compile_update is False


def test_the_study_figures_draw_every_cell_of_the_panel_in_the_row_of_its_one_hypothesis():
    from benchmarks import constraint_study

    cells = [cell for row in constraint_study.HYPOTHESES.values() for cell in row]
    assert sorted(cells) == sorted(set(panel.PANELS["tec_tune"].algos) - {constraint_study.REFERENCE})


def test_the_shipping_rule_needs_the_constraint_to_act_on_both_pendulum_seeds():
    from benchmarks import constraint_study

    runs = {
        "Pendulum-v1": [("w/o TEC", 0, 1.0), ("w/o TEC", 1, 1.0), ("DSAC-E", 0, 1.0), ("DSAC-E", 1, 0.0)],
        "Hopper-v4": [("DSAC-E", 0, 1.0)],
    }
    finished = {
        task: [(algo, seed, {"acts": acts}, []) for algo, seed, acts in runs.get(task, [])]
        for task in panel.PANELS["tec_tune"].tasks
    }
    rows = {row.split(" | ")[0].removeprefix("| "): row for row in constraint_study.acting_rows(finished)}
    # the panel's tasks in order: Pendulum-v1, InvertedDoublePendulum-v4, Hopper-v4, Reacher-v4
    assert rows["w/o TEC"] == "| w/o TEC | 2 of 2 | - | - | - | yes |"
    assert rows["DSAC-E"] == "| DSAC-E | 1 of 2 | - | 1 of 1 | - | no |"
    assert rows["dual"] == "| dual | - | - | - | - | no |"


def test_a_panel_refuses_to_run_with_the_package_of_another_checkout(monkeypatch, tmp_path):
    import sb3_tecrl

    learning.check_the_package_is_this_checkouts()  # this checkout's package: no error
    other = tmp_path / "other" / "sb3_tecrl" / "__init__.py"
    monkeypatch.setattr(sb3_tecrl, "__file__", str(other))
    with pytest.raises(SystemExit, match=r"sb3_tecrl is imported from .*other.*SB3_TECRL_NO_ZOO_HOOK=1"):
        learning.check_the_package_is_this_checkouts()


def test_every_panels_dsac_e_cells_keep_the_constraint_they_ran_with_after_the_default_changed():
    # DSACE's default and the dsace zoo file moved to the per-step form ("w/o TEC") in 0.2.0: a panel's cells must rerun
    # what they ran, so only the cells named "w/o TEC" run without the trajectory entropy constraint
    dsace_cells = [
        (name, algo_name, algo)
        for name, spec in panel.PANELS.items()
        for algo_name, algo in spec.algos.items()
        if algo.cls is DSACE
    ]
    assert len(dsace_cells) > 20
    for name, algo_name, algo in dsace_cells:
        assert panel.keeps_the_constraint(algo) == ("w/o TEC" not in algo_name), (name, algo_name)
    assert not panel.keeps_the_constraint(panel.Algo(DSACE, "dsace")) and panel.keeps_the_constraint(
        panel.Algo(DSACE, "dsace_paper")
    )


def test_the_shipping_decision_takes_the_best_acting_variant_whose_ci_is_not_wholly_below_the_faithful_one():
    from benchmarks import constraint_study

    intervals = {
        "DSAC-E": (500.0, 300.0, 700.0),
        "DSAC-T": (800.0, 710.0, 900.0),
        "acts, best": (650.0, 310.0, 1400.0),
        "acts, lower": (550.0, 320.0, 800.0),
        "acts, wholly below": (900.0, 100.0, 290.0),  # its IQM is the best, but its CI lies below DSAC-E's
        "does not act": (990.0, 950.0, 999.0),
    }
    eligible = ["acts, best", "acts, lower", "acts, wholly below"]
    chosen, lines = constraint_study.shipping_decision(eligible, intervals, complete=True)
    assert chosen == "acts, best"
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in lines if line.startswith("| ")}
    assert rows["acts, wholly below"].startswith("| acts, wholly below | yes | 900 [100, 290] | CI wholly below |")
    assert rows["does not act"].startswith("| does not act | no | 990 [950, 999] | CI wholly above | CI wholly above |")
    assert "DSAC-E" not in rows  # the faithful cell is the reference, not a candidate
    assert constraint_study.shipping_decision(["acts, wholly below"], intervals, complete=True)[0] is None
    assert constraint_study.shipping_decision(eligible, intervals, complete=False) == (
        None,
        ["Pending: the confirmation has not finished every run; no decision before it has."],
    )


def test_the_drop_in_audit_binds_sac_to_our_class_after_the_last_import_of_a_test_module():
    source = (
        "import numpy as np\nfrom stable_baselines3 import (\n    PPO,\n    SAC,\n)\n"
        "from stable_baselines3.common.env_util import make_vec_env\n\nCLASSES = [PPO, SAC]\n"
    )
    namespace: dict = {}
    exec(sb3_suite.substitute_sac(source, "DSACE"), namespace)
    assert namespace["SAC"] is DSACE and namespace["CLASSES"][1] is DSACE and namespace["PPO"].__name__ == "PPO"
    assert sb3_suite.substitute_sac("from stable_baselines3 import PPO\n", "DSACE") is None
    assert sb3_suite.substitute_sac("from stable_baselines3 import SAC as Base\n", "DSACE") is None


def test_the_drop_in_audit_reads_each_outcome_of_a_junit_report(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite><testcase classname="tests.test_a" name="test_ok"/>'
        '<testcase classname="tests.test_a" name="test_bad"><failure message="assert 1 == 2&#10;more"/></testcase>'
        '<testcase classname="tests.test_b" name="test_skip"><skipped message="no GPU"/></testcase>'
        '<testcase classname="" name="tests.test_c"><error message="collection failure">import ale_py&#10;'
        "E   ModuleNotFoundError: No module named 'ale_py'</error></testcase></testsuite></testsuites>"
    )
    assert sb3_suite.outcomes(junit) == [
        ("test_a", "test_ok", "passed", ""),
        ("test_a", "test_bad", "failed", "assert 1 == 2"),
        ("test_b", "test_skip", "skipped", "no GPU"),
        ("test_c", "tests.test_c", "error", "collection failure: ModuleNotFoundError: No module named 'ale_py'"),
    ]


@pytest.mark.parametrize("mutant", mutation.MUTANTS, ids=lambda mutant: mutant.what)
def test_each_mutant_of_the_mutation_check_changes_the_code_in_exactly_one_place(mutant):
    source = (mutation.ROOT / mutant.path).read_text()
    assert mutation.mutate(source, mutant) != source


def test_a_mutant_whose_text_is_not_once_in_the_code_is_refused():
    mutant = mutation.MUTANTS[0]
    with pytest.raises(ValueError, match="occurs 0 times"):
        mutation.mutate("nothing here", mutant)
    with pytest.raises(ValueError, match="occurs 2 times"):
        mutation.mutate(mutant.old * 2, mutant)


def test_the_mutation_check_reads_the_first_failure_of_pytests_summary():
    output = "..F\n=== short test summary info ===\nFAILED tests/a.py::test_b - assert 1 == 2\nERROR tests/c.py\n"
    assert mutation.first_failure(output) == "FAILED tests/a.py::test_b - assert 1 == 2"
    assert mutation.first_failure("3 passed in 1.0s\n") == ""


def test_the_mutation_check_kills_a_next_value_taken_from_the_larger_mean(tmp_path):
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(mutation.ROOT), str(clone)], check=True)
    source = (clone / mutation.LOSSES).read_text()
    failure = mutation.check(clone, mutation.MUTANTS[0])
    assert failure.startswith("FAILED tests/test_losses.py::test_select_min_mean")
    assert (clone / mutation.LOSSES).read_text() == source  # restored


@pytest.mark.parametrize(("native", "pays"), [(True, True), (True, False), (False, False)])
def test_the_limit_measure_times_bfloat16_only_where_the_cpu_has_native_kernels(monkeypatch, native, pays):
    """Both precisions where bfloat16 is native; the compiled step at the precision the default computes in."""
    from benchmarks import speed

    timed = []
    monkeypatch.setattr(speed, "bfloat16_matmul_supported", lambda device: native)
    monkeypatch.setattr(speed, "bfloat16_matmul_pays", lambda device: pays)
    monkeypatch.setattr(speed, "SHAPES", {"Hopper": speed.SHAPES["Hopper"]})
    monkeypatch.setattr(speed, "ready_to_train", lambda factory, shape_name, steps: None)
    monkeypatch.setattr(speed, "recorded_products", lambda model: [("mm", (256, 11), (11, 256), th.float32)])
    monkeypatch.setattr(speed, "train_rate", lambda model, steps: 100.0)
    monkeypatch.setattr(speed, "product_seconds", lambda products, dtype, cold=False: timed.append((dtype, cold)) or 1e-3)
    rows = speed.limit_rows(1)
    table = speed.limit_table(dict(rows=rows))
    algorithms = [row["algorithm"] for row in rows]
    if native:
        assert {dtype for dtype, _ in timed} == {th.float32, th.bfloat16} and (th.bfloat16, True) in timed
        compiled = {name for name in algorithms if name.endswith("compiled")}
        assert compiled == {f"DSAC{variant} {'bf16' if pays else 'fp32'} compiled" for variant in "ET"}
        assert len(algorithms) == 6 and "no native kernels" not in table
    else:  # bfloat16 falls back to float32: nothing in bfloat16 is timed, the table says why its columns are empty
        assert timed == [(th.float32, False)] * 2
        assert algorithms == ["DSACE fp32", "DSACE fp32 compiled", "DSACT fp32", "DSACT fp32 compiled"]
        assert table.count("no native kernels") == 2 * len(rows)
    assert all(line.endswith("| 10% |") for line in table.splitlines()[2:])  # 1 ms of products in a 10 ms step
