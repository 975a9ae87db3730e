"""
The learning panels' work queue, on Optuna's storage: one trial per run (task, algorithm, seed), enqueued once; any
number of workers, on one machine or several, take the next waiting run and train it; a worker that dies gives its
run back.

- Storage: an Optuna RDB URL. The default, ``sqlite:///benchmarks/runs/queue.sqlite3``, is one file on this machine with
  no server to start; for several machines give each worker the same server URL (``postgresql://...``,
  ``mysql+pymysql://...``). Optuna's journal file has no heartbeats (Optuna 5.0), so it cannot give a dead worker's run
  back, and it is not offered.
- Heartbeats: while a worker trains a run, Optuna's heartbeat thread records it every ``heartbeat`` seconds. A run whose
  heartbeat is older than ``grace`` seconds is failed by the next worker that looks at the queue and enqueued again
  (``RetryHeartbeatStaleTrialCallback``); the worker that takes it resumes from the run's last checkpoint when it can
  read it (the same machine, or ``benchmarks/runs/`` on a shared file system), else starts it over.
- A run given back goes before the runs never started: a worker that takes a never-started run while a given-back one
  waits trains the given-back one in its place (it claims that entry, enqueues its own run again at the end and closes
  the claimed entry as pruned), so that a worker restarted beside a dead one's checkpoint resumes it first. A run that
  no entry holds (a worker killed between two of those steps) is enqueued again by the next ``run`` command.
- A worker leaves when nothing waits and nothing runs, so the last one alive also takes back the run of a worker that
  died after it looked. A run that raises (a bug) fails its trial and stops its worker: it is not retried.
- Pausing a worker (SIGSTOP) for longer than ``grace`` gives its run to another worker: keep pauses shorter.
- A run whose worker ran on this machine (its host name) and has exited (its process is gone) is given back at once,
  without waiting for ``grace``: a panel restarted after its workers were killed resumes their runs first instead of
  taking new ones beside them. Machines that share a queue must have different host names (they do by default).
"""

import os
import socket
import time
import warnings
from collections.abc import Callable
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, Trial, TrialState

from benchmarks import panel

Job = tuple[str, str, str, int]
"""(panel, task, algorithm, seed)"""
DEFAULT_HEARTBEAT = 60
DEFAULT_GRACE = 600


def default_storage() -> str:
    """:return: the one-machine queue, a SQLite file next to the checkpoints (``benchmarks/runs/``, not committed)"""
    panel.RUNS.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{panel.RUNS / 'queue.sqlite3'}"


def open_queue(panel: str, storage: str, heartbeat: int = DEFAULT_HEARTBEAT, grace: int = DEFAULT_GRACE) -> optuna.Study:
    """
    :param panel: the panel; its queue is the study ``panel-<name>``
    :param storage: an Optuna RDB URL
    :param heartbeat: seconds between the heartbeats of a running run
    :param grace: seconds without a heartbeat after which a run is given back
    :return: the panel's queue, created on first use
    """
    if not 0 < heartbeat < grace:
        raise ValueError(f"the heartbeat period ({heartbeat} s) must be positive and below the grace period ({grace} s)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: experimental since 2.8
        rdb = optuna.storages.RDBStorage(
            storage,
            engine_kwargs=dict(connect_args=dict(timeout=60)) if storage.startswith("sqlite") else None,
            heartbeat_interval=heartbeat,
            grace_period=grace,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(),
        )
    if storage.startswith("sqlite"):
        lock_sqlite_transactions_at_their_start(rdb.engine)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=f"panel-{panel}", storage=rdb, load_if_exists=True)


def lock_sqlite_transactions_at_their_start(engine: sqlalchemy.Engine) -> None:
    """
    Optuna takes a waiting trial with ``SELECT ... FOR UPDATE``, which SQLite ignores, and Python's sqlite3 starts a
    transaction only at its first write: two workers could both read a run as waiting and both take it. With every
    transaction beginning ``BEGIN IMMEDIATE`` (SQLAlchemy's recipe for pysqlite), one waits for the other's commit.
    """

    @sqlalchemy.event.listens_for(engine, "connect")
    def leave_transactions_to_sqlalchemy(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None

    @sqlalchemy.event.listens_for(engine, "begin")
    def take_the_write_lock(connection: sqlalchemy.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()  # connections opened before the listeners are closed


def run_of(trial: Any) -> Job | None:
    """:return: the run a queue entry (a trial or a frozen trial) stands for; ``None`` for an entry that is no run"""
    run = trial.user_attrs.get("run")
    return None if run is None else (run["panel"], run["task"], run["algo"], run["seed"])


def enqueue(study: optuna.Study, jobs: list[Job]) -> int:
    """
    Add to the queue, in order, the runs that it neither holds (waiting or running) nor has finished.

    :return: how many runs were added
    """
    held = {run_of(trial) for trial in study.get_trials(deepcopy=False, states=held_states())}
    new = [job for job in jobs if job not in held]
    for job in new:
        study.enqueue_trial({}, user_attrs=run_attrs(job))
    return len(new)


def run_attrs(job: Job) -> dict[str, Any]:
    """:return: the user attributes of the queue entry that stands for ``job`` (read back by :func:`run_of`)"""
    return dict(run=dict(zip(("panel", "task", "algo", "seed"), job, strict=True)))


def held_states() -> tuple[TrialState, ...]:
    return TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE


def taken_elsewhere(study: optuna.Study, number: int, job: Job) -> bool:
    """
    :return: whether an entry of the same run has finished, or an earlier entry is running it (of two entries taken at
        once, the earlier trains)
    """
    twins = [trial for trial in study.get_trials(deepcopy=False) if run_of(trial) == job and trial.number != number]
    finished = any(trial.state == TrialState.COMPLETE for trial in twins)
    return finished or any(trial.state == TrialState.RUNNING and trial.number < number for trial in twins)


def take_a_given_back_run_instead(study: optuna.Study, trial: Trial, job: Job) -> Job:
    """
    :return: the run that ``trial`` (just taken, standing for ``job``) trains: the earliest given-back run that waits,
        if ``job`` was never started and this worker can claim that run's entry, else ``job``. The steps keep every run
        in the queue whenever this worker dies: claim the entry and beat its heart (a dead worker's claim is given back
        like a run), enqueue ``job`` again, make ``trial`` stand for the given-back run, close the claimed entry.
    """
    storage = study._storage  # Optuna offers no public handle on a study's storage
    if was_given_back(storage.get_trial(trial._trial_id)):
        return job
    for entry in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        given_back = run_of(entry)
        if not was_given_back(entry) or given_back in (None, job):
            continue
        if claim(storage, entry):
            storage.record_heartbeat(entry._trial_id)
            study.enqueue_trial({}, user_attrs=run_attrs(job))
            trial.set_user_attr("run", run_attrs(given_back)["run"])
            study.tell(entry.number, state=TrialState.PRUNED)
            return given_back
    return job


def claim(storage: optuna.storages.BaseStorage, entry: FrozenTrial) -> bool:
    """:return: whether this worker took the waiting ``entry`` (atomically); not when another worker took or closed it"""
    try:
        return storage.set_trial_state_values(entry._trial_id, state=TrialState.RUNNING)  # False: taken by another
    except optuna.exceptions.UpdateFinishedTrialError:  # taken and closed by another since we read it
        return False


def was_given_back(entry: FrozenTrial) -> bool:
    """:return: whether a queue entry is a run given back (what ``RetryFailedTrialCallback.retried_trial_number`` reads)"""
    return "failed_trial" in entry.system_attrs


def give_back_stale_runs(study: optuna.Study) -> None:
    """
    Fail the runs whose worker has stopped sending heartbeats, or has exited on this machine; the storage's callback
    enqueues them again.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    storage = study._storage  # Optuna offers no public handle on a study's storage
    for entry in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if worker_exited_on_this_machine(entry):
            try:
                failed = storage.set_trial_state_values(entry._trial_id, state=TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:  # another worker failed or closed it since we read it
                continue
            if failed:
                storage.get_heartbeat_stale_trial_callback()(study, storage.get_trial(entry._trial_id))


def worker_exited_on_this_machine(entry: FrozenTrial) -> bool:
    """
    :return: whether the running ``entry``'s worker ran on this machine and its process is gone (a zombie, a process
        of another user or a reused process id reads as alive: the run then waits for the grace period)
    """
    host, _, pid = str(entry.user_attrs.get("worker", "")).rpartition(":")
    if entry.user_attrs.get("worker_entry") != entry.number or host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def work(study: optuna.Study, train: Callable[[Job], float], poll_seconds: float = 10.0) -> list[Job]:
    """
    Take the queue's runs one at a time and train them until nothing waits and nothing runs.

    :param study: the queue (:func:`open_queue`)
    :param train: trains one run to its budget (resuming it if it can) and returns its CPU seconds
    :param poll_seconds: how long to wait, while others' runs are running, before looking again
    :return: the runs this worker finished
    """
    finished: list[Job] = []

    def objective(trial: Trial) -> float:
        job = run_of(trial)
        if job is None:  # another worker took the last waiting run between our look and our take
            raise optuna.TrialPruned("no run was waiting")
        if taken_elsewhere(study, trial.number, job):  # two machines enqueued it at the same moment
            raise optuna.TrialPruned("another entry of the queue holds this run")
        job = take_a_given_back_run_instead(study, trial, job)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("worker_entry", trial.number)  # a given-back entry copies the dead worker's attributes
        seconds = train(job)
        finished.append(job)
        return seconds

    while True:
        give_back_stale_runs(study)
        states = {trial.state for trial in study.get_trials(deepcopy=False)}
        if TrialState.WAITING in states:
            study.optimize(objective, n_trials=1)
        elif TrialState.RUNNING in states:
            time.sleep(poll_seconds)
        else:
            return finished
