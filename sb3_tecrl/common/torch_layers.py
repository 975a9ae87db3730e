"""Batched ensembles of MLPs: several critics evaluated as one stack of matrix products."""

import functools
import itertools
import math
import time

import torch as th
from torch import nn


class EnsembleLinear(nn.Module):
    """
    ``n_members`` independent linear layers with stacked weights ``(n_members, in_features, out_features)``.

    Each member is initialised like ``nn.Linear`` (uniform in ``+-1/sqrt(in_features)``).

    With a ``matmul_dtype`` (``th.bfloat16``), the layer computes in it: the input, the weights and the bias are cast
    to it, the product accumulates in float32 inside the kernel and the output is rounded to ``matmul_dtype`` (so is
    the activation that follows it in :class:`EnsembleMLP`). The parameters, their gradients (cast back) and the
    optimizer's state stay in the weights' dtype.

    With ``transposed``, a batched input computes the transposed product ``(weight^T x^T)^T``: the same sums, laid out
    for the batched product kernels' fast path when the output is narrow: the critics' two outputs, where ``x @ weight``
    with a float32 ``weight`` of two columns takes a slow path of torch's CPU kernels (what it buys the whole step:
    ``python -m benchmarks.speed --measures levers``). The output is then a transposed view.

    :param n_members: number of independent layers
    :param in_features: input size
    :param out_features: output size
    :param matmul_dtype: dtype of the computation (``None``: the weights' dtype; an input of another dtype is cast)
    :param transposed: compute a batched input's product transposed (for a narrow output)
    """

    def __init__(
        self,
        n_members: int,
        in_features: int,
        out_features: int,
        matmul_dtype: th.dtype | None = None,
        transposed: bool = False,
    ):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(th.empty(n_members, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(th.empty(n_members, 1, out_features).uniform_(-bound, bound))
        self.matmul_dtype = matmul_dtype
        self.transposed = transposed

    def forward(self, x: th.Tensor, frozen: bool = False) -> th.Tensor:
        """
        :param x: ``(batch, in)`` shared by all members, or ``(n_members, batch, in)``
        :param frozen: use detached weights, so that no gradient reaches them (the input still gets one)
        :return: ``(n_members, batch, out)``, in ``matmul_dtype`` if given, else in the weights' dtype
        """
        weight, bias = (self.weight.detach(), self.bias.detach()) if frozen else (self.weight, self.bias)
        dtype = self.matmul_dtype or weight.dtype
        x, weight, bias = x.to(dtype), weight.to(dtype), bias.to(dtype)  # no-ops without matmul_dtype
        if x.dim() == 2:  # the shared input, expanded to every member: one batched product (compiled in bfloat16, the
            x = x.expand(weight.shape[0], *x.shape)  # broadcast th.matmul(x, weight) got a wrong input gradient)
        if self.transposed:
            return th.baddbmm(bias.mT, weight.mT, x.mT).mT
        return th.baddbmm(bias, x, weight)


class EnsembleMLP(nn.Module):
    """
    An ensemble of identical-shaped MLPs evaluated in one pass.

    :param n_members: number of MLPs
    :param input_dim: input size
    :param output_dim: output size of each MLP
    :param net_arch: hidden layer sizes
    :param activation_fn: activation after each hidden layer
    :param hidden_matmul_dtype: dtype in which the hidden layers and their activations compute (see
        :class:`EnsembleLinear`); the output layer always computes in the weights' dtype, so that the outputs
        (values, standard deviations) are not rounded to a shorter mantissa, and computes its product transposed
        (``EnsembleLinear``'s ``transposed``: the outputs are few)
    """

    def __init__(
        self,
        n_members: int,
        input_dim: int,
        output_dim: int,
        net_arch: list[int],
        activation_fn: type[nn.Module],
        hidden_matmul_dtype: th.dtype | None = None,
    ):
        super().__init__()
        sizes = [input_dim, *net_arch, output_dim]
        self.layers = nn.ModuleList(
            EnsembleLinear(n_members, n_in, n_out, None, transposed=True)
            if index == len(net_arch)
            else EnsembleLinear(n_members, n_in, n_out, hidden_matmul_dtype)
            for index, (n_in, n_out) in enumerate(itertools.pairwise(sizes))
        )
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


def bfloat16_matmul_supported(device: th.device) -> bool:
    """
    :param device: a torch device
    :return: whether ``device`` has native bfloat16 matrix products (CUDA: ``torch.cuda.is_bf16_supported``; CPU:
        oneDNN's bfloat16 support, e.g. AVX512-BF16 or AMX)
    """
    if device.type == "cuda":
        return th.cuda.is_bf16_supported()
    if device.type == "cpu":
        return th.backends.mkldnn.is_available() and bool(th.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


BFLOAT16_MIN_SPEEDUP = 1.2  # matmul_precision="auto" computes in bfloat16 where its products are at least this much faster
PROBE_PRODUCT = (3, 256, 256, 256)  # members, rows, inner size, columns: a hidden product of DSAC-E's default critics
PROBE_ROUNDS = 7


def bfloat16_matmul_pays(device: th.device) -> bool:
    """
    :param device: a torch device
    :return: whether ``matmul_precision="auto"`` computes in bfloat16 on ``device``: where its bfloat16 matrix products
        are native (:func:`bfloat16_matmul_supported`) and, on a CPU, at least ``BFLOAT16_MIN_SPEEDUP`` times as fast
        as float32 ones (:func:`cpu_bfloat16_speedup`). Native is not enough on a CPU: on an Intel Xeon with
        AVX512-BF16 and no AMX exposed, oneDNN's bfloat16 products ran at about half the float32 rate.
    """
    if not bfloat16_matmul_supported(device):
        return False
    return device.type != "cpu" or cpu_bfloat16_speedup(th.get_num_threads()) >= BFLOAT16_MIN_SPEEDUP


@functools.cache
def cpu_bfloat16_speedup(threads: int) -> float:
    """
    Time the batched product ``PROBE_PRODUCT`` in float32 and in bfloat16 on the CPU: one warm-up call each, then
    ``PROBE_ROUNDS`` alternating calls (about 25 ms in all, the kernels' creation included, once per process and thread
    count).

    :param threads: torch's intra-op thread count, on which the products' speed depends (the cache's key)
    :return: the float32 time over the bfloat16 time, each the best of its calls
    """
    members, rows, inner, columns = PROBE_PRODUCT
    factors = {
        dtype: (th.ones(members, rows, inner, dtype=dtype), th.ones(members, inner, columns, dtype=dtype))
        for dtype in (th.float32, th.bfloat16)
    }
    best = dict.fromkeys(factors, math.inf)
    for round_index in range(PROBE_ROUNDS + 1):
        for dtype, (left, right) in factors.items():
            start = time.perf_counter()
            th.bmm(left, right)
            if round_index > 0:  # the first round creates the kernels
                best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[th.float32] / best[th.bfloat16]


def laid_out_like(gradient: th.Tensor | None, parameter: th.Tensor) -> th.Tensor | None:
    """
    :param gradient: a gradient of ``parameter`` (``torch.autograd.grad`` keeps the layout its graph produced: the
        transposed product of :class:`EnsembleLinear` gives its weight a transposed one)
    :param parameter: the parameter
    :return: ``gradient`` with ``parameter``'s strides (a copy where they differ), as ``backward()`` would have stored
        it: torch's fused Adam (CPU) reads a gradient as if laid out like its parameter, so another layout mixes up
        its elements' updates
    """
    if gradient is None or gradient.stride() == parameter.stride():
        return gradient
    return th.empty_like(parameter, dtype=gradient.dtype).copy_(gradient)  # a parameter is dense: its strides are kept
