"""
One worker of ``tests/test_queue.py``'s tiny panel, as its own process (so that the test can kill it):

    python tests/queue_worker.py <folder> <storage URL>

The panel's files go to ``<folder>`` (``results/`` and ``runs/``) instead of ``benchmarks/``.
"""

import sys
from pathlib import Path

from benchmarks import learning, panel
from sb3_tecrl import DSACE

HEARTBEAT, GRACE = 1, 3
SEEDS = (0, 1, 2)


def tiny_panel() -> panel.Panel:
    """DSAC-E with a small network on Pendulum-v1: a 100-step warm-up, then 400 steps, evaluated every 50."""
    task = panel.Task("Pendulum-v1", budget=500, eval_freq=50, learning_starts=100)
    small = (("policy_kwargs", dict(net_arch=[16, 16])), ("batch_size", 32), ("buffer_size", 1_000))
    return panel.Panel("tiny", {"Pendulum-v1": task}, {"DSAC-E": panel.Algo(DSACE, "dsace", small, "tiny")}, SEEDS)


def use_folder(folder: Path) -> None:
    """Send the panel's files to ``folder`` and register the tiny panel."""
    panel.ROOT, panel.RUNS = folder, folder / "runs"
    panel.PANELS["tiny"] = tiny_panel()
    learning.EVAL_EPISODES = 2


if __name__ == "__main__":
    use_folder(Path(sys.argv[1]))
    learning.worker("tiny", sys.argv[2], HEARTBEAT, GRACE)
