"""
Nothing lost when a run is killed or the disk fills: atomic saves, checkpoint sets, clear errors for incomplete files.

The kill test kills real processes (SIGKILL) that train and checkpoint; the full disk is a real size-limited file system
where the test can mount one (a tmpfs in a user namespace), and a write that raises ``ENOSPC`` everywhere.
"""

import errno
import io
import multiprocessing
import os
import random
import select
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch as th
from helpers import ConstantStateEnv
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from test_save_load import assert_same_training_state

from sb3_tecrl import DSACE, CheckpointCallback, latest_checkpoint, resume
from sb3_tecrl.checkpoint import read_sets
from sb3_tecrl.common import atomic
from sb3_tecrl.common.atomic import IncompleteFileError, atomic_write

TINY = dict(learning_starts=20, batch_size=16, buffer_size=1_000, policy_kwargs=dict(net_arch=[16]), seed=3, device="cpu")


def tiny_model(env="Pendulum-v1", steps: int = 60, **kwargs) -> DSACE:
    model = DSACE("MlpPolicy", env, **{**TINY, **kwargs})
    model.learn(steps)
    return model


def leftovers(folder: Path) -> list[Path]:
    """:return: the temporary files in ``folder``"""
    return [path for path in folder.iterdir() if atomic.TEMPORARY_MARK in path.name]


# --- atomic writes ---------------------------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_write(target) as file:
        file.write(b"half of the new")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"previous" and leftovers(tmp_path) == []
    with atomic_write(target) as file:
        file.write(b"new")
    assert target.read_bytes() == b"new" and leftovers(tmp_path) == []


def test_saves_to_paths_are_atomic_and_file_objects_keep_sb3s_behaviour(tmp_path, monkeypatch):
    model = tiny_model()
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")
    assert {path.name for path in tmp_path.iterdir()} == {"model.zip", "buffer.pkl"}  # SB3's suffixes
    replaced = []
    monkeypatch.setattr(
        atomic.os, "replace", lambda source, target: replaced.append(Path(target)) or os.rename(source, target)
    )
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    assert replaced == [tmp_path / "model.zip", tmp_path / "buffer.pkl"]
    stream = io.BytesIO()
    model.save(stream)  # a file object: written in place, as SB3 does, and left open for its owner
    assert DSACE.load(io.BytesIO(stream.getvalue()), device="cpu").num_timesteps == model.num_timesteps
    loaded = DSACE.load(tmp_path / "model", device="cpu")
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert_same_training_state(model, loaded)
    assert loaded.replay_buffer.pos == model.replay_buffer.pos


# --- a full disk -----------------------------------------------------------------------------------------------------


class FullDisk(io.FileIO):
    """A file on a disk with ``ROOM`` bytes free: a write beyond them raises ``ENOSPC``, as the kernel does."""

    ROOM = 20_000

    def write(self, data) -> int:
        if self.tell() + len(data) > self.ROOM:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


@pytest.mark.parametrize("what", ["model", "replay_buffer", "fsync"])
def test_a_full_disk_raises_a_clear_oserror_and_keeps_the_previous_file(what, tmp_path, monkeypatch):
    model = tiny_model()
    path = tmp_path / ("model.zip" if what != "replay_buffer" else "buffer.pkl")
    save = model.save if what != "replay_buffer" else model.save_replay_buffer
    save(path)
    previous = path.read_bytes()
    if what == "fsync":  # the data fitted in the page cache, the disk fills when it is flushed
        monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space")))
    else:
        monkeypatch.setattr(atomic.os, "fdopen", lambda descriptor, mode: io.BufferedWriter(FullDisk(descriptor, "wb")))
    with pytest.raises(OSError) as error:
        save(path)
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
    assert str(path) in str(error.value) and "left as it was" in str(error.value)
    assert path.read_bytes() == previous and leftovers(tmp_path) == []


FULL_DISK_SCRIPT = """
import errno, os, sys
from pathlib import Path
from sb3_tecrl import DSACE
folder = Path(sys.argv[1])
model = DSACE("MlpPolicy", "Pendulum-v1", buffer_size=1, policy_kwargs=dict(net_arch=[64, 64]), device="cpu")
model.save(folder / "model")
previous = (folder / "model.zip").read_bytes()  # 0.2 MB
model = DSACE("MlpPolicy", "Pendulum-v1", buffer_size=1, policy_kwargs=dict(net_arch=[256, 256]), device="cpu")  # 2.2 MB
try:
    model.save(folder / "model")
except OSError as error:
    assert error.errno == errno.ENOSPC and str(folder / "model.zip") in str(error), error
    assert (folder / "model.zip").read_bytes() == previous
    print(sorted(path.name for path in folder.iterdir()))
else:
    raise AssertionError("the save did not fill the file system")
"""


def test_a_real_full_file_system_keeps_the_previous_file(tmp_path):
    # a 1 MiB tmpfs in a user namespace; where the system allows none, the test above stands for it
    mount = tmp_path / "small"
    mount.mkdir()
    probe = subprocess.run(
        ["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=1m", "none", str(mount)], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {probe.stderr.decode().strip()}")
    script = tmp_path / "full_disk.py"
    script.write_text(FULL_DISK_SCRIPT)
    command = f"mount -t tmpfs -o size=1m none {mount} && exec {sys.executable} {script} {mount}"
    result = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "['model.zip']"  # the previous file, and no temporary file


# --- incomplete files ------------------------------------------------------------------------------------------------


def test_truncated_or_corrupted_files_are_named_and_said_incomplete(tmp_path):
    model = tiny_model()
    model.save(tmp_path / "model")
    model.save_replay_buffer(tmp_path / "buffer")
    rng = random.Random(0)
    for name, load in (("model.zip", lambda path: DSACE.load(path, device="cpu")), ("buffer.pkl", model.load_replay_buffer)):
        complete = (tmp_path / name).read_bytes()
        damaged = tmp_path / f"damaged_{name}"
        for cut in [0, 1, len(complete) // 2, len(complete) - 1, *rng.sample(range(len(complete)), 10)]:
            damaged.write_bytes(complete[:cut])
            with pytest.raises(IncompleteFileError, match=f"{damaged} is incomplete or corrupted"):
                load(damaged)
    # a flipped byte inside the zip's data fails a CRC check
    complete = (tmp_path / "model.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "model.zip") as archive:
        member = archive.getinfo("policy.pth")
    offset = member.header_offset + 30 + len(member.filename) + member.compress_size // 2
    (tmp_path / "flipped.zip").write_bytes(complete[:offset] + bytes([complete[offset] ^ 0xFF]) + complete[offset + 1 :])
    with pytest.raises(IncompleteFileError, match=r"flipped\.zip is incomplete or corrupted"):
        DSACE.load(tmp_path / "flipped.zip", device="cpu")


def test_a_damaged_set_names_its_file_and_the_newest_earlier_complete_set(tmp_path):
    env = DummyVecEnv([lambda: ConstantStateEnv()])
    model = DSACE("MlpPolicy", VecNormalize(env), **TINY)
    callback = CheckpointCallback(25, str(tmp_path), save_replay_buffer=True, save_vecnormalize=True)
    model.learn(75, callback=callback)
    assert [checkpoint.steps for checkpoint in read_sets(tmp_path)] == [25, 50, 75]
    newest = read_sets(tmp_path)[-1]
    assert set(newest.files) == {"model", "replay_buffer", "vecnormalize"}
    buffer = newest.files["replay_buffer"]
    buffer.write_bytes(buffer.read_bytes()[:-100])
    with pytest.raises(IncompleteFileError) as error:
        newest.load(DSACE)
    assert str(buffer) in str(error.value) and "the one at 50 steps" in str(error.value)
    with pytest.raises(IncompleteFileError, match="the one at 50 steps"):  # loading the file by hand says the same
        model.load_replay_buffer(buffer)
    with pytest.warns(UserWarning, match="Skipping the checkpoint set at 75 steps"):
        complete = latest_checkpoint(tmp_path)
    assert complete.steps == 50
    # the set's VecNormalize statistics come back around the env
    resumed = complete.load(DSACE, env=DummyVecEnv([lambda: ConstantStateEnv()]), device="cpu")
    assert isinstance(resumed.get_vec_normalize_env(), VecNormalize) and resumed.num_timesteps == 50


# --- the checkpoint callback -----------------------------------------------------------------------------------------


def test_the_callback_keeps_the_last_sets_with_sb3s_file_names(tmp_path):
    # a kill's leftovers: a temporary file, and the files of a set that got no manifest
    (tmp_path / f".rl_model_5_steps.zip{atomic.TEMPORARY_MARK}1-abcd").write_bytes(b"partial")
    (tmp_path / "rl_model_replay_buffer_10_steps.pkl").write_bytes(b"orphan")
    model = DSACE("MlpPolicy", "Pendulum-v1", **TINY)
    model.learn(100, callback=CheckpointCallback(20, str(tmp_path), save_replay_buffer=True, keep_last=2))
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "rl_model_100_steps.zip",
        "rl_model_80_steps.zip",
        "rl_model_manifest_100_steps.json",
        "rl_model_manifest_80_steps.json",
        "rl_model_replay_buffer_100_steps.pkl",
        "rl_model_replay_buffer_80_steps.pkl",
    ]
    with pytest.raises(ValueError, match=r"keep_last must be None .* or an integer >= 1, got 0"):
        CheckpointCallback(20, str(tmp_path), keep_last=0)


def test_the_callback_works_for_an_on_policy_sb3_algorithm(tmp_path):
    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=32, batch_size=32, n_epochs=1, policy_kwargs=dict(net_arch=[8]))
    model.learn(64, callback=CheckpointCallback(10, str(tmp_path), save_replay_buffer=True))
    # saved at each rollout boundary after 10 calls: 32, 64
    assert [checkpoint.steps for checkpoint in read_sets(tmp_path)] == [32, 64]
    resumed = resume(PPO, tmp_path, make_vec_env("Pendulum-v1"), 96)
    assert resumed.num_timesteps == 96


def test_resuming_from_a_set_continues_exactly_as_the_uninterrupted_run(tmp_path):
    uninterrupted = DSACE("MlpPolicy", ConstantStateEnv(action_dim=2), **TINY)
    uninterrupted.learn(80, callback=CheckpointCallback(40, str(tmp_path), save_replay_buffer=True))
    first_set = read_sets(tmp_path)[0]
    assert first_set.steps == 40
    resumed = first_set.load(DSACE, env=DummyVecEnv([lambda: ConstantStateEnv(action_dim=2)]), device="cpu")
    resumed.learn(40, reset_num_timesteps=False)
    assert_same_training_state(uninterrupted, resumed)
    assert np.array_equal(resumed.replay_buffer.actions, uninterrupted.replay_buffer.actions)


# --- the kill test ---------------------------------------------------------------------------------------------------

KILLS = 20
KILL_RUN = dict(TINY, buffer_size=20_000, learning_starts=50)
SAVE_FREQ = 50


def train_until_killed(folder: Path, events: int) -> None:
    """
    The killed process: resume from the newest complete set (or start), then train and checkpoint for ever, writing
    ``start <steps>`` before each save and ``done <steps> <seconds it took>`` after it to the pipe ``events``.
    """
    th.set_num_threads(1)

    class ReportingCheckpoints(CheckpointCallback):
        def save(self):
            os.write(events, f"start {self.num_timesteps} 0\n".encode())
            started = time.perf_counter()
            checkpoint = super().save()
            os.write(events, f"done {checkpoint.steps} {time.perf_counter() - started}\n".encode())
            return checkpoint

    checkpoint = latest_checkpoint(folder)
    env = make_vec_env("Pendulum-v1", seed=0)
    model = checkpoint.load(DSACE, env=env, device="cpu") if checkpoint else DSACE("MlpPolicy", env, **KILL_RUN)
    callback = ReportingCheckpoints(SAVE_FREQ, str(folder), save_replay_buffer=True, keep_last=2)
    model.learn(10**9, callback=callback, reset_num_timesteps=False)


def read_events(pipe: int, timeout: float) -> list[tuple[str, int, float]]:
    """:return: the events the process wrote within ``timeout`` seconds (all of them, once it is dead)"""
    text = b""
    while select.select([pipe], [], [], timeout)[0]:
        chunk = os.read(pipe, 1 << 16)
        if not chunk:
            break
        text += chunk
        timeout = 0.0
    return [(kind, int(steps), float(seconds)) for kind, steps, seconds in map(str.split, text.decode().splitlines())]


def run_and_kill(folder: Path, inside_save: bool, delay: float) -> list[tuple[str, int, float]]:
    """
    Start a training process, SIGKILL it ``delay`` seconds after it starts (or, with ``inside_save``, ``delay``
    seconds after it starts a save), and return the events it wrote.
    """
    read_end, write_end = os.pipe()
    process = multiprocessing.get_context("fork").Process(target=train_until_killed, args=(folder, write_end))
    process.start()
    os.close(write_end)
    events: list[tuple[str, int, float]] = []
    if inside_save:
        while not any(event[0] == "start" for event in events):
            events += read_events(read_end, 60.0)
    time.sleep(delay)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    events += read_events(read_end, 1.0)
    os.close(read_end)
    assert process.exitcode == -signal.SIGKILL
    return events


def snapshot(folder: Path) -> dict[Path, int]:
    """:return: the files of ``folder`` and their modification times"""
    return {path: path.stat().st_mtime_ns for path in folder.iterdir()} if folder.exists() else {}


def test_sigkill_at_20_random_moments_loses_no_complete_set(tmp_path, capsys):
    rng = random.Random(30)
    folder = tmp_path / "run"
    newest_done, save_seconds = 0, [0.05]
    interrupted = {"saves": 0, "inside a file": 0, "between files": 0, "after the manifest": 0}
    for kill in range(KILLS):
        inside_save = kill % 2 == 1  # every other kill aims at a save: a random moment of a save's typical duration
        delay = rng.uniform(0.0, float(np.median(save_seconds))) if inside_save else rng.uniform(0.5, 2.0)
        before = snapshot(folder)
        events = run_and_kill(folder, inside_save, delay)
        save_seconds += [seconds for kind, _, seconds in events if kind == "done"]
        newest_done = max([newest_done, *(steps for kind, steps, _ in events if kind == "done")])
        killed_saving = events[-1][1] if events and events[-1][0] == "start" else None
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a set with a manifest is complete: none is skipped
            checkpoint = latest_checkpoint(folder)
        if killed_saving is not None:
            interrupted["saves"] += 1
            written = {path for path, mtime in snapshot(folder).items() if before.get(path) != mtime}
            interrupted["inside a file"] += any(atomic.TEMPORARY_MARK in path.name for path in written)
            if checkpoint is not None and checkpoint.steps == killed_saving:
                interrupted["after the manifest"] += 1  # the set was complete, the kill came before it said so
                newest_done = killed_saving
            else:
                interrupted["between files"] += any(f"_{killed_saving}_steps." in path.name for path in written)
        if newest_done == 0:
            assert checkpoint is None
            continue
        assert checkpoint.steps == newest_done  # sets lost: 0 -- the newest complete set is the last one finished
        model = checkpoint.load(DSACE, env=make_vec_env("Pendulum-v1"), device="cpu")
        assert model.num_timesteps == newest_done and model.replay_buffer.size() == min(newest_done, KILL_RUN["buffer_size"])
    assert interrupted["saves"] >= 1 and newest_done >= 2 * SAVE_FREQ  # saves were interrupted, and the run progressed
    # training resumes from the newest complete set, and its callback removes the killed saves' temporary files
    model = resume(DSACE, folder, make_vec_env("Pendulum-v1"), newest_done + SAVE_FREQ,
                   callback=CheckpointCallback(SAVE_FREQ, str(folder), save_replay_buffer=True, keep_last=2))  # fmt: skip
    assert model.num_timesteps == newest_done + SAVE_FREQ == latest_checkpoint(folder).steps and leftovers(folder) == []
    with capsys.disabled():
        print(f"\nkill test: {KILLS} kills, {interrupted['saves']} during a save (inside a file: "
              f"{interrupted['inside a file']}, between the files of a set: {interrupted['between files']}, after the "
              f"manifest: {interrupted['after the manifest']}), sets lost: 0, {newest_done} steps, "
              f"saves took {np.median(save_seconds):.3f} s (median)")  # fmt: skip
