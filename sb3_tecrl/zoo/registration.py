"""
Registration of dsace and dsact with the RL Zoo (rl_zoo3): algorithms, default hyperparameter files, Optuna samplers,
inference-only loading in enjoy/record_video/push_to_hub, and the v2/v3 MuJoCo id substitution.

Only :func:`register` imports the zoo, so this module is cheap to import.
"""

import functools
import inspect
import sys
from pathlib import Path
from typing import Any

# Zoo programs that only play a trained agent: they load models without allocating the replay buffer
PLAY_PROGRAMS = frozenset({"rl_zoo3.enjoy", "rl_zoo3.record_video", "rl_zoo3.record_training", "rl_zoo3.push_to_hub"})
PLAY_CLI_COMMANDS = frozenset({"enjoy"})


def algorithms() -> dict[str, type]:
    """:return: the zoo names of our algorithms and their classes"""
    from sb3_tecrl import DSACE, DSACT

    return {"dsace": DSACE, "dsact": DSACT}


def hyperparams_path(algo: str) -> Path:
    """
    The shipped hyperparameter file of ``algo``: inside the installed package, or ``hyperparams/`` of a source
    checkout (editable install).
    """
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "hyperparams", package.parent / "hyperparams"):
        if (folder / f"{algo}.yml").is_file():
            return folder / f"{algo}.yml"
    raise FileNotFoundError(f"sb3-tecrl's hyperparams/{algo}.yml is missing from {package}: reinstall sb3-tecrl.")


def is_play_program() -> bool:
    """:return: whether this interpreter runs one of the zoo's programs that only play a trained agent"""
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if main_spec is not None and main_spec.name in PLAY_PROGRAMS:
        return True
    return Path(sys.argv[0]).name == "rl_zoo3" and sys.argv[1:2] and sys.argv[1] in PLAY_CLI_COMMANDS


def without_replay_buffer(algo_class: type) -> type:
    """
    A subclass of ``algo_class`` whose ``load`` defaults to ``buffer_size=1``, as the zoo does for its own off-policy
    algorithms when it only plays an agent. It loads plain ``algo_class`` instances.
    """

    def load(cls: type, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffer_size", 1)
        return algo_class.load(*args, **kwargs)

    return type(algo_class.__name__, (algo_class,), {"load": classmethod(load), "__module__": algo_class.__module__})


def register(inference_only: bool | None = None) -> None:
    """
    Register dsace and dsact with the RL Zoo. Idempotent.

    :param inference_only: load models without their replay buffer (enjoy, record_video, push_to_hub);
        ``None`` detects it from the running program
    """
    from rl_zoo3 import exp_manager, hyperparams_opt, utils

    from sb3_tecrl.zoo.envs import substitute_legacy_mujoco_envs
    from sb3_tecrl.zoo.hyperparams_opt import CONVERTERS, SAMPLERS

    play = is_play_program() if inference_only is None else inference_only
    for name, algo_class in algorithms().items():
        utils.ALGOS[name] = without_replay_buffer(algo_class) if play else algo_class
    hyperparams_opt.HYPERPARAMS_SAMPLER.update(SAMPLERS)
    hyperparams_opt.HYPERPARAMS_CONVERTER.update(CONVERTERS)
    use_shipped_hyperparams(exp_manager.ExperimentManager)
    substitute_legacy_mujoco_envs()


def use_shipped_hyperparams(manager_class: type) -> None:
    """Make the zoo's ExperimentManager read our hyperparameter files for our algorithms unless ``-conf`` is given."""
    original = manager_class.__init__
    if getattr(original, "sb3_tecrl_patched", False):
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        algo = bound.arguments.get("algo")
        if bound.arguments.get("config") is None and algo in algorithms():
            bound.arguments["config"] = str(hyperparams_path(algo))
        original(*bound.args, **bound.kwargs)

    __init__.sb3_tecrl_patched = True  # type: ignore[attr-defined]
    manager_class.__init__ = __init__
