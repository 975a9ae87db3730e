"""
Checkpoints that a kill cannot break, for any SB3 algorithm: :class:`CheckpointCallback` and :func:`resume`.

A checkpoint *set* is the files of one moment of a run, in SB3's ``CheckpointCallback`` layout (so the RL Zoo's
``--load-checkpoint`` and ``--load-last-checkpoint`` find them): the model ``<prefix>_<steps>_steps.zip``, optionally
the replay buffer ``<prefix>_replay_buffer_<steps>_steps.pkl`` and the ``VecNormalize`` statistics
``<prefix>_vecnormalize_<steps>_steps.pkl``, and, written last, the manifest ``<prefix>_manifest_<steps>_steps.json``
with each file's size and SHA-256. Every file is written atomically (:func:`sb3_tecrl.common.atomic.atomic_write`),
so a set is complete exactly when its manifest exists and its files match it; a kill during a save costs the steps
since the last complete set, never an earlier set.
"""

import functools
import json
import os
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common import callbacks as sb3_callbacks
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.type_aliases import MaybeCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_tecrl.common.atomic import (
    TEMPORARY_MARK,
    atomic_write,
    incomplete_file_error,
    save_atomically,
    sha256_of,
)

MANIFEST_FORMAT = 1
# the kind of each file of a set: its name's infix and extension
KINDS = {"model": ("", "zip"), "replay_buffer": ("replay_buffer_", "pkl"), "vecnormalize": ("vecnormalize_", "pkl")}
MANIFEST = ("manifest_", "json")


SET_FILE = re.compile(r"(?P<prefix>.+?)_(?:replay_buffer_|vecnormalize_|manifest_)?(?P<steps>\d+)_steps\.(?:zip|pkl|json)")


def set_file_name(name_prefix: str, infix: str, steps: int, extension: str) -> str:
    """:return: the name of a checkpoint file, as SB3's ``CheckpointCallback`` names it"""
    return f"{name_prefix}_{infix}{steps}_steps.{extension}"


def parse_set_file_name(name: str) -> tuple[str, int] | None:
    """:return: the name prefix and the steps of the set a file (model, buffer, statistics, manifest) belongs to"""
    match = SET_FILE.fullmatch(name)
    return (match["prefix"], int(match["steps"])) if match else None


def set_steps(path: Path, name_prefix: str) -> int | None:
    """:return: the steps of the set named ``name_prefix`` that ``path`` belongs to, else ``None``"""
    parsed = parse_set_file_name(path.name)
    return parsed[1] if parsed is not None and parsed[0] == name_prefix else None


@dataclass(frozen=True)
class CheckpointSet:
    """
    One checkpoint set, as its manifest lists it.

    :param steps: the run's ``num_timesteps`` when it was saved
    :param manifest: the manifest's path
    :param files: the path of each file by kind (``"model"``, ``"replay_buffer"``, ``"vecnormalize"``)
    """

    steps: int
    manifest: Path
    files: dict[str, Path]

    def problem(self) -> tuple[Path, str] | None:
        """:return: the first file of the set that is missing or differs from the manifest, and how; ``None`` if none"""
        entries = json.loads(self.manifest.read_text())["files"]
        for kind, path in self.files.items():
            if not path.exists():
                return path, "missing"
            size, expected = path.stat().st_size, entries[kind]
            if size != expected["bytes"]:
                return path, f"{size} bytes where its checkpoint manifest {self.manifest.name} says {expected['bytes']}"
            if sha256_of(path) != expected["sha256"]:
                return path, f"its SHA-256 differs from the one in its checkpoint manifest {self.manifest.name}"
        return None

    def verify(self) -> None:
        """
        :raises IncompleteFileError: when a file of the set is missing, or of another size or SHA-256 than the manifest
            says, naming the file and the newest earlier complete set
        """
        problem = self.problem()
        if problem is not None:
            raise incomplete_file_error(*problem, complete_set_hint(self.manifest))

    def load(self, algo_class: type[BaseAlgorithm], env: VecEnv | None = None, **load_kwargs: Any) -> BaseAlgorithm:
        """
        Load the set after verifying it: the model (``algo_class.load``), its replay buffer if the set has one, and,
        with ``env`` given, the ``VecNormalize`` statistics around ``env`` if the set has them.

        :param algo_class: the model's class (``DSACE``, ``SAC``, ``PPO``, ...)
        :param env: the environment to continue training in (a ``VecEnv`` without ``VecNormalize``), or ``None``
        :param load_kwargs: passed to ``algo_class.load`` (``device``, ``custom_objects``, ...)
        :return: the model, ready for ``learn(..., reset_num_timesteps=False)``
        """
        self.verify()
        if env is not None and "vecnormalize" in self.files:
            env = VecNormalize.load(str(self.files["vecnormalize"]), env)
        model = algo_class.load(self.files["model"], env=env, **load_kwargs)
        if "replay_buffer" in self.files:
            model.load_replay_buffer(self.files["replay_buffer"])  # type: ignore[attr-defined]
        return model


def read_sets(save_path: str | os.PathLike, name_prefix: str = "rl_model") -> list[CheckpointSet]:
    """:return: the sets of ``save_path`` that have a readable manifest, oldest first (their files are not verified)"""
    sets = []
    for manifest in Path(save_path).glob(f"*_{MANIFEST[0]}*_steps.{MANIFEST[1]}"):
        steps = set_steps(manifest, name_prefix)
        try:
            entries = json.loads(manifest.read_text())["files"]
            files = {kind: manifest.with_name(entry["name"]) for kind, entry in entries.items()}
        except (OSError, ValueError, KeyError, TypeError):
            continue  # written atomically, a manifest is complete: one that does not parse was damaged since
        if steps is not None and "model" in files:
            sets.append(CheckpointSet(steps, manifest, files))
    return sorted(sets, key=lambda checkpoint: checkpoint.steps)


def latest_checkpoint(save_path: str | os.PathLike, name_prefix: str = "rl_model") -> CheckpointSet | None:
    """
    :return: the newest complete checkpoint set of ``save_path`` (its files verified against its manifest), or
        ``None`` when there is none; each newer set that fails verification is skipped with a warning naming it
    """
    for checkpoint in reversed(read_sets(save_path, name_prefix)):
        problem = checkpoint.problem()
        if problem is None:
            return checkpoint
        warnings.warn(f"Skipping the checkpoint set at {checkpoint.steps} steps: {problem[0]} is {problem[1]}.", stacklevel=2)
    return None


def complete_set_hint(path: Path) -> str:
    """
    :return: for a file of a checkpoint set (``<prefix>_..._<steps>_steps.<ext>``), which earlier set of its folder is
        complete; ``""`` for any other file
    """
    parsed = parse_set_file_name(path.name)
    if parsed is None:
        return ""
    name_prefix, steps = parsed
    earlier = [s for s in read_sets(path.parent, name_prefix) if s.steps < steps and s.problem() is None]
    if not earlier:
        return f"No earlier checkpoint set named {name_prefix}_* in {path.parent} is complete."
    return f"The newest earlier complete checkpoint set is the one at {earlier[-1].steps} steps ({earlier[-1].manifest})."


def save_checkpoint(
    model: BaseAlgorithm,
    save_path: str | os.PathLike,
    name_prefix: str = "rl_model",
    save_replay_buffer: bool = False,
    save_vecnormalize: bool = False,
    keep_last: int | None = None,
) -> CheckpointSet:
    """
    Save a checkpoint set of ``model`` at its ``num_timesteps``: every file atomically, the manifest last; then, with
    ``keep_last``, delete the older sets (and the files of sets a kill left without a manifest) beyond the
    ``keep_last`` newest complete ones.

    :param model: any SB3 model
    :param save_path: the folder of the sets
    :param name_prefix: common prefix of the file names
    :param save_replay_buffer: also save the replay buffer (when the model has one)
    :param save_vecnormalize: also save the ``VecNormalize`` statistics (when the model's env has them)
    :param keep_last: how many sets to keep (``None``: all)
    :return: the set written
    """
    folder, steps = Path(save_path), model.num_timesteps
    writers: dict[str, Any] = {"model": model.save}
    if save_replay_buffer and getattr(model, "replay_buffer", None) is not None:
        writers["replay_buffer"] = model.save_replay_buffer  # type: ignore[attr-defined]
    vec_normalize = model.get_vec_normalize_env()
    if save_vecnormalize and vec_normalize is not None:
        writers["vecnormalize"] = functools.partial(pickle.dump, vec_normalize)  # what VecNormalize.save(path) writes
    files = {}
    for kind, write in writers.items():
        infix, extension = KINDS[kind]
        files[kind] = folder / set_file_name(name_prefix, infix, steps, extension)
        save_atomically(files[kind], extension, write)
    entries = {kind: {"name": p.name, "bytes": p.stat().st_size, "sha256": sha256_of(p)} for kind, p in files.items()}
    manifest = folder / set_file_name(name_prefix, MANIFEST[0], steps, MANIFEST[1])
    with atomic_write(manifest) as file:
        file.write(json.dumps({"format": MANIFEST_FORMAT, "steps": steps, "files": entries}, indent=1).encode())
    if keep_last is not None:
        prune(folder, name_prefix, keep_last)
    return CheckpointSet(steps, manifest, files)


def prune(save_path: str | os.PathLike, name_prefix: str, keep_last: int) -> None:
    """
    Keep the ``keep_last`` newest sets that have a manifest; delete every other set file older than the newest of them,
    each set's manifest first (so that a kill during the deletion leaves no set that looks complete and is not).
    Files newer than the newest set (a save a kill interrupted) are left: the run overwrites them when it gets there.
    """
    kept = {checkpoint.steps for checkpoint in read_sets(save_path, name_prefix)[-keep_last:]}
    if not kept:
        return
    doomed = [
        path
        for path in Path(save_path).glob("*_steps.*")
        if (steps := set_steps(path, name_prefix)) is not None and steps not in kept and steps < max(kept)
    ]
    for path in sorted(doomed, key=lambda path: path.suffix != f".{MANIFEST[1]}"):  # manifests first
        path.unlink(missing_ok=True)


def remove_temporary_files(save_path: str | os.PathLike, name_prefix: str) -> None:
    """Delete the temporary files that killed saves of sets named ``name_prefix`` left in ``save_path``."""
    for path in Path(save_path).glob(f".*{TEMPORARY_MARK}*"):
        if set_steps(path.with_name(path.name[1:].split(TEMPORARY_MARK)[0]), name_prefix) is not None:
            path.unlink(missing_ok=True)


class CheckpointCallback(sb3_callbacks.CheckpointCallback):
    """
    SB3's ``CheckpointCallback`` (same arguments, same file names), with sets that a kill cannot break and an optional
    limit on how many are kept. Use it in its place for any SB3 algorithm, and :func:`resume` to continue a run.

    Every ``save_freq`` calls it saves a checkpoint set (see :func:`save_checkpoint`): the model, and as asked the
    replay buffer and the ``VecNormalize`` statistics, each written atomically, then a manifest of their sizes and
    SHA-256s. It saves at the next rollout boundary (or at the end of training), where the model has stored the last
    transition and made its gradient steps, so that a set holds exactly the state ``learn`` continues from (SB3's saves
    in the middle of a step, before the step's transition is stored). At its start it deletes the temporary files of
    earlier saves that a kill interrupted.

    :param save_freq: save a set every ``save_freq`` calls of the callback (environment steps of the vectorized env)
    :param save_path: the folder of the sets
    :param name_prefix: common prefix of the file names
    :param save_replay_buffer: also save the replay buffer
    :param save_vecnormalize: also save the ``VecNormalize`` statistics
    :param verbose: 2 prints each set saved
    :param keep_last: how many complete sets to keep (``None``: all, as SB3's); older ones are deleted after each save
    """

    def __init__(
        self,
        save_freq: int,
        save_path: str,
        name_prefix: str = "rl_model",
        save_replay_buffer: bool = False,
        save_vecnormalize: bool = False,
        verbose: int = 0,
        keep_last: int | None = None,
    ):
        if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be an integer >= 1 (calls between two checkpoints), got {save_freq!r}.")
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1):
            raise ValueError(f"keep_last must be None (keep every set) or an integer >= 1, got {keep_last!r}.")
        super().__init__(save_freq, save_path, name_prefix, save_replay_buffer, save_vecnormalize, verbose)
        self.keep_last = keep_last
        self.save_due = False

    def _init_callback(self) -> None:
        super()._init_callback()
        remove_temporary_files(self.save_path, self.name_prefix)

    def _on_step(self) -> bool:
        if self.n_calls % self.save_freq == 0:
            self.save_due = True
        return True

    def _on_rollout_start(self) -> None:
        if self.save_due:
            self.save()

    def _on_training_end(self) -> None:
        if self.save_due:
            self.save()

    def save(self) -> CheckpointSet:
        """Save a checkpoint set now."""
        self.save_due = False
        checkpoint = save_checkpoint(
            self.model, self.save_path, self.name_prefix, self.save_replay_buffer, self.save_vecnormalize, self.keep_last
        )
        if self.verbose >= 2:
            print(f"Saved the checkpoint set at {checkpoint.steps} steps ({checkpoint.manifest})")
        return checkpoint


def resume(
    algo_class: type[BaseAlgorithm],
    save_path: str | os.PathLike,
    env: VecEnv,
    total_timesteps: int,
    callback: MaybeCallback = None,
    name_prefix: str = "rl_model",
    load_kwargs: dict[str, Any] | None = None,
    **learn_kwargs: Any,
) -> BaseAlgorithm:
    """
    Continue a run from the newest complete checkpoint set of ``save_path``: load it (:meth:`CheckpointSet.load`), then
    ``learn`` the timesteps left to ``total_timesteps`` with ``reset_num_timesteps=False``. Resuming a DSACE/DSACT run
    continues exactly as the uninterrupted run (on CPU, from the same environment state).

    :param algo_class: the model's class
    :param save_path: the folder of the sets
    :param env: the environment to train in (without ``VecNormalize``; the set's statistics are put around it)
    :param total_timesteps: the run's whole budget, counted from its start
    :param callback: callbacks for the rest of the run (a :class:`CheckpointCallback` to keep checkpointing)
    :param name_prefix: common prefix of the file names
    :param load_kwargs: passed to ``algo_class.load``
    :param learn_kwargs: passed to ``learn``
    :return: the trained model
    :raises FileNotFoundError: when ``save_path`` has no complete set
    """
    checkpoint = latest_checkpoint(save_path, name_prefix)
    if checkpoint is None:
        raise FileNotFoundError(f"No complete checkpoint set named {name_prefix}_* in {save_path} to resume from.")
    model = checkpoint.load(algo_class, env, **(load_kwargs or {}))
    return model.learn(total_timesteps - model.num_timesteps, callback=callback, reset_num_timesteps=False, **learn_kwargs)
