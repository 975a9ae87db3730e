from typing import Any, ClassVar

from sb3_tecrl.dsace.dsace import DSACE

# DSAC-E's parameters that DSAC-T does not have
_DSACE_ONLY = (
    "separate_entropy_critic",
    "trajectory_entropy_constraint",
    "rho",
    "entropy_budget",
    "entropy_tau",
    "constraint_states",
)


class DSACT(DSACE):
    """
    DSAC-T: Distributional Soft Actor-Critic with three refinements (https://arxiv.org/abs/2310.05858).

    :class:`~sb3_tecrl.DSACE` with reward-entropy separation and the trajectory entropy constraint both off:
    twin Gaussian reward critics with the soft Bellman target ``r + g (1 - d)(q' - alpha log pi')``, expected value
    substituting, twin value distribution learning and variance-based critic gradient adjusting; the actor minimises
    ``alpha log pi - min(mu_1, mu_2)`` and alpha is tuned to the per-step target entropy. The update is that of the
    official DSAC-T code; the defaults are DSACE's (its MuJoCo script's, except ``policy_delay=1`` and
    ``learning_rate=3e-4`` for SB3's sampling regime; the official settings: ``make_model("dsact_paper", env_id)``).

    Takes every parameter of :class:`~sb3_tecrl.DSACE` except ``separate_entropy_critic``,
    ``trajectory_entropy_constraint``, ``rho``, ``entropy_budget``, ``entropy_tau`` and ``constraint_states``.
    """

    algorithm_name: ClassVar[str] = "DSACT"

    def __init__(self, policy: Any, env: Any, **kwargs: Any):
        given = sorted(set(kwargs) & set(_DSACE_ONLY))
        if given:
            raise TypeError(f"DSACT does not take {given}: use DSACE for reward-entropy separation or a trajectory budget.")
        super().__init__(policy, env, separate_entropy_critic=False, trajectory_entropy_constraint=False, **kwargs)
