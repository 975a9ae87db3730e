"""
Registration of our algorithms (every name of :func:`algorithms`) with the RL Zoo (rl_zoo3): algorithms, default
hyperparameter files, Optuna samplers, inference-only loading in enjoy/record_video/push_to_hub, the parallel-training
and checkpoint callbacks, and the v2/v3 MuJoCo id substitution.

Only :func:`register` imports the zoo, so this module is cheap to import.
"""

import functools
import inspect
import sys
from pathlib import Path
from typing import Any

from sb3_tecrl.zoo.hyperparams import hyperparams_path

# Zoo programs that only play a trained agent: they load models without allocating the replay buffer
PLAY_PROGRAMS = frozenset({"enjoy", "record_video", "record_training", "push_to_hub"})


def algorithms() -> dict[str, type]:
    """
    :return: the zoo names of our algorithms and their classes: ``dsace``/``dsact`` (SB3's sampling regime) and
        ``dsace_paper``/``dsact_paper`` (the same classes with the papers' regime in their hyperparameter files)
    """
    from sb3_tecrl.regimes import zoo_names

    return zoo_names()


def called_by_play_program() -> bool:
    """
    :return: whether the current call comes from one of the zoo's programs that only play a trained agent
        (``python -m rl_zoo3.enjoy``, the ``rl_zoo3 enjoy`` console script, ``python -m sb3_tecrl.zoo enjoy``, ...)
    """
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.stem in PLAY_PROGRAMS and path.parent.name == "rl_zoo3":
            return True
        frame = frame.f_back
    return False


def zoo_variant(algo_class: type) -> type:
    """
    The class registered with the zoo: ``algo_class`` whose ``load`` defaults to ``buffer_size=1`` when a zoo program
    only plays the agent, as the zoo does for its own off-policy algorithms. It loads plain ``algo_class`` instances.
    """

    def load(cls: type, *args: Any, **kwargs: Any) -> Any:
        if called_by_play_program():
            kwargs.setdefault("buffer_size", 1)
        return algo_class.load(*args, **kwargs)

    return type(algo_class.__name__, (algo_class,), {"load": classmethod(load), "__module__": algo_class.__module__})


def register() -> None:
    """
    Register every name of :func:`algorithms` with the RL Zoo (algorithm, Optuna sampler and converter, shipped
    hyperparameter file), put :class:`sb3_tecrl.zoo.callbacks.ParallelTrainCallback` in the place of the zoo's (which
    accepts only SAC and TQC) and :class:`sb3_tecrl.checkpoint.CheckpointCallback` in the place of SB3's for
    ``--save-freq`` (checkpoints that a kill cannot break, same files, for every algorithm of the zoo), and substitute
    the legacy MuJoCo ids. Idempotent.
    """
    from rl_zoo3 import callbacks, exp_manager, hyperparams_opt, utils

    from sb3_tecrl.checkpoint import CheckpointCallback
    from sb3_tecrl.zoo import callbacks as our_callbacks  # not yet complete when it is what imported rl_zoo3
    from sb3_tecrl.zoo.envs import substitute_legacy_mujoco_envs
    from sb3_tecrl.zoo.hyperparams_opt import converter_for, sampler_for

    for name, algo_class in algorithms().items():
        utils.ALGOS[name] = zoo_variant(algo_class)
        hyperparams_opt.HYPERPARAMS_SAMPLER[name] = sampler_for(algo_class)
        hyperparams_opt.HYPERPARAMS_CONVERTER[name] = converter_for(name)
    use_shipped_hyperparams(exp_manager.ExperimentManager)
    accept_linear_temperature_schedule(exp_manager.ExperimentManager)
    if hasattr(our_callbacks, "ParallelTrainCallback"):  # else the module takes the zoo's place when it has run
        callbacks.ParallelTrainCallback = our_callbacks.ParallelTrainCallback
    exp_manager.CheckpointCallback = CheckpointCallback  # the name create_callbacks() calls for --save-freq
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


def accept_linear_temperature_schedule(manager_class: type) -> None:
    """
    Let ``ent_coef_learning_rate`` take the zoo's schedule forms (``lin_<initial value>``), which the zoo's
    ExperimentManager converts for ``learning_rate`` only. Idempotent.
    """
    original = manager_class._preprocess_schedules
    if getattr(original, "sb3_tecrl_patched", False):
        return

    def _preprocess_schedules(hyperparams: dict[str, Any]) -> dict[str, Any]:
        hyperparams = original(hyperparams)
        if isinstance(hyperparams.get("ent_coef_learning_rate"), str):
            schedule = original({"learning_rate": hyperparams["ent_coef_learning_rate"]})["learning_rate"]
            hyperparams["ent_coef_learning_rate"] = schedule
        return hyperparams

    _preprocess_schedules.sb3_tecrl_patched = True  # type: ignore[attr-defined]
    manager_class._preprocess_schedules = staticmethod(_preprocess_schedules)
