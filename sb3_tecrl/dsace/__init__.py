from sb3_tecrl.dsace.dsace import DSACE
from sb3_tecrl.dsace.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["DSACE", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
