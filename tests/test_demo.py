"""The demo (``python -m sb3_tecrl.demo``): one torch thread unless asked, a result printed with its scale and whether
it solved the task, bad arguments rejected, a help that names the command and the defaults."""

import re
import subprocess
import sys

import pytest
import torch as th

from sb3_tecrl import demo


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--steps", "-5"], ["--eval-episodes", "0"], ["--threads", "0"]])
def test_non_positive_counts_are_rejected_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo.parse_args(argv)
    assert exit_info.value.code == 2
    assert re.search(f"argument {argv[0]}: must be a positive integer, got {argv[1]}", capsys.readouterr().err)


@pytest.mark.parametrize("argv, threads", [([], 1), (["--threads", "2"], 2)])
def test_runs_with_one_torch_thread_unless_asked_and_prints_the_scale(argv, threads, capsys):
    before = th.get_num_threads()
    th.set_num_threads(3)
    try:
        demo.main(["--steps", "2", "--eval-episodes", "1", "--algo", "dsact", *argv])
        assert th.get_num_threads() == threads
    finally:
        th.set_num_threads(before)
    out = capsys.readouterr().out
    assert "untrained policies score about -1200 to -1700, -200 or more is solved" in out
    untrained = float(re.search(r"untrained: +(-?[\d.]+) \+/- ", out).group(1))
    trained = float(re.search(r"after 2 steps: +(-?[\d.]+) \+/- ", out).group(1))
    assert untrained < -500 and trained < -500  # Pendulum-v1, no gradient step yet
    assert out.splitlines()[-1] == f"Not solved: the mean return {trained:.1f} is below -200 after 2 steps (try more --steps)."


@pytest.mark.parametrize(
    "mean_return, line",
    [
        (-200.0, "Solved: the mean return -200.0 is at least -200."),
        (-158.1, "Solved: the mean return -158.1 is at least -200."),
        (-200.04, "Not solved: the mean return -200.0 is below -200 after 8000 steps (try more --steps)."),
    ],
)
def test_result_line_says_whether_the_run_solved_the_task(mean_return, line):
    assert demo.solved_line(mean_return, 8000) == line


def test_help_names_the_command_and_shows_the_defaults():
    result = subprocess.run([sys.executable, "-m", "sb3_tecrl.demo", "--help"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("usage: python -m sb3_tecrl.demo ")
    for option, default in [("--steps", 8000), ("--seed", 0), ("--algo", "dsace"), ("--eval-episodes", 10), ("--threads", 1)]:
        assert re.search(rf"{option} .*?\(default: {default}\)", result.stdout, re.DOTALL), option
