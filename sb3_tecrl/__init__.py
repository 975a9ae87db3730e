"""
DSAC-E (Trajectory Entropy-Constrained RL) and DSAC-T for Stable-Baselines3.

The algorithms (and :func:`sb3_tecrl.regimes.make_model`, :func:`sb3_tecrl.regimes.env_steps_for`) are imported on
first use (``from sb3_tecrl import DSACE``), so that importing the package, as the RL Zoo hook does at interpreter
start, costs no torch or SB3 import.
"""

from typing import TYPE_CHECKING, Any

from sb3_tecrl.common.warning_types import NoGradientStepWarning
from sb3_tecrl.version import __version__

if TYPE_CHECKING:
    from sb3_tecrl.dsace import DSACE
    from sb3_tecrl.dsact import DSACT

__all__ = ["DSACE", "DSACT", "NoGradientStepWarning", "__version__", "env_steps_for", "make_model"]


def __getattr__(name: str) -> Any:
    if name == "DSACE":
        from sb3_tecrl.dsace import DSACE

        return DSACE
    if name == "DSACT":
        from sb3_tecrl.dsact import DSACT

        return DSACT
    if name in ("make_model", "env_steps_for"):
        from sb3_tecrl import regimes

        return getattr(regimes, name)
    raise AttributeError(f"module 'sb3_tecrl' has no attribute {name!r}")
