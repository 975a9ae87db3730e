"""
The learning panels' work queue (``benchmarks.work_queue``, on Optuna's RDB storage): what is enqueued, in which order,
and two real workers on one queue, one of them killed mid-run: every run finishes once, none twice.
"""

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import queue_worker
from optuna.trial import TrialState

from benchmarks import learning, panel, work_queue
from sb3_tecrl.checkpoint import read_sets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def storage(tmp_path):
    return f"sqlite:///{tmp_path / 'queue.sqlite3'}"


def runs_by_state(study: optuna.Study) -> dict[TrialState, list]:
    trials = study.get_trials(deepcopy=False)
    return {state: [work_queue.run_of(trial) for trial in trials if trial.state == state] for state in TrialState}


def test_enqueue_adds_each_run_once_in_the_given_order(storage):
    study = work_queue.open_queue("P300", storage)
    queue = learning.jobs("P300", ["Ant-v4"], ["DSAC-E", "DSAC-T", "SAC"], [0, 1])
    assert work_queue.enqueue(study, queue) == 6
    assert work_queue.enqueue(work_queue.open_queue("P300", storage), queue) == 0  # a second command adds nothing
    assert runs_by_state(study)[TrialState.WAITING] == queue  # seed 0 of every algorithm first
    assert work_queue.enqueue(study, learning.jobs("P300", ["Ant-v4"], ["SAC"], [2])) == 1  # a wider selection


def test_a_worker_trains_every_waiting_run_once_and_a_finished_run_is_not_enqueued_again(storage):
    study = work_queue.open_queue("P300", storage)
    queue = learning.jobs("P300", ["Ant-v4"], ["DSAC-E", "SAC"], [0, 1])
    work_queue.enqueue(study, queue)
    trained = []
    assert work_queue.work(study, lambda job: trained.append(job) or 1.0) == queue == trained
    assert sorted(runs_by_state(study)[TrialState.COMPLETE]) == sorted(queue)
    assert work_queue.enqueue(study, queue) == 0 and work_queue.work(study, lambda job: pytest.fail("trained twice")) == []


def test_a_run_that_raises_fails_its_entry_and_stops_the_worker(storage):
    study = work_queue.open_queue("P300", storage)
    work_queue.enqueue(study, learning.jobs("P300", ["Ant-v4"], ["SAC"], [0, 1]))

    def broken(job):
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        work_queue.work(study, broken)
    states = runs_by_state(study)
    assert len(states[TrialState.FAIL]) == 1 and len(states[TrialState.WAITING]) == 1  # not retried, not lost


def test_a_run_given_back_is_trained_before_the_runs_never_started_and_every_run_once(storage):
    study = work_queue.open_queue("P300", storage, heartbeat=1, grace=2)
    queue = learning.jobs("P300", ["Ant-v4"], ["DSAC-E", "DSAC-T", "SAC"], [0])
    work_queue.enqueue(study, queue)
    dead_workers_entry = study.ask()  # a worker takes the first run, beats its heart once, and dies
    study._storage.record_heartbeat(dead_workers_entry._trial_id)
    time.sleep(3)  # past the grace period
    trained = []
    assert work_queue.work(study, lambda job: trained.append(job) or 1.0) == trained
    assert trained[0] == queue[0] and sorted(trained) == sorted(queue)  # resumed first, none twice, none lost
    states = runs_by_state(study)
    assert sorted(states[TrialState.COMPLETE]) == sorted(queue) and states[TrialState.WAITING] == []
    assert states[TrialState.FAIL] == [queue[0]] and states[TrialState.PRUNED] == [queue[0]]  # the claimed entry


def exited_process_id() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_run_whose_worker_exited_on_this_machine_is_given_back_at_once_and_no_other(storage):
    study = work_queue.open_queue("P300", storage)  # a grace period of 600 s: no heartbeat is stale here
    queue = learning.jobs("P300", ["Ant-v4"], ["DSAC-E", "DSAC-T", "SAC"], [0, 1])
    work_queue.enqueue(study, queue)
    here = socket.gethostname()
    workers = {"exited": f"{here}:{exited_process_id()}", "alive": f"{here}:{os.getpid()}"}
    workers["on another machine"] = f"another-{here}:{exited_process_id()}"
    entries = {}
    for name, worker in workers.items():
        trial = study.ask()
        trial.set_user_attr("worker", worker)
        trial.set_user_attr("worker_entry", trial.number)
        entries[name] = trial.number
    taken_again = study.ask()  # an entry that still carries the attributes of the dead worker of another entry
    taken_again.set_user_attr("worker", workers["exited"])
    taken_again.set_user_attr("worker_entry", entries["exited"])
    work_queue.give_back_stale_runs(study)
    states = {trial.number: trial.state for trial in study.get_trials(deepcopy=False)}
    assert states[entries["exited"]] == TrialState.FAIL
    assert {states[number] for number in [*entries.values(), taken_again.number] if number != entries["exited"]} == {
        TrialState.RUNNING
    }
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert [work_queue.run_of(entry) for entry in waiting if work_queue.was_given_back(entry)] == [queue[0]]


def test_a_worker_claims_only_an_entry_that_still_waits(storage):
    study = work_queue.open_queue("P300", storage)
    work_queue.enqueue(study, learning.jobs("P300", ["Ant-v4"], ["SAC"], [0, 1, 2]))
    first, second, third = study.get_trials(deepcopy=True)
    assert work_queue.claim(study._storage, first)
    assert not work_queue.claim(study._storage, first)  # running: another worker's
    study.ask()  # another worker takes the second entry
    study.tell(second.number, state=TrialState.PRUNED)  # and closes it
    assert not work_queue.claim(study._storage, second)
    assert work_queue.claim(study._storage, third)


def test_heartbeat_must_be_shorter_than_the_grace_period(storage):
    with pytest.raises(ValueError, match="heartbeat period"):
        work_queue.open_queue("P300", storage, heartbeat=60, grace=60)


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_workers_on_one_queue_and_one_killed_mid_run_finish_every_run_once(tmp_path, storage, monkeypatch):
    # this process reads the files the workers write
    monkeypatch.setattr(panel, "ROOT", tmp_path)
    monkeypatch.setattr(panel, "RUNS", tmp_path / "runs")
    monkeypatch.setitem(panel.PANELS, "tiny", queue_worker.tiny_panel())
    victim = survivor = None
    try:
        study = work_queue.open_queue("tiny", storage, queue_worker.HEARTBEAT, queue_worker.GRACE)
        work_queue.enqueue(study, learning.jobs("tiny", ["Pendulum-v1"], ["DSAC-E"], list(queue_worker.SEEDS)))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, str(ROOT / "tests" / "queue_worker.py"), str(tmp_path), storage]
        victim, survivor = (subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2))

        def victims_run_has_a_checkpoint_after_its_start() -> bool:
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if trial.user_attrs.get("worker", "").endswith(f":{victim.pid}"):
                    _, task, algo, seed = work_queue.run_of(trial)
                    return any(sets.steps > 0 for sets in read_sets(panel.run_dir(task, algo, seed, "tiny")))
            return False

        wait_for(victims_run_has_a_checkpoint_after_its_start, 120, "the first worker's run to checkpoint")
        killed = [work_queue.run_of(trial) for trial in study.get_trials(states=(TrialState.RUNNING,))]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        _, errors = survivor.communicate(timeout=300)
        assert survivor.returncode == 0, errors
    finally:
        for process in (victim, survivor):
            if process is not None:
                process.kill()

    states = runs_by_state(study)
    runs = learning.jobs("tiny", ["Pendulum-v1"], ["DSAC-E"], list(queue_worker.SEEDS))
    assert sorted(states[TrialState.COMPLETE]) == runs  # every run finished, none twice
    assert states[TrialState.WAITING] == states[TrialState.RUNNING] == []
    victims = [job for job in states[TrialState.FAIL] if job in killed]
    assert len(victims) == 1  # the killed worker's run was given back once
    for _, task, algo, seed in runs:
        steps = [row["timesteps"] for row in panel.read_rows(panel.result_path(task, algo, seed, "", "tiny"))]
        assert steps[0] == 0 and steps[-1] == 500 and all(a < b for a, b in itertools.pairwise(steps))  # none redone
    _, task, algo, seed = victims[0]
    starts = sorted(folder.name for folder in panel.run_dir(task, algo, seed, "tiny").glob("log_*"))
    assert len(starts) == 2 and starts[1] != "log_000000000"  # the survivor resumed it from its checkpoint
