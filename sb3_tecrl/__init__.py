"""
DSAC-E (Trajectory Entropy-Constrained RL) and DSAC-T for Stable-Baselines3.

The algorithms, the checkpoint tools (:class:`sb3_tecrl.checkpoint.CheckpointCallback`,
:func:`sb3_tecrl.checkpoint.latest_checkpoint`, :func:`sb3_tecrl.checkpoint.resume`) and
:func:`sb3_tecrl.regimes.make_model`, :func:`sb3_tecrl.regimes.env_steps_for` are imported on first use
(``from sb3_tecrl import DSACE``), so that importing the package, as the RL Zoo hook does at interpreter start, imports
nothing else (not even ``typing``).
"""

from sb3_tecrl.version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING would cost importing typing at every interpreter start (the zoo hook)
if TYPE_CHECKING:
    from sb3_tecrl.checkpoint import CheckpointCallback, latest_checkpoint, resume
    from sb3_tecrl.common.warning_types import NoGradientStepWarning
    from sb3_tecrl.dsace import DSACE
    from sb3_tecrl.dsact import DSACT
    from sb3_tecrl.regimes import env_steps_for, make_model

# each lazily imported name and its module
_LAZY = {
    "DSACE": "sb3_tecrl.dsace",
    "DSACT": "sb3_tecrl.dsact",
    "make_model": "sb3_tecrl.regimes",
    "env_steps_for": "sb3_tecrl.regimes",
    "CheckpointCallback": "sb3_tecrl.checkpoint",
    "latest_checkpoint": "sb3_tecrl.checkpoint",
    "resume": "sb3_tecrl.checkpoint",
    "NoGradientStepWarning": "sb3_tecrl.common.warning_types",
}

__all__ = [
    "DSACE",
    "DSACT",
    "CheckpointCallback",
    "NoGradientStepWarning",
    "__version__",
    "env_steps_for",
    "latest_checkpoint",
    "make_model",
    "resume",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sb3_tecrl' has no attribute {name!r}")
