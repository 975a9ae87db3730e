from sb3_tecrl.dsace.policies import CnnPolicy, MlpPolicy, MultiInputPolicy
from sb3_tecrl.dsact.dsact import DSACT

__all__ = ["DSACT", "CnnPolicy", "MlpPolicy", "MultiInputPolicy"]
