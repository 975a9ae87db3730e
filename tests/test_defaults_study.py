"""Logic of the defaults study (job order, storage round trip, normalisation, report) on synthetic rows."""

import math

import numpy as np
import pytest

from benchmarks import defaults_study as study


def make_row(config: str, task: str, seed: int, returns: list[float]) -> dict:
    steps = [i * study.STUDY_TASKS[task].eval_freq for i in range(len(returns))]
    final, auc = float(np.mean(returns[-study.FINAL_EVALS :])), float(np.mean(returns[1:]))
    return dict(config=config, task=task, seed=seed, final=final, auc=auc, timesteps=steps, returns=returns, seconds=1)


def test_job_order_answers_the_main_question_first_task_by_task():
    jobs = study.job_order(list(study.STUDY_TASKS), list(study.CONFIGS), [0, 1])
    assert jobs[:6] == [(name, "Pendulum-v1", seed) for name in study.MAIN for seed in (0, 1)]
    assert [task for _, task, _ in jobs] == sorted((task for _, task, _ in jobs), key=list(study.STUDY_TASKS).index)
    assert len(jobs) == len(set(jobs)) == len(study.CONFIGS) * len(study.STUDY_TASKS) * 2


def test_job_order_keeps_only_the_selection():
    jobs = study.job_order(["Pendulum-v1"], ["sac", "delay1_tau0.01"], [3])
    assert jobs == [("sac", "Pendulum-v1", 3), ("delay1_tau0.01", "Pendulum-v1", 3)]


def test_runs_round_trip(tmp_path):
    path = tmp_path / "runs.csv"
    rows = [make_row("sac", "Pendulum-v1", 0, [-1500.0, -900.5, -200.25]), make_row("paper", "Pendulum-v1", 1, [-1400, -1300])]
    for row in rows:
        study.append_run(row, path)
    assert study.read_runs(path) == rows


def test_steps_to_solve():
    assert study.steps_to_solve(make_row("sac", "Pendulum-v1", 0, [-1500, -250, -190, -300])) == 2000
    assert study.steps_to_solve(make_row("sac", "Pendulum-v1", 0, [-1500, -250])) == math.inf


def test_normalisation_is_zero_untrained_and_one_at_sac_final():
    rows = [
        make_row("sac", "Pendulum-v1", 0, [-1000, -500, -200, -200, -200]),
        make_row("sac", "Pendulum-v1", 1, [-1200, -400, -100, -100, -100]),
        make_row("paper", "Pendulum-v1", 0, [-1500, -1100, -1100, -650, -650]),
        make_row("delay1", "InvertedDoublePendulum-v4", 0, [50, 100]),  # a task without SAC is left out
    ]
    finals = study.normalised_scores(rows, "final")
    assert list(finals) == ["Pendulum-v1"]
    # untrained: -1100 (SAC's mean step-0 return; the other runs' do not count), SAC final: -150
    np.testing.assert_allclose(finals["Pendulum-v1"]["sac"], [(-200 + 1100) / 950, (-100 + 1100) / 950])
    np.testing.assert_allclose(finals["Pendulum-v1"]["paper"], [(-800 + 1100) / 950])


def test_aggregate_needs_as_many_seeds_as_sac_on_every_task():
    scores = {
        "Pendulum-v1": {"sac": np.array([1.0, 1.0]), "paper": np.array([0.2, 0.4]), "delay1": np.array([0.9])},
        "Reacher-v4": {"sac": np.array([1.0, 1.0]), "paper": np.array([0.6, 0.8])},
    }
    result = study.aggregate(scores, ["Pendulum-v1", "Reacher-v4"])
    assert set(result) == {"sac", "paper"}
    assert result["paper"][0] == pytest.approx(0.5)  # IQM of 0.2, 0.4, 0.6, 0.8


def test_report_lists_every_task_with_sac(tmp_path, monkeypatch):
    monkeypatch.setattr(study, "RESULTS", tmp_path)
    rows = [
        make_row(config, "Pendulum-v1", seed, [-1200, -175, -175, -175]) for config in ("sac", "delay1") for seed in (0, 1)
    ]
    rows += [make_row(config, "Reacher-v4", seed, [-40, -10, -5, -4]) for config in ("sac", "delay1") for seed in (0, 1)]
    text = study.write_report(rows)
    assert "| Pendulum-v1 | delay1 | 2 | -175.0 | 1.00 |" in text
    assert "IQM over seeds x tasks (Pendulum-v1, Reacher-v4)" in text
    assert (tmp_path / "report.md").read_text() == text
