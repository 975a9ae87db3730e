"""SAC's squashed diagonal Gaussian as pure functions: no distribution object, no state kept between calls."""

import math

import torch as th

# SB3's SquashedDiagGaussianDistribution: added inside the log of the tanh correction
TANH_EPSILON = 1e-6
LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def gaussian_sample(mean: th.Tensor, log_std: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """
    Reparameterised sample of ``N(mean, exp(log_std)^2)``, drawn as SB3's ``DiagGaussianDistribution`` draws it (the
    same operations and the same random stream).

    :param mean: means ``(batch, action_dim)``
    :param log_std: log standard deviations, broadcastable to ``mean``
    :return: the sample and the standard deviations, both ``(batch, action_dim)``
    """
    std = th.ones_like(mean) * log_std.exp()
    noise = th.empty_like(mean).normal_()  # torch's Normal.rsample draws its noise so
    return mean + noise * std, std


def squashed_gaussian_sample(mean: th.Tensor, log_std: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """
    Reparameterised sample ``a = tanh(u)``, ``u ~ N(mean, exp(log_std)^2)``, and ``log pi(a)`` with the tanh correction:
    the numbers of SB3's ``SquashedDiagGaussianDistribution.log_prob_from_params`` (same operations, same random
    stream), without the distribution object that it stores (whose tensors a compiled step would have to return).

    :param mean: means of ``u``, ``(batch, action_dim)``
    :param log_std: log standard deviations of ``u``, broadcastable to ``mean``
    :return: actions in [-1, 1] ``(batch, action_dim)`` and their log-probabilities ``(batch,)``
    """
    gaussian_actions, std = gaussian_sample(mean, log_std)
    actions = th.tanh(gaussian_actions)
    gaussian_log_prob = -((gaussian_actions - mean) ** 2) / (2 * std**2) - std.log() - LOG_SQRT_2PI
    log_prob = gaussian_log_prob.sum(dim=1) - th.sum(th.log(1 - actions**2 + TANH_EPSILON), dim=1)
    return actions, log_prob
