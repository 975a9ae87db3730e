"""The PID temperature of ``temperature_update="pid"``: an optimizer of ``log(alpha)`` around :func:`pid_log_ent_coef`."""

from collections.abc import Callable, Iterable

import torch as th

from sb3_tecrl.common.losses import pid_log_ent_coef


class PIDTemperature(th.optim.Optimizer):
    """
    Sets ``log(alpha)`` by the PID Lagrangian (Stooke et al., 2020) from the gradient of the temperature's loss
    (:func:`sb3_tecrl.common.losses.temperature_update_loss` in per-step units, whose gradient is minus the violation).
    An optimizer, so that SB3's learning-rate schedule reaches the integral gain and its state (the initial value, the
    integral term, the running average of the violation) is saved and loaded with the model.

    :param params: ``[log_ent_coef]``
    :param lr: the integral gain ``ki`` (``ent_coef_learning_rate``)
    :param kp: the proportional gain
    :param kd: the derivative gain
    :param smoothing: rate of the running average of the violation that the proportional and derivative terms see
    """

    def __init__(self, params: Iterable[th.Tensor], lr: float, kp: float, kd: float, smoothing: float) -> None:
        super().__init__(params, dict(lr=lr, kp=kp, kd=kd, smoothing=smoothing))

    @th.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:  # type: ignore[override]
        assert closure is None, "PIDTemperature takes no closure"
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                if not state:
                    state.update(
                        initial=parameter.clone(),
                        integral=th.zeros_like(parameter),
                        smoothed=th.full_like(parameter, float("nan")),
                    )
                gains = (group["kp"], group["lr"], group["kd"])
                value, state["integral"], state["smoothed"] = pid_log_ent_coef(
                    -parameter.grad, state["initial"], state["integral"], state["smoothed"], gains, group["smoothing"]
                )
                parameter.copy_(value)
