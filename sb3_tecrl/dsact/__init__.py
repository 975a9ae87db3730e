from sb3_tecrl.dsact.dsact import DSACT
from sb3_tecrl.dsace.policies import CnnPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["DSACT", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
