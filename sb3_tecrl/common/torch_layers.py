"""Batched ensembles of MLPs: several critics evaluated as one stack of matrix products."""

import itertools
import math

import torch as th
from torch import nn


class EnsembleLinear(nn.Module):
    """
    ``n_members`` independent linear layers with stacked weights ``(n_members, in_features, out_features)``.

    Each member is initialised like ``nn.Linear`` (uniform in ``+-1/sqrt(in_features)``).

    :param n_members: number of independent layers
    :param in_features: input size
    :param out_features: output size
    """

    def __init__(self, n_members: int, in_features: int, out_features: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(th.empty(n_members, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(th.empty(n_members, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: th.Tensor, frozen: bool = False) -> th.Tensor:
        """
        :param x: ``(batch, in)`` shared by all members, or ``(n_members, batch, in)``
        :param frozen: use detached weights, so that no gradient reaches them (the input still gets one)
        :return: ``(n_members, batch, out)``
        """
        weight, bias = (self.weight.detach(), self.bias.detach()) if frozen else (self.weight, self.bias)
        if x.dim() == 2:
            return th.matmul(x, weight) + bias
        return th.baddbmm(bias, x, weight)


class EnsembleMLP(nn.Module):
    """
    An ensemble of identical-shaped MLPs evaluated in one pass.

    :param n_members: number of MLPs
    :param input_dim: input size
    :param output_dim: output size of each MLP
    :param net_arch: hidden layer sizes
    :param activation_fn: activation after each hidden layer
    """

    def __init__(self, n_members: int, input_dim: int, output_dim: int, net_arch: list[int], activation_fn: type[nn.Module]):
        super().__init__()
        sizes = [input_dim, *net_arch, output_dim]
        self.layers = nn.ModuleList(EnsembleLinear(n_members, n_in, n_out) for n_in, n_out in itertools.pairwise(sizes))
        self.activation = activation_fn()
        self.n_members = n_members

    def forward(self, x: th.Tensor, frozen: bool = False) -> th.Tensor:
        """
        :param x: ``(batch, input_dim)``, the same input for every member
        :param frozen: evaluate with detached weights (gradients flow to ``x`` only)
        :return: ``(n_members, batch, output_dim)``
        """
        *hidden, last = self.layers
        for layer in hidden:
            x = self.activation(layer(x, frozen))
        return last(x, frozen)
