"""
The four update steps of DSAC-E / DSAC-T as pure functions of tensors (spec sections 2-5).

- PEV, policy evaluation: :func:`policy_evaluation_loss`, the reward critics' loss with DSAC-T's three refinements
  (expected value substituting, twin value distribution learning, variance-based critic gradient adjusting).
- PIS, policy introspection: :func:`policy_introspection_loss`, the entropy critic's loss.
- PIM, policy improvement: :func:`policy_improvement_loss`, the actor's loss.
- TUP, temperature update: :func:`temperature_update_loss`, the loss of ``log(alpha)``; with an annealed budget
  (``budget_schedule="anneal"``) the budget it is tuned against follows :func:`annealed_budget`; with
  ``temperature_update="pid"`` ``log(alpha)`` is set from that loss's gradient by :func:`pid_log_ent_coef`.

Shapes: ``R`` reward critics, ``B`` samples. Per-sample tensors are ``(B, 1)``; reward critic outputs are ``(R, B, 1)``.
Nothing here reads global state, so every function can be checked by hand on tiny tensors.
"""

import torch as th
import torch.nn.functional as F

# Huber threshold of the reward critic loss (official DSAC-T code)
HUBER_DELTA = 50.0
# Bias added to the critic's standard deviation in the gradient weights and the variance term
STD_BIAS = 0.1
# Bounds of the variance-based gradient weight b^2 / (sigma^2 + bias)
WEIGHT_MIN, WEIGHT_MAX = 0.1, 10.0
# Sampled returns use a standard normal noise clipped to [-NOISE_CLIP, NOISE_CLIP]
NOISE_CLIP = 3.0
# The sampled target may differ from the current mean by at most TD_BOUND_SCALE * b
TD_BOUND_SCALE = 3.0


def select_min_mean(mean: th.Tensor, std: th.Tensor, noise: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """
    Clipped double-Q on value distributions: per sample, the critic with the smaller mean gives both the next value
    and the sampled next value ``mean + noise * std``.

    :param mean: means of the (target) reward critics, ``(R, B, 1)``
    :param std: their standard deviations, ``(R, B, 1)``
    :param noise: standard normal noise already clipped, ``(B, 1)``
    :return: next value ``(B, 1)`` and sampled next value ``(B, 1)``
    """
    next_value, index = mean.min(dim=0, keepdim=True)
    next_std = std.gather(0, index)
    return next_value.squeeze(0), (next_value + noise * next_std).squeeze(0)


def reward_targets(
    rewards: th.Tensor,
    dones: th.Tensor,
    discounts: th.Tensor | float,
    next_value: th.Tensor,
    next_value_sample: th.Tensor,
    entropy_bonus: th.Tensor | None,
) -> tuple[th.Tensor, th.Tensor]:
    """
    Targets of the reward critics: ``y = r + g (1 - d) q'`` and ``y_s = r + g (1 - d) q's``.

    :param entropy_bonus: ``-alpha * log pi'(a'|s')`` added to both next values (DSAC-T, RES off);
        ``None`` when reward and entropy are separated (DSAC-E): the reward targets then hold no entropy at all.
    :return: expected target ``y`` and sampled target ``y_s``, each ``(B, 1)``
    """
    if entropy_bonus is not None:
        next_value = next_value + entropy_bonus
        next_value_sample = next_value_sample + entropy_bonus
    not_done_discount = (1.0 - dones) * discounts
    return rewards + not_done_discount * next_value, rewards + not_done_discount * next_value_sample


def update_std_ema(std_ema: th.Tensor, std: th.Tensor, tau_b: float) -> th.Tensor:
    """
    Moving average ``b`` of each reward critic's mean standard deviation over batches.

    :param std_ema: previous averages ``(R,)``; a negative entry means "not initialised" and takes the batch value
    :param std: current standard deviations ``(R, B, 1)`` (detached)
    :param tau_b: averaging rate
    :return: new averages ``(R,)``
    """
    batch_mean = std.mean(dim=(1, 2))
    return th.where(std_ema < 0, batch_mean, th.lerp(std_ema, batch_mean, tau_b))


def policy_evaluation_loss(
    mean: th.Tensor,
    std: th.Tensor,
    target: th.Tensor,
    target_sample: th.Tensor,
    std_ema: th.Tensor,
) -> th.Tensor:
    """
    PEV: the loss of the twin reward critics (spec section 2), summed over critics.

    Per critic ``i`` with ``mu_``, ``sigma_`` detached copies:
    ``y_b = mu_ + clamp(y_s - mu_, -3 b, 3 b)``, ``w = clamp(b^2 / (sigma_^2 + 0.1), 0.1, 10)`` and
    ``L_i = mean(w * [huber(mu, y) + sigma * (sigma_^2 - huber(mu_, y_b)) / (sigma_ + 0.1)])``.

    :param mean: critic means ``(R, B, 1)``
    :param std: critic standard deviations ``(R, B, 1)``
    :param target: expected target ``y`` ``(B, 1)``
    :param target_sample: sampled target ``y_s`` ``(B, 1)``
    :param std_ema: moving averages ``b`` of the critics' standard deviations ``(R,)``
    :return: scalar loss
    """
    mean_, std_ = mean.detach(), std.detach()
    b = std_ema.view(-1, 1, 1)
    bound = TD_BOUND_SCALE * b
    target_bounded = mean_ + th.clamp(target_sample - mean_, -bound, bound)
    weight = th.clamp(b.square() / (std_.square() + STD_BIAS), WEIGHT_MIN, WEIGHT_MAX)
    mean_term = F.huber_loss(mean, target.expand_as(mean), delta=HUBER_DELTA, reduction="none")
    clipped_td = F.huber_loss(mean_, target_bounded, delta=HUBER_DELTA, reduction="none")
    std_term = std * (std_.square() - clipped_td) / (std_ + STD_BIAS)
    return (weight * (mean_term + std_term)).mean(dim=(1, 2)).sum()


def entropy_target(
    dones: th.Tensor,
    discounts: th.Tensor | float,
    next_log_prob: th.Tensor,
    next_entropy_value: th.Tensor,
) -> th.Tensor:
    """
    Target of the entropy critic, the entropy Bellman operator (spec section 3):
    ``y_e = g (1 - d) (-log pi'(a'|s') + Q_e'(s', a'))``.

    :return: ``(B, 1)``
    """
    return (1.0 - dones) * discounts * (next_entropy_value - next_log_prob)


def policy_introspection_loss(entropy_value: th.Tensor, target: th.Tensor) -> th.Tensor:
    """
    PIS: mean squared error between ``Q_e(s, a)`` and its target ``y_e`` (spec section 3).

    :param entropy_value: ``(B, 1)``
    :param target: ``(B, 1)``, detached
    :return: scalar loss
    """
    return F.mse_loss(entropy_value, target)


def policy_improvement_loss(
    log_prob: th.Tensor,
    reward_value: th.Tensor,
    entropy_value: th.Tensor | None,
    ent_coef: th.Tensor,
) -> th.Tensor:
    """
    PIM: the actor maximises ``Q_r + alpha (-log pi + Q_e)`` (spec section 4).

    :param log_prob: ``log pi(a|s)`` of reparameterised actions ``(B, 1)``
    :param reward_value: ``min(mu_1, mu_2)`` at those actions ``(B, 1)``
    :param entropy_value: ``Q_e(s, a)`` at those actions ``(B, 1)``, or ``None`` without an entropy critic (DSAC-T)
    :param ent_coef: detached temperature ``alpha``
    :return: scalar loss ``mean(alpha log pi - Q_r - alpha Q_e)``
    """
    soft_entropy = -log_prob if entropy_value is None else entropy_value - log_prob
    return -(reward_value + ent_coef * soft_entropy).mean()


def temperature_update_loss(
    log_ent_coef: th.Tensor, entropy_estimate: th.Tensor, entropy_target: float | th.Tensor, scale: float = 1.0
) -> th.Tensor:
    """
    TUP: ``scale * mean(log_alpha * (H_ - target))`` (spec section 5): gradient descent lowers alpha when the entropy
    estimate exceeds its target and raises it when it falls short.

    :param log_ent_coef: ``log(alpha)``, the only tensor that receives a gradient
    :param entropy_estimate: the trajectory entropy ``-log pi + Q_e`` (TEC) or the step entropy ``-log pi``, ``(B, 1)``
    :param entropy_target: the trajectory budget (TEC) or the per-step target entropy, in SB3's units (a 0-dim tensor
        when annealed)
    :param scale: factor of the violation: 1 (the paper's), or ``1 - gamma^n`` to express a trajectory violation in
        per-step units (dual ascent, where the step is proportional to the gradient)
    :return: scalar loss
    """
    return scale * (log_ent_coef * (entropy_estimate.detach() - entropy_target)).mean()


def running_average(average: th.Tensor, value: th.Tensor, rate: float) -> th.Tensor:
    """
    :param average: the running average so far, NaN before the first value
    :param value: the new value
    :param rate: weight of the new value
    :return: ``value`` at first, then ``average + rate * (value - average)``
    """
    return th.where(average.isnan(), value, th.lerp(average, value, rate))


def annealed_budget(
    budget: th.Tensor, final_budget: float, estimate_average: th.Tensor, tolerance: float, rate: float
) -> th.Tensor:
    """
    TUP's budget with ``budget_schedule="anneal"`` (target entropy annealing, as Xu et al. 2021 anneal SAC's target
    entropy, applied to the budget): the budget moves the fraction ``rate`` of its way to ``final_budget`` while the
    constraint is met (the running average of the estimate within ``tolerance`` of the budget) and stays where it is
    otherwise, so that it never runs ahead of what the policy follows.

    :param budget: the current budget (0-dim)
    :param final_budget: the budget configured (``rho * H0 / (1 - gamma)``, or ``entropy_budget``)
    :param estimate_average: running average of the estimate the temperature is tuned on (0-dim)
    :param tolerance: how close to the budget the average must be, in the estimate's units
    :param rate: fraction of the remaining way covered at an update where the constraint is met
    :return: the next budget (0-dim)
    """
    met = (estimate_average - budget).abs() <= tolerance
    return th.where(met, budget + rate * (final_budget - budget), budget)


def pid_log_ent_coef(
    violation: th.Tensor,
    initial: th.Tensor,
    integral: th.Tensor,
    smoothed: th.Tensor,
    gains: tuple[float, float, float],
    smoothing: float,
) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
    """
    TUP with ``temperature_update="pid"``: the PID Lagrangian (Stooke, Achiam and Abbeel, 2020) on ``log(alpha)``, the
    multiplier of the entropy constraint. With ``kp = kd = 0`` it is dual ascent: ``log(alpha)`` is its initial value
    plus the sum of ``ki`` times the violations so far.

    :param violation: this update's violation in per-step units, ``target - estimate`` (positive: too little entropy,
        alpha rises): minus the gradient of :func:`temperature_update_loss` with the per-step scale
    :param initial: ``log(alpha)`` before the first update
    :param integral: the integral term so far, the sum of ``ki`` times each violation (0 before the first update)
    :param smoothed: running average of the violations (rate ``smoothing``; NaN before the first update), the input of
        the proportional and derivative terms (a batch's violation is noisy)
    :param gains: ``(kp, ki, kd)``, in ``log(alpha)`` per nat per step (``ki`` per update)
    :param smoothing: weight of the new violation in the running average
    :return: the new ``log(alpha)``, integral term and running average; the derivative term is the change of the
        running average at this update (none at the first)
    """
    kp, ki, kd = gains
    integral = integral + ki * violation
    new_smoothed = running_average(smoothed, violation, smoothing)
    change = new_smoothed - th.where(smoothed.isnan(), new_smoothed, smoothed)
    return initial + integral + kp * new_smoothed + kd * change, integral, new_smoothed
