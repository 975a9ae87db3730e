"""The four update steps and their targets against values computed by hand on tiny tensors (spec sections 2-6)."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from sb3_tecrl.common.entropy import (
    action_scale_log_volume,
    entropy_horizon,
    entropy_shift,
    reference_entropy,
    step_entropy_target,
    trajectory_entropy_budget,
)
from sb3_tecrl.common.losses import (
    annealed_budget,
    entropy_target,
    pid_log_ent_coef,
    policy_evaluation_loss,
    policy_improvement_loss,
    policy_introspection_loss,
    reward_targets,
    running_average,
    select_min_mean,
    temperature_update_loss,
    update_std_ema,
)


def column(*values: float) -> th.Tensor:
    return th.tensor(values, dtype=th.float64).reshape(-1, 1)


def per_critic(*rows: tuple[float, ...]) -> th.Tensor:
    return th.tensor(rows, dtype=th.float64).unsqueeze(-1)


def test_select_min_mean_takes_mean_and_std_of_the_smaller_critic_per_sample():
    mean = per_critic((1.0, 5.0), (2.0, 3.0))
    std = per_critic((0.5, 1.0), (2.0, 4.0))
    value, sample = select_min_mean(mean, std, noise=column(2.0, -1.0))
    assert th.allclose(value, column(1.0, 3.0))
    # sample 0: critic 0 (1 + 2 * 0.5); sample 1: critic 1 (3 - 1 * 4)
    assert th.allclose(sample, column(2.0, -1.0))


@pytest.mark.parametrize("n_critics", [1, 3])
def test_select_min_mean_with_one_or_three_critics(n_critics):
    mean = per_critic((1.0, 5.0, 4.0), (2.0, 3.0, 6.0), (0.5, 7.0, 4.5))[:n_critics]
    std = per_critic((0.5, 1.0, 1.0), (2.0, 4.0, 1.0), (3.0, 2.0, 2.0))[:n_critics]
    value, sample = select_min_mean(mean, std, noise=column(2.0, -1.0, 1.0))
    if n_critics == 1:  # the one critic's mean and sample
        assert th.allclose(value, column(1.0, 5.0, 4.0)) and th.allclose(sample, column(2.0, 4.0, 5.0))
    else:  # sample 0: critic 2 (0.5 + 2 * 3); sample 1: critic 1 (3 - 1 * 4); sample 2: critic 0 (4 + 1 * 1)
        assert th.allclose(value, column(0.5, 3.0, 4.0)) and th.allclose(sample, column(6.5, -1.0, 5.0))


def test_reward_targets_with_and_without_entropy_bonus():
    rewards, dones = column(1.0, 2.0), column(0.0, 1.0)
    value, sample = column(10.0, 10.0), column(12.0, 8.0)
    target, target_sample = reward_targets(rewards, dones, 0.9, value, sample, entropy_bonus=None)
    assert th.allclose(target, column(10.0, 2.0))
    assert th.allclose(target_sample, column(11.8, 2.0))
    # DSAC-T: -alpha * log pi' = -0.5 * -2 = 1 added to both next values
    target, target_sample = reward_targets(rewards, dones, 0.9, value, sample, entropy_bonus=column(1.0, 1.0))
    assert th.allclose(target, column(10.9, 2.0))
    assert th.allclose(target_sample, column(12.7, 2.0))
    # per-sample discounts (n-step replay)
    target, _ = reward_targets(rewards, column(0.0, 0.0), column(0.5, 0.25), value, sample, entropy_bonus=None)
    assert th.allclose(target, column(6.0, 4.5))


def test_std_ema_starts_from_the_first_batch_then_averages():
    std = per_critic((1.0, 1.0), (3.0, 5.0))
    ema = update_std_ema(th.tensor([-1.0, 2.0], dtype=th.float64), std, tau_b=0.5)
    assert th.allclose(ema, th.tensor([1.0, 3.0], dtype=th.float64))
    # any number of critics, each its own average
    std = per_critic((1.0, 1.0), (3.0, 5.0), (2.0, 0.0))
    ema = update_std_ema(th.tensor([-1.0, 2.0, 3.0], dtype=th.float64), std, tau_b=0.5)
    assert th.allclose(ema, th.tensor([1.0, 3.0, 2.0], dtype=th.float64))
    assert th.allclose(update_std_ema(th.tensor([4.0], dtype=th.float64), std[:1], tau_b=0.25), th.tensor([3.25]).double())


def test_policy_evaluation_loss_by_hand():
    mean = per_critic((1.0, 2.0), (0.0, 3.0)).requires_grad_(True)
    std = per_critic((1.0, 0.5), (2.0, 1.0)).requires_grad_(True)
    target, target_sample = column(1.5, 2.0), column(10.0, 1.0)
    std_ema = th.tensor([1.0, 2.0], dtype=th.float64)
    loss = policy_evaluation_loss(mean, std, target, target_sample, std_ema)
    # critic 0, sample 0: y_s - mu = 9 clipped to 3 b = 3 -> y_b = 4; w = 1 / 1.1
    #   w * [0.5 * 0.5^2 + 1 * (1 - 0.5 * 3^2) / 1.1] = -2.7789256
    # critic 0, sample 1: y_b = 1; w = 1 / 0.35; w * [0 + 0.5 * (0.25 - 0.5) / 0.6] = -0.5952381
    # critic 1, sample 0: y_s - mu = 10 clipped to 6 -> y_b = 6; w = 4 / 4.1
    #   w * [0.5 * 1.5^2 + 2 * (4 - 18) / 2.1] = -11.9105691
    # critic 1, sample 1: y_b = 1; w = 4 / 1.1; w * [0.5 + 1 * (1 - 2) / 1.1] = -1.4876033
    expected = (-2.7789256198 - 0.5952380952) / 2 + (-11.9105691057 - 1.4876033058) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-9)

    loss.backward()
    # the mean is trained on the expected target y only: d/dmu = w * (mu - y) / B
    assert mean.grad[0, 0, 0].item() == pytest.approx((1 / 1.1) * (1.0 - 1.5) / 2)
    assert mean.grad[1, 1, 0].item() == pytest.approx((4 / 1.1) * (3.0 - 2.0) / 2)
    # sigma gets (sigma_^2 - huber(mu_, y_b)) / (sigma_ + 0.1), weighted
    assert std.grad[0, 0, 0].item() == pytest.approx((1 / 1.1) * (1 - 4.5) / 1.1 / 2)
    assert std.grad[1, 0, 0].item() == pytest.approx((4 / 4.1) * (4 - 18) / 2.1 / 2)


def test_policy_evaluation_loss_with_one_or_three_critics_by_hand():
    # the critics of test_policy_evaluation_loss_by_hand, and a third one
    mean = per_critic((1.0, 2.0), (0.0, 3.0), (5.0, 5.0)).requires_grad_(True)
    std = per_critic((1.0, 0.5), (2.0, 1.0), (1.0, 1.0)).requires_grad_(True)
    target, target_sample = column(1.5, 2.0), column(10.0, 1.0)
    std_ema = th.tensor([1.0, 2.0, 1.0], dtype=th.float64)
    one = policy_evaluation_loss(mean[:1], std[:1], target, target_sample, std_ema[:1])
    assert one.item() == pytest.approx((-2.7789256198 - 0.5952380952) / 2, rel=1e-9)
    # critic 2, sample 0: y_s - mu = 5 clipped to 3 -> y_b = 8; w = 1 / 1.1
    #   w * [0.5 * 3.5^2 + 1 * (1 - 0.5 * 3^2) / 1.1] = 2.6756198
    # critic 2, sample 1: y_s - mu = -4 clipped to -3 -> y_b = 2; w * [0.5 * 3^2 + (1 - 4.5) / 1.1] = 1.1983471
    third = (2.6756198347 + 1.1983471074) / 2
    two = (-2.7789256198 - 0.5952380952) / 2 + (-11.9105691057 - 1.4876033058) / 2
    loss = policy_evaluation_loss(mean, std, target, target_sample, std_ema)
    assert loss.item() == pytest.approx(two + third, rel=1e-9)
    loss.backward()
    # each critic's gradient is its own term's: the third one's mean gets w * (mu - y) / B
    assert mean.grad[2, 0, 0].item() == pytest.approx((1 / 1.1) * (5.0 - 1.5) / 2)
    assert mean.grad[0, 0, 0].item() == pytest.approx((1 / 1.1) * (1.0 - 1.5) / 2)


def test_policy_evaluation_loss_clamps_weight_and_uses_huber_beyond_50():
    mean = per_critic((0.0,), (0.0,)).requires_grad_(True)
    std = per_critic((0.01,), (100.0,)).requires_grad_(True)
    std_ema = th.tensor([2.0, 2.0], dtype=th.float64)
    loss = policy_evaluation_loss(mean, std, target=column(100.0), target_sample=column(0.0), std_ema=std_ema)
    loss.backward()
    # critic 0: w = 4 / (1e-4 + 0.1) = 39.96 clamped to 10; Huber slope beyond delta = 50 is 50
    assert mean.grad[0, 0, 0].item() == pytest.approx(10 * -50.0)
    # critic 1: w = 4 / (1e4 + 0.1) clamped to 0.1
    assert mean.grad[1, 0, 0].item() == pytest.approx(0.1 * -50.0)


def test_entropy_target_and_policy_introspection_loss_by_hand():
    target = entropy_target(column(0.0, 1.0), 0.9, next_log_prob=column(-1.0, -1.0), next_entropy_value=column(5.0, 5.0))
    # 0.9 * (1 + 5) and 0 after a termination
    assert th.allclose(target, column(5.4, 0.0))
    value = column(5.0, 1.0).requires_grad_(True)
    loss = policy_introspection_loss(value, target)
    assert loss.item() == pytest.approx((0.4**2 + 1.0) / 2)
    loss.backward()
    assert th.allclose(value.grad, column(-0.4, 1.0))


def test_policy_improvement_loss_by_hand():
    log_prob = column(-1.0, 0.5).requires_grad_(True)
    reward_value = column(3.0, 4.0).requires_grad_(True)
    entropy_value = column(2.0, 6.0).requires_grad_(True)
    alpha = th.tensor(0.5, dtype=th.float64)
    loss = policy_improvement_loss(log_prob, reward_value, entropy_value, alpha)
    # -mean(Q_r + alpha (Q_e - log pi)) = -mean(3 + 0.5 * 3, 4 + 0.5 * 5.5)
    assert loss.item() == pytest.approx(-(4.5 + 6.75) / 2)
    loss.backward()
    assert th.allclose(log_prob.grad, column(0.25, 0.25))
    assert th.allclose(reward_value.grad, column(-0.5, -0.5))
    assert th.allclose(entropy_value.grad, column(-0.25, -0.25))
    # DSAC-T: no entropy critic
    assert policy_improvement_loss(log_prob, reward_value, None, alpha).item() == pytest.approx(-(3.5 + 3.75) / 2)


@pytest.mark.parametrize("entropy, expected_sign", [(column(3.0, 5.0), 1.0), (column(0.0, 1.0), -1.0)])
def test_temperature_update_loss_direction(entropy: th.Tensor, expected_sign: float):
    log_alpha = th.tensor([0.3], dtype=th.float64, requires_grad=True)
    loss = temperature_update_loss(log_alpha, entropy, entropy_target=2.0)
    assert loss.item() == pytest.approx(0.3 * (entropy.mean().item() - 2.0))
    loss.backward()
    # positive gradient: gradient descent lowers alpha (entropy above target); negative: raises it
    assert np.sign(log_alpha.grad.item()) == expected_sign


def test_entropy_units_and_budget():
    pendulum = spaces.Box(-2.0, 2.0, (1,))
    humanoid = spaces.Box(-0.4, 0.4, (17,))
    unit = spaces.Box(-1.0, 1.0, (6,))
    assert action_scale_log_volume(pendulum) == pytest.approx(math.log(2.0))
    assert action_scale_log_volume(humanoid) == pytest.approx(17 * math.log(0.4))
    assert action_scale_log_volume(unit) == 0.0
    # "auto" is -dim(A) in environment units; a float is in SB3 units
    assert reference_entropy("auto", humanoid) == -17.0
    assert reference_entropy(-3.0, pendulum) == pytest.approx(-3.0 + math.log(2.0))
    # per-step target: H0 in environment units (the paper's), H0 - c in SB3 units (what SAC's convention needs)
    assert step_entropy_target("auto", humanoid, "env") == -17.0
    assert step_entropy_target("auto", humanoid, "sb3") == pytest.approx(-17.0 - 17 * math.log(0.4))
    assert step_entropy_target(-3.0, pendulum, "sb3") == pytest.approx(-3.0)
    assert step_entropy_target(-3.0, pendulum, "env") == pytest.approx(-3.0 + math.log(2.0))
    assert step_entropy_target("auto", humanoid, "env", rho=20.0) == -340.0
    # budget: rho * H0 / (1 - gamma) in environment units, (rho * H0 - c) / (1 - gamma) in SB3 units
    for units in ("env", "sb3"):
        assert trajectory_entropy_budget("auto", unit, 1.0, 0.99, 1, units) == pytest.approx(-600.0)
    assert trajectory_entropy_budget("auto", humanoid, 20.0, 0.99, 1, "env") == pytest.approx(-340.0 / 0.01)
    assert trajectory_entropy_budget("auto", humanoid, 20.0, 0.99, 1, "sb3") == pytest.approx(
        (20 * -17.0 - 17 * math.log(0.4)) / 0.01
    )
    # rho = 1: budget equals the per-step target over (1 - gamma), SAC's target in steady state
    assert trajectory_entropy_budget("auto", pendulum, 1.0, 0.9, 1, "sb3") == pytest.approx(
        step_entropy_target("auto", pendulum, "sb3") / 0.1
    )
    # n-step returns: the horizon of the entropy critic's target is 1 / (1 - gamma^n)
    assert entropy_horizon(0.9, 3) == pytest.approx(1 / (1 - 0.729))
    assert trajectory_entropy_budget("auto", unit, 2.0, 0.9, 3, "env") == pytest.approx(-12.0 / (1 - 0.729))
    with pytest.raises(ValueError, match="entropy_units"):
        entropy_shift(unit, "nats")
    assert entropy_shift(humanoid, "env") == pytest.approx(17 * math.log(0.4))
    assert entropy_shift(humanoid, "sb3") == 0.0


def test_temperature_update_loss_scale_multiplies_the_violation():
    log_alpha = th.tensor([0.3], dtype=th.float64, requires_grad=True)
    temperature_update_loss(log_alpha, column(-50.0, -30.0), entropy_target=-100.0, scale=0.01).backward()
    assert log_alpha.grad.item() == pytest.approx(0.01 * (-40.0 + 100.0))  # 0.6: the violation of 60 nats per 100 steps


def test_running_average_starts_at_the_first_value_then_moves_by_its_rate():
    first = running_average(th.tensor(float("nan")), th.tensor(4.0), rate=0.25)
    assert first.item() == 4.0
    assert running_average(first, th.tensor(8.0), rate=0.25).item() == pytest.approx(5.0)  # 4 + 0.25 * (8 - 4)


@pytest.mark.parametrize(
    "average, expected",
    [
        (-10.5, -10.0 + 0.1 * (-100.0 + 10.0)),  # met (|-10.5 + 10| <= 1): 10% of the way to -100
        (-9.0, -19.0),  # met at the tolerance's edge
        (-12.0, -10.0),  # the estimate below the budget by more than the tolerance: stays
        (30.0, -10.0),  # above it by more: stays
    ],
)
def test_annealed_budget_moves_towards_the_final_budget_only_where_the_estimate_meets_it(average, expected):
    budget = annealed_budget(th.tensor(-10.0), -100.0, th.tensor(average), tolerance=1.0, rate=0.1)
    assert budget.item() == pytest.approx(expected)


def test_pid_log_ent_coef_by_hand():
    gains, smoothing = (1.0, 0.01, 0.5), 0.1  # kp, ki, kd
    initial, integral, smoothed = th.tensor([0.5]), th.tensor([0.1]), th.tensor([float("nan")])
    # first update: the running average starts at the violation, no derivative term
    value, integral, smoothed = pid_log_ent_coef(th.tensor([2.0]), initial, integral, smoothed, gains, smoothing)
    assert (integral.item(), smoothed.item()) == pytest.approx((0.1 + 0.01 * 2.0, 2.0))
    assert value.item() == pytest.approx(0.5 + 0.12 + 1.0 * 2.0)
    # second: the average moves 10% of the way to -1 (to 1.7), its change -0.3 is the derivative term's input
    value, integral, smoothed = pid_log_ent_coef(th.tensor([-1.0]), initial, integral, smoothed, gains, smoothing)
    assert (integral.item(), smoothed.item()) == pytest.approx((0.12 - 0.01, 1.7))
    assert value.item() == pytest.approx(0.5 + 0.11 + 1.0 * 1.7 + 0.5 * -0.3)


def test_pid_log_ent_coef_without_proportional_and_derivative_terms_is_dual_ascent():
    initial, integral, smoothed = th.tensor([0.2]), th.tensor([0.0]), th.tensor([float("nan")])
    for violation in (3.0, -1.0, 0.5):
        value, integral, smoothed = pid_log_ent_coef(th.tensor([violation]), initial, integral, smoothed, (0.0, 0.1, 0.0), 0.5)
    assert value.item() == pytest.approx(0.2 + 0.1 * (3.0 - 1.0 + 0.5))
