"""The actor's squashed Gaussian as pure functions gives SB3's numbers and random stream."""

import pytest
import torch as th
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution

from sb3_tecrl import DSACE
from sb3_tecrl.common.distributions import gaussian_sample, squashed_gaussian_sample


@pytest.fixture
def params() -> tuple[th.Tensor, th.Tensor]:
    generator = th.Generator().manual_seed(0)
    return th.randn(64, 3, generator=generator), th.rand(64, 3, generator=generator) * 4 - 3


def test_squashed_gaussian_sample_equals_sb3s_log_prob_from_params(params):
    mean, log_std = params
    th.manual_seed(1)
    sb3_actions, sb3_log_prob = SquashedDiagGaussianDistribution(3).log_prob_from_params(mean, log_std)
    th.manual_seed(1)
    actions, log_prob = squashed_gaussian_sample(mean, log_std)
    assert th.equal(actions, sb3_actions) and th.equal(log_prob, sb3_log_prob)


def test_gaussian_sample_by_hand(params):
    mean, log_std = params
    th.manual_seed(2)
    noise = th.empty_like(mean).normal_()
    th.manual_seed(2)
    sample, std = gaussian_sample(mean, log_std)
    assert th.allclose(std, log_std.exp())
    assert th.allclose(sample, mean + noise * log_std.exp())


def test_log_prob_by_hand(params):
    """log N(u; mean, std) summed over dimensions, less sum log(1 - tanh(u)^2 + 1e-6)."""
    mean, log_std = params
    th.manual_seed(3)
    actions, log_prob = squashed_gaussian_sample(mean, log_std)
    gaussian = th.atanh(actions.double().clamp(-1 + 1e-7, 1 - 1e-7))
    std = log_std.double().exp()
    squash_correction = th.log(1 - actions.double() ** 2 + 1e-6).sum(1)
    expected = th.distributions.Normal(mean.double(), std).log_prob(gaussian).sum(1) - squash_correction
    rows = (actions.abs() < 0.999).all(1)  # atanh loses precision near the bounds
    assert rows.sum() > 32
    assert th.allclose(log_prob.double()[rows], expected[rows], atol=1e-3)


@pytest.mark.parametrize("deterministic", [False, True])
def test_the_actor_acts_and_samples_as_sb3s_actor(deterministic):
    model = DSACE("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[16]), seed=0, device="cpu")
    obs = th.randn(8, 3)
    mean, log_std, _ = model.actor.get_action_dist_params(obs)
    th.manual_seed(4)
    expected = model.actor.action_dist.actions_from_params(mean, log_std, deterministic=deterministic)
    th.manual_seed(4)
    assert th.equal(model.actor(obs, deterministic), expected)
    th.manual_seed(5)
    expected_pair = model.actor.action_dist.log_prob_from_params(mean, log_std)
    th.manual_seed(5)
    for value, expected_value in zip(model.actor.action_log_prob(obs), expected_pair, strict=True):
        assert th.equal(value, expected_value)
