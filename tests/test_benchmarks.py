"""Logic of the learning benchmark (resume bookkeeping, report aggregation, diagnostics sums) on synthetic files."""

import numpy as np
import pytest

from benchmarks import learning, report
from benchmarks.diagnostics import discounted_future_sum


@pytest.fixture
def folders(tmp_path, monkeypatch):
    monkeypatch.setattr(learning, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(learning, "RUNS", tmp_path / "runs")
    return tmp_path


def test_discounted_future_sum():
    values, gamma = np.array([1.0, 2.0, 3.0, 4.0]), 0.5
    expected = [sum(gamma**k * values[t + k] for k in range(1, len(values) - t)) for t in range(len(values))]
    np.testing.assert_allclose(discounted_future_sum(values, gamma), expected)


def test_keep_rows_up_to(folders):
    path = learning.result_path("Pendulum-v1", "SAC", 0)
    for step in (1000, 2000, 3000):
        learning.append_row(path, dict(timesteps=step, mean=-step, std=1.0))
    learning.keep_rows_up_to(path, 2000)
    assert [row["timesteps"] for row in learning.read_rows(path)] == [1000, 2000]


def test_train_log_drops_rows_redone_after_resume(folders):
    run = learning.run_dir("Pendulum-v1", "DSAC-E", 0)
    for start, steps in ((0, (200, 400, 600)), (400, (600, 800))):
        log = run / f"log_{start:09d}" / "progress.csv"
        log.parent.mkdir(parents=True)
        log.write_text("time/total_timesteps,train/ent_coef\n" + "".join(f"{step},{start + step}\n" for step in steps))
    learning.result_path("Pendulum-v1", "DSAC-E", 0).parent.mkdir(parents=True)
    learning.copy_train_log("Pendulum-v1", "DSAC-E", 0)
    rows = learning.read_rows(learning.result_path("Pendulum-v1", "DSAC-E", 0, "_train"))
    assert [(row["time/total_timesteps"], row["train/ent_coef"]) for row in rows] == [
        (200, 200),
        (400, 400),
        (600, 1000),
        (800, 1200),
    ]


def test_completed_runs_reads_up_to_the_budget(folders):
    budget, freq = learning.TASKS["Pendulum-v1"].budget, learning.TASKS["Pendulum-v1"].eval_freq
    for seed, last in ((0, budget + freq), (1, budget), (2, budget - freq)):  # longer, finished, unfinished
        for step in range(freq, last + 1, freq):
            learning.append_row(learning.result_path("Pendulum-v1", "SAC", seed), dict(timesteps=step, mean=step, std=0.0))
    runs = report.completed_runs("Pendulum-v1")
    assert len(runs["SAC"]) == 2
    assert report.final_scores(runs)["SAC"].tolist() == [budget, budget]


def test_normalised_aggregate_needs_every_algorithm_with_enough_seeds():
    seeds = report.MIN_SEEDS
    task_scores = {
        "a": {"SAC": np.full(seeds, 10.0), "DSAC-E": np.full(seeds, 5.0)},
        "b": {"SAC": np.full(seeds, -100.0), "DSAC-E": np.full(seeds - 1, -550.0)},  # too few seeds of DSAC-E
    }
    assert report.aggregated_tasks(task_scores) == ["a"]
    norm = report.normalised(task_scores, {"a": 0.0, "b": -1000.0})
    np.testing.assert_allclose(norm["DSAC-E"], np.full((seeds, 1), 0.5))
    iqm, low, high = report.iqm_with_ci(norm)["SAC"]
    assert iqm == low == high == 1.0
