"""The package's own warning classes, so that a pipeline can filter them by class (no torch or SB3 import)."""


class NoGradientStepWarning(UserWarning):
    """
    A ``learn()`` call will make no gradient step at all: it ends before its number of timesteps passes
    ``learning_starts``, so the model learns nothing from it (SB3 would go on silently).

    Filter it by class, e.g. ``warnings.simplefilter("ignore", sb3_tecrl.NoGradientStepWarning)`` or, in pytest's
    configuration, ``filterwarnings = ["ignore::sb3_tecrl.NoGradientStepWarning"]``.
    """
