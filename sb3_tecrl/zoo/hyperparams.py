"""The shipped hyperparameter files, in the RL Zoo's format, read into algorithm keyword arguments without the zoo."""

from pathlib import Path
from typing import Any

# Keys of a zoo entry that the zoo consumes itself rather than passing to the algorithm
ZOO_ONLY_KEYS = ("n_timesteps", "n_envs", "normalize", "env_wrapper", "env_kwargs", "policy", "callback", "frame_stack")


def hyperparams_path(algo: str) -> Path:
    """
    The shipped hyperparameter file of ``algo`` ("dsace" or "dsact"): inside the installed package, or
    ``hyperparams/`` of a source checkout (editable install).
    """
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "hyperparams", package.parent / "hyperparams"):
        if (folder / f"{algo}.yml").is_file():
            return folder / f"{algo}.yml"
    raise FileNotFoundError(f"sb3-tecrl's hyperparams/{algo}.yml is missing from {package}: reinstall sb3-tecrl.")


def hyperparams_entry(path: Path, env_id: str) -> dict[str, Any]:
    """
    :param path: a zoo-format YAML file
    :param env_id: the environment id
    :return: the file's entry for ``env_id``, or its ``default`` entry, or ``{}`` when there is neither, as written
    """
    import yaml

    entries = yaml.safe_load(path.read_text())
    return dict(entries.get(env_id, entries.get("default", {})))


def algorithm_kwargs(path: Path, env_id: str) -> dict[str, Any]:
    """
    The keyword arguments of a zoo hyperparameter file's entry for ``env_id`` (or its ``default`` entry; ``{}`` when
    there is neither), as the zoo would pass them: ``policy_kwargs`` strings evaluated, ``lin_<x>`` schedules made
    linear, the zoo's own keys left out.

    :param path: a zoo-format YAML file
    :param env_id: the environment id
    """
    from torch import nn

    entry = hyperparams_entry(path, env_id)
    kwargs = {key: _linear_schedule(value) for key, value in entry.items() if key not in ZOO_ONLY_KEYS}
    if isinstance(kwargs.get("policy_kwargs"), str):
        kwargs["policy_kwargs"] = eval(kwargs["policy_kwargs"], {"nn": nn, "dict": dict})  # the zoo's own format
    return kwargs


def _linear_schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("lin_"):
        start = float(value.split("_")[1])
        return lambda progress_remaining: progress_remaining * start
    return value
