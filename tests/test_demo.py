"""The demo (``python -m sb3_tecrl.demo``): one torch thread unless asked, a result printed with its scale, bad
arguments rejected."""

import re

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
    assert "untrained policies score about -1200 to -1700, about -150 is solved" in out
    untrained = float(re.search(r"untrained: +(-?[\d.]+) \+/- ", out).group(1))
    trained = float(re.search(r"after 2 steps: +(-?[\d.]+) \+/- ", out).group(1))
    assert untrained < -500 and trained < -500  # Pendulum-v1, no gradient step yet
