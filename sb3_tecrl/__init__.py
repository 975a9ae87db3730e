"""DSAC-E (Trajectory Entropy-Constrained RL) and DSAC-T for Stable-Baselines3."""

from sb3_tecrl.dsace import DSACE
from sb3_tecrl.dsact import DSACT
from sb3_tecrl.version import __version__

__all__ = ["DSACE", "DSACT", "__version__"]
