"""
Speed of DSAC-E and DSAC-T against SB3's SAC, sb3-contrib's TQC and, when ``sbx-rl`` is installed (``pip install
".[speed]"``), SBX's SAC and TQC (JAX), as ratios to SB3's SAC measured in the same process:

- ``learn``: environment steps per second of ``learn()`` with one gradient step per environment step (collection and
  updates), on Hopper-v4 (the real MuJoCo env) and on a random Humanoid-shaped env (obs 376, act 17), after a warm-up
  of ``WARMUP`` random steps and 100 learning steps (allocations, JAX compilation);
- ``train``: gradient steps per second of ``train()`` on a pre-filled replay buffer (random Hopper- and
  Humanoid-shaped spaces);
- ``compile``: the same with DSAC-E's gradient step (losses, one backward, the Adam steps) through ``torch.compile``
  (``compile_update=True``), float32 and bfloat16, against the eager step and SAC, and the seconds the compilation
  took;
- ``limit`` (one thread): the core's own throughput for the exact matrix products of one DSAC-E gradient step (their
  shapes recorded from a real step, each timed alone, best of many calls) in float32 and in bfloat16, and the share of
  it that the whole step achieves (time of the products alone / time of the step), per precision; and in bfloat16
  with each call after a pass over ``COLD_PASS_MB`` of other memory (factors out of the caches, as in a step). On a
  CPU without native bfloat16 (where ``matmul_precision="bfloat16"`` falls back to float32) only float32 is
  measured, and the table says "no native kernels" in the bfloat16 columns;
- ``floor`` (one thread): the parts of DSAC-E's and DSAC-T's step (class defaults) that any implementation of the same
  maths at the same precision computes, each timed alone at its best (the products as in ``limit``, ATen's exact GELU
  on each forward activation, one ``exp`` per element of each backward one, the optimizers' steps, the target updates,
  one replay batch; :func:`floor_timers`); their sum, the floor, bounds the step's time from below, and SAC's step over
  it bounds the ratio to SAC that any implementation on torch's kernels can reach on this core; timed in the same
  rounds as the compiled steps and SAC's;
- ``profile`` (one thread): the share of ``learn()``'s time spent in ``train()`` (the rest is SB3's collection loop:
  policy, env step, buffer) on Hopper-v4, the time of ``predict()`` for one observation (the acting step of that
  loop), and ``torch.profiler``'s operators of DSAC-E's ``train()`` (Hopper shapes; the compiled step's generated
  kernels by name), with each step's time per group of operators (matrix products, kernels with a GELU, optimizers and
  target updates, the rest), and the default's slowest products one by one as the kernels receive them (shapes,
  strides, dtype; each call timed at the dispatcher), where a product on a slow path shows by its GFLOP/s;
- ``levers`` (one thread): the compiled DSAC-E step (Hopper shapes) against the same step with one lever more or
  less, each timed in ``--rounds`` paired bursts of ``LEVER_STEPS`` gradient steps (median speed ratio, 95% bootstrap
  interval): one lever less, the critics' output layers computing ``x @ weight`` instead of the transposed product
  (what the kept layout buys, :class:`~sb3_tecrl.common.torch_layers.EnsembleLinear`'s ``transposed``); one more, the
  optimizer steps through ``torch.compile`` too; inductor's ``max_autotune`` with its C++ GEMM template (products
  with the elementwise work around them fused in, timed against ATen's); GELU's tanh approximation
  (:class:`TanhApproximateGELU`, a change of the network's function, at most 4.7e-4 from the exact GELU: measured to
  know what an approximation would buy, not a candidate default); and inductor calling ATen's GELU kernels
  (forward and backward) instead of generating its own (a process-wide patch of inductor, so this measure runs in its
  own subprocess);
- ``rss``: peak resident memory of a process that trains with a full 1M-transition replay buffer on Hopper-v4 (the
  buffer's pages are all touched first), one subprocess per algorithm, against SAC's.

Every algorithm runs at its own defaults (DSAC-E/T: 3x256 GELU, hidden layers in bfloat16 where ``matmul_precision="auto"``
measures its products faster, else float32, as the output's first line says; SAC, TQC: 2x256 ReLU) with batch 256;
``DSACE fp32`` / ``DSACE bf16`` (and DSACT's) are DSAC-E/T with ``matmul_precision="float32"`` / ``"bfloat16"``,
``DSACE R=1`` with one reward critic (``policy_kwargs={"n_critics": 1}``), ``DSACE compiled`` and ``DSACT compiled`` with
``compile_update=True`` (compiled in the warm-up, which is not timed; the ``compile`` measure gives the seconds),
``DSACE compiled ReLU`` the compiled DSAC-E with ReLU for GELU (what the exact GELU costs). At its default,
``compile_update="auto"``, DSAC-E runs its first 10,000 gradient steps eagerly (the ``DSACE`` and ``DSACT`` columns:
these measures take fewer steps) and compiled after them (the ``compiled`` columns). The output starts with
the CPU model and the instruction-set features that decide the products' speed (AMX, AVX512-BF16, ...). The models
of one measurement are created in one process and timed in alternating rounds (the order reversed every other round);
the ratio is the median over rounds of (algorithm / SAC) in the same round. Each thread count runs in its own
subprocess (JAX fixes its thread count at import: one thread is
``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1``).

    python -m benchmarks.speed [--threads 1 2] [--rounds 3] [--learn-steps 300] [--train-steps 30]
                               [--measures learn train compile limit floor profile levers rss]
                               [--out benchmarks/results/speed.md]
"""

import argparse
import collections
import functools
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import sb3_contrib
import stable_baselines3
import torch as th
from gymnasium import spaces
from sb3_contrib import TQC
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import configure

import sb3_tecrl
from benchmarks.machine import cpu_description
from sb3_tecrl import DSACE, DSACT
from sb3_tecrl.common.torch_layers import (
    EnsembleLinear,
    bfloat16_matmul_pays,
    bfloat16_matmul_supported,
    cpu_bfloat16_speedup,
)

SHAPES = {"Humanoid": (376, 17), "Hopper": (11, 3)}
LEARN_ENVS = {"Hopper-v4": None, "Humanoid-shaped": SHAPES["Humanoid"]}
BATCH_SIZE = 256
FILL = 5_000  # transitions in the buffer before train() is timed
WARMUP = 1_000  # random steps before learn() is timed
RSS_STEPS = 2_000  # environment steps of the memory run (after WARMUP random ones)
ONE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


class RandomEnv(gym.Env):
    """Random observations of a given size; nothing to simulate; episodes of 1000 steps."""

    def __init__(self, obs_dim: int, act_dim: int):
        self.observation_space = spaces.Box(-1.0, 1.0, (obs_dim,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (act_dim,), dtype=np.float32)
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.steps += 1
        return self.observation_space.sample(), 0.0, False, self.steps >= 1_000, {}


def algorithms() -> dict[str, Callable[..., BaseAlgorithm]]:
    """:return: the compared algorithms by name (SBX's only when it is installed), each a ``(env, **kwargs)`` factory"""
    dsace = lambda env, **kwargs: DSACE("MlpPolicy", env, device="cpu", **kwargs)  # noqa: E731
    dsact = lambda env, **kwargs: DSACT("MlpPolicy", env, device="cpu", **kwargs)  # noqa: E731
    algos: dict[str, Callable[..., BaseAlgorithm]] = {
        **with_both_precisions("DSACE", dsace),
        **with_both_precisions("DSACT", dsact),
        "DSACE compiled": with_kwargs(dsace, compile_update=True),
        "DSACT compiled": with_kwargs(dsact, compile_update=True),
        "DSACE R=1": lambda env, **kwargs: DSACE("MlpPolicy", env, device="cpu", policy_kwargs={"n_critics": 1}, **kwargs),
        # what the exact GELU costs the compiled step: the same step with ReLU
        "DSACE compiled ReLU": with_kwargs(dsace, compile_update=True, policy_kwargs={"activation_fn": th.nn.ReLU}),
        "SAC": lambda env, **kwargs: SAC("MlpPolicy", env, device="cpu", **kwargs),
        "TQC": lambda env, **kwargs: TQC("MlpPolicy", env, device="cpu", **kwargs),
    }
    try:
        import sbx
    except ImportError:
        return algos
    algos["SBX SAC"] = lambda env, **kwargs: sbx.SAC("MlpPolicy", env, **kwargs)
    algos["SBX TQC"] = lambda env, **kwargs: sbx.TQC("MlpPolicy", env, **kwargs)
    return algos


PRECISION_LABELS = {"float32": "fp32", "bfloat16": "bf16"}


def with_both_precisions(name: str, factory: Callable[..., BaseAlgorithm]) -> dict[str, Callable[..., BaseAlgorithm]]:
    """
    :return: ``name`` at the class defaults (``matmul_precision="auto"``) and, labelled (``DSACE fp32``, ``DSACE bf16``),
        with each precision asked for
    """
    variants = dict(at_precision(factory, precision) for precision in PRECISION_LABELS)
    return {name: factory, **{f"{name} {label}": variant for label, variant in variants.items()}}


def at_precision(factory: Callable[..., BaseAlgorithm], precision: str) -> tuple[str, Callable[..., BaseAlgorithm]]:
    """:return: the label (``fp32``, ``bf16``) and the factory of ``factory``'s algorithm with ``matmul_precision``"""
    return PRECISION_LABELS[precision], with_kwargs(factory, matmul_precision=precision)


def make_env(name: str) -> gym.Env:
    shape = LEARN_ENVS.get(name, SHAPES.get(name))
    return gym.make(name) if shape is None else RandomEnv(*shape)


def silenced(model: BaseAlgorithm) -> BaseAlgorithm:
    model.set_logger(configure(None, []))
    return model


def ready_to_train(factory: Callable[..., BaseAlgorithm], env_name: str, steps: int) -> BaseAlgorithm:
    """A model whose replay buffer holds ``FILL`` random transitions, warmed up by one timed-size ``train()``."""
    model = factory(make_env(env_name), learning_starts=FILL + 1, batch_size=BATCH_SIZE, seed=0)
    model.learn(FILL)
    silenced(model).train(gradient_steps=steps, batch_size=BATCH_SIZE)
    return model


def ready_to_learn(factory: Callable[..., BaseAlgorithm], env_name: str, steps: int) -> BaseAlgorithm:
    """A model past ``WARMUP`` random steps and 100 learning steps."""
    model = silenced(factory(make_env(env_name), learning_starts=WARMUP, batch_size=BATCH_SIZE, seed=0))
    model.learn(WARMUP + 100)
    return model


def train_rate(model: BaseAlgorithm, steps: int) -> float:
    start = time.perf_counter()
    model.train(gradient_steps=steps, batch_size=BATCH_SIZE)
    return steps / (time.perf_counter() - start)


def learn_rate(model: BaseAlgorithm, steps: int) -> float:
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def alternating_rates(
    models: dict[str, BaseAlgorithm],
    rate: Callable[[BaseAlgorithm], float],
    rounds: int,
    after_round: Callable[[], Any] | None = None,
) -> dict[str, list[float]]:
    """
    :param after_round: called at the end of each round (to time something else in the same minutes as the models)
    :return: per model, its rate in each round; the order of the models is reversed every other round
    """
    rates: dict[str, list[float]] = {name: [] for name in models}
    for round_index in range(rounds):
        for name in list(models) if round_index % 2 == 0 else list(reversed(models)):
            rates[name].append(rate(models[name]))
        if after_round is not None:
            after_round()
    return rates


def alternate(models: dict[str, BaseAlgorithm], rate: Callable[[BaseAlgorithm], float], rounds: int) -> dict[str, list]:
    """
    :return: per algorithm, [median rate, median ratio to SAC over rounds, and that median's 95% bootstrap interval
        (low, high)]: the ratios of the rounds, each against SAC's rate in the same round
    """
    return ratios_to(alternating_rates(models, rate, rounds), "SAC")


def ratios_to(rates: dict[str, list[float]], reference: str) -> dict[str, list[float]]:
    """
    :param rates: per model, its rate in each round (:func:`alternating_rates`)
    :param reference: the model whose rate in the same round divides each rate
    :return: per model, [median rate, median ratio over rounds, the 95% bootstrap interval of that median (low, high)]
    """
    results = {}
    for name, rate in rates.items():
        ratios = np.array(rate) / np.array(rates[reference])
        results[name] = [float(np.median(rate)), float(np.median(ratios)), *bootstrap_median_interval(ratios)]
    return results


def selected(names: list[str] | None) -> dict[str, Callable[..., BaseAlgorithm]]:
    """:return: the algorithms named (all when ``None``), always with SAC, the reference of every ratio"""
    algos = algorithms()
    unknown = set(names or []) - set(algos)
    if unknown:
        raise SystemExit(f"unknown algorithm(s) {sorted(unknown)}: choose among {list(algos)}")
    return {name: factory for name, factory in algos.items() if names is None or name in names or name == "SAC"}


def worker(threads: int, args: argparse.Namespace) -> None:
    """Run the ``learn``, ``train`` and ``compile`` measurements at one thread count; print one JSON line per case."""
    th.set_num_threads(threads)
    measures, rounds, learn_steps, train_steps = args.measures, args.rounds, args.learn_steps, args.train_steps
    algos = selected(args.algos)
    if "learn" in measures:
        for env_name in LEARN_ENVS:
            models = {name: ready_to_learn(factory, env_name, learn_steps) for name, factory in algos.items()}
            results = alternate(models, lambda model: learn_rate(model, learn_steps), rounds)
            print(json.dumps(dict(measure="learn", case=env_name, threads=threads, results=results)), flush=True)
    if "train" in measures:
        train_measure("train", algos, threads, rounds, train_steps)
    if "compile" in measures:
        factories = dict(at_precision(algorithms()["DSACE"], precision) for precision in PRECISION_LABELS)
        factories = {f"DSACE {label}": factory for label, factory in factories.items()}
        factories |= {f"{name} compiled": with_kwargs(factory, compile_update=True) for name, factory in factories.items()}
        train_measure("compile", {**factories, "SAC": algos["SAC"]}, threads, rounds, train_steps)


def train_measure(
    measure: str, factories: dict[str, Callable[..., BaseAlgorithm]], threads: int, rounds: int, steps: int
) -> None:
    """Time ``train()`` of the factories' models per shape; print one JSON line per case, with each model's setup time."""
    for shape_name in SHAPES:
        models, setup_seconds = {}, {}
        for name, factory in factories.items():
            start = time.perf_counter()
            models[name] = ready_to_train(factory, shape_name, steps)
            setup_seconds[name] = time.perf_counter() - start
        results = alternate(models, lambda model: train_rate(model, steps), rounds)
        row = dict(measure=measure, case=shape_name, threads=threads, results=results, setup_seconds=setup_seconds)
        print(json.dumps(row), flush=True)


def with_kwargs(factory: Callable[..., BaseAlgorithm], **fixed: Any) -> Callable[..., BaseAlgorithm]:
    """:return: the factory with keyword arguments ``fixed`` added"""
    return lambda env, **kwargs: factory(env, **fixed, **kwargs)


MATRIX_PRODUCTS = ("mm", "bmm", "addmm", "baddbmm")


Product = tuple[str, tuple[int, ...], tuple[int, ...], th.dtype]


def dispatched_calls(
    model: BaseAlgorithm, operators: tuple[str, ...], steps: int = 1, timed: bool = False
) -> list[dict[str, Any]]:
    """
    :param operators: the ATen operators to record (names without overload, e.g. ``"bmm"``, ``"gelu"``)
    :param timed: time each call (seconds in ``"seconds"``; else 0)
    :return: the calls of ``operators`` in ``steps`` gradient steps of ``model`` (``train(steps)``), recorded at the
        dispatcher (forward and backward; the compiled step's extern products too) as the kernels receive them:
        operator, the shapes and strides of its tensor arguments, the dtype of the last one
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    calls = []

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            name = func.overloadpacket.__name__
            if name not in operators:
                return func(*args, **(kwargs or {}))
            start = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            tensors = [arg for arg in args if isinstance(arg, th.Tensor)]
            calls.append(dict(operator=name, shapes=[tuple(tensor.shape) for tensor in tensors], dtype=tensors[-1].dtype,
                              strides=[tensor.stride() for tensor in tensors],
                              seconds=time.perf_counter() - start if timed else 0.0))  # fmt: skip
            return out

    with Recorder():
        model.train(gradient_steps=steps, batch_size=BATCH_SIZE)
    return calls


def dispatched_products(model: BaseAlgorithm, steps: int = 1, timed: bool = False) -> list[dict[str, Any]]:
    """:return: the matrix products of ``steps`` gradient steps of ``model``, as :func:`dispatched_calls` records them"""
    return dispatched_calls(model, MATRIX_PRODUCTS, steps, timed)


def as_product(row: dict[str, Any]) -> Product:
    """:return: a row of :func:`dispatched_products` as (operator, factor shapes, dtype)"""
    left, right = row["shapes"][-2:]
    return row["operator"], left, right, row["dtype"]


def recorded_products(model: BaseAlgorithm) -> list[Product]:
    """:return: the matrix products of one gradient step of ``model`` as (operator, factor shapes, dtype)"""
    return [as_product(row) for row in dispatched_products(model)]


def timed_product_rows(model: BaseAlgorithm, steps: int, shown: int = 10) -> list[list[Any]]:
    """
    :return: the products of ``steps`` gradient steps grouped by operator, shapes, strides and dtype, slowest first
        (the ``shown`` slowest): [description, calls per step, ms per step, GFLOP/s], to find a product on a slow path
    """
    groups: dict[str, list[float]] = {}
    for row in dispatched_products(model, steps, timed=True):
        (left, right), (left_strides, right_strides) = row["shapes"][-2:], row["strides"][-2:]
        key = f"{row['operator']} {left} strides {left_strides} @ {right} strides {right_strides}, {dtype_name(row['dtype'])}"
        flops = product_flops([as_product(row)])
        calls, seconds, total_flops = groups.get(key, (0, 0.0, 0.0))
        groups[key] = [calls + 1, seconds + row["seconds"], total_flops + flops]
    rows = [
        [key, calls / steps, 1e3 * seconds / steps, flops / seconds / 1e9] for key, (calls, seconds, flops) in groups.items()
    ]
    return sorted(rows, key=lambda row: -row[2])[:shown]


def best_seconds(function: Callable[[], Any], calls: int = 50, before: Callable[[], Any] | None = None) -> float:
    """
    :param before: called before each timed call, untimed
    :return: the fastest of ``calls`` timed calls of ``function`` (after 5 untimed ones), in seconds
    """
    for _ in range(5):
        function()
    best = math.inf
    for _ in range(calls):
        if before is not None:
            before()
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


COLD_PASS_MB = 32  # a pass over this much memory before each timed product leaves its factors out of the caches


def product_seconds(products: list[Product], dtype: th.dtype, cold: bool = False) -> float:
    """
    :param cold: time each call after a pass over ``COLD_PASS_MB`` of other memory (as in a step, where the kernels
        between two products stream their own tensors), instead of with its factors in the caches
    :return: the summed best time of each product of ``products`` alone, computed in ``dtype`` (contiguous factors)
    """
    other_memory = th.zeros(COLD_PASS_MB * 2**20 // 4) if cold else None
    total = 0.0
    for _, left_shape, right_shape, _ in products:
        left, right = th.randn(left_shape, dtype=dtype), th.randn(right_shape, dtype=dtype)
        before = None if other_memory is None else lambda: other_memory.add_(1.0)
        total += best_seconds(lambda left=left, right=right: th.matmul(left, right), before=before)
    return total


def product_flops(products: list[Product]) -> float:
    """:return: floating-point operations (2 per multiply-add) of ``products``"""
    return sum(2.0 * math.prod(left) * right[-1] for _, left, right, _ in products)


def dtype_name(dtype: th.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def limit_rows(steps: int) -> list[dict[str, Any]]:
    """
    :return: per case and DSAC-E/DSAC-T precision, the step's products, their throughput limit and the step's time;
        on a CPU without native bfloat16 only float32 (bfloat16 falls back to it, and timing emulated bfloat16
        products alone would take longer than the whole benchmark)
    """
    native = bfloat16_matmul_supported(th.device("cpu"))
    precisions = list(PRECISION_LABELS) if native else ["float32"]
    # the precision the default step (matmul_precision="auto") computes in
    compiled_precision = "bfloat16" if bfloat16_matmul_pays(th.device("cpu")) else "float32"
    limit_dtypes = (th.float32, th.bfloat16) if native else (th.float32,)
    algos, rows = algorithms(), []
    for shape_name in SHAPES:
        for algorithm, precision in itertools.product(("DSACE", "DSACT"), precisions):
            label, factory = at_precision(algos[algorithm], precision)
            name = f"{algorithm} {label}"
            products = recorded_products(ready_to_train(factory, shape_name, steps))
            limit_ms = {dtype_name(dtype): 1e3 * product_seconds(products, dtype) for dtype in limit_dtypes}
            if native:
                limit_ms["bfloat16 cold"] = 1e3 * product_seconds(products, th.bfloat16, cold=True)
            dtypes = sorted({dtype_name(product[3]) for product in products})
            # the compiled step (same maths, so the same products) at the precision of the default step
            variants = {name: factory} | ({f"{name} compiled": with_kwargs(factory, compile_update=True)}
                                          if precision == compiled_precision else {})  # fmt: skip
            for variant, variant_factory in variants.items():
                model = ready_to_train(variant_factory, shape_name, steps)
                step_seconds = 1 / float(np.median([train_rate(model, steps) for _ in range(3)]))
                gflop = product_flops(products) / 1e9
                rows.append(dict(case=shape_name, algorithm=variant, products=len(products), dtypes=dtypes,
                                 gflop=gflop, step_ms=1e3 * step_seconds, limit_ms=limit_ms))  # fmt: skip
    return rows


def limit_worker(steps: int) -> None:
    """Print (JSON) the product throughput limit of DSAC-E's and DSAC-T's step and the share each step achieves."""
    th.set_num_threads(1)
    print(json.dumps(dict(measure="limit", rows=limit_rows(steps))), flush=True)


def limit_table(result: dict[str, Any]) -> str:
    lines = ["| case | algorithm | products per step (dtype) | GFLOP per step | step ms | products alone, float32 ms "
             f"(GFLOP/s) | products alone, bfloat16 ms (GFLOP/s) | the same after a {COLD_PASS_MB} MB pass each | "
             "achieved share of its precision's limit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for row in result["rows"]:
        limits = row["limit_ms"]
        own = limits["bfloat16"] if "bfloat16" in row["dtypes"] else limits["float32"]
        keys = ("float32", "bfloat16", "bfloat16 cold")
        cells = [f"{limits[key]:.2f} ({1e3 * row['gflop'] / limits[key]:.0f})" if key in limits else "no native kernels"
                 for key in keys]  # fmt: skip
        lines.append(
            f"| {row['case']} | {row['algorithm']} | {row['products']} ({', '.join(row['dtypes'])}) | "
            f"{row['gflop']:.2f} | {row['step_ms']:.1f} | {' | '.join(cells)} | {own / row['step_ms']:.0%} |"
        )
    return "\n".join(lines)


ACTIVATIONS = ("gelu", "gelu_backward")  # the exact GELU's ATen operators, forward and backward
FLOOR_PARTS = ("products", "GELU forward", "GELU backward", "optimizers", "target updates", "replay sample")


def elementwise_seconds(calls: list[dict[str, Any]], operator: str, function: Callable[[th.Tensor], Any]) -> float:
    """
    :param calls: calls recorded by :func:`dispatched_calls`
    :return: the summed best time of ``function`` alone on a tensor of the shape and dtype of the last tensor argument
        of each call of ``operator`` in ``calls``
    """
    counts = collections.Counter((call["shapes"][-1], call["dtype"]) for call in calls if call["operator"] == operator)
    seconds = 0.0
    for (shape, dtype), count in counts.items():
        tensor = th.randn(shape, dtype=dtype)
        seconds += count * best_seconds(lambda tensor=tensor: function(tensor))
    return seconds


def floor_timers(model: DSACE) -> dict[str, Callable[[], float]]:
    """
    The parts of ``model``'s gradient step that any implementation of the same maths at the same precision computes,
    each to be timed alone at its best (hot caches, torch's fastest CPU kernel for it):

    - ``products``: each matrix product of the step alone, in the dtype it was recorded in (as the ``limit`` measure);
    - ``GELU forward``: ATen's exact GELU on each forward activation of the step (its ``erf``);
    - ``GELU backward``: one ``exp`` per element of each backward activation: the least that any exact derivative
      ``Phi(x) + x phi(x)`` costs, even with ``Phi`` saved from the forward pass;
    - ``optimizers``: the model's optimizers' ``step()`` (torch's fused Adam at the defaults) on the step's gradients;
    - ``target updates``: the Polyak update of every target network;
    - ``replay sample``: one batch from the replay buffer.

    The step's losses and every other elementwise operation are left out, so the parts' sum bounds the step's time
    from below.

    :param model: a DSAC-E or DSAC-T model at ``policy_delay=1`` and ``target_update_interval=1`` (every part runs at
        every gradient step), after ``train()`` (its parameters hold gradients)
    :return: per part (``FLOOR_PARTS``), a function that times it and returns its seconds per gradient step
    """
    assert model.policy_delay == 1 == model.target_update_interval, "the floor counts every part once per gradient step"
    calls = dispatched_calls(model, MATRIX_PRODUCTS + ACTIVATIONS)
    products = [as_product(call) for call in calls if call["operator"] in MATRIX_PRODUCTS]
    by_dtype = {
        dtype: [product for product in products if product[3] == dtype] for dtype in {product[3] for product in products}
    }
    optimizers = [
        optimizer for optimizer in (model.critic.optimizer, model.actor.optimizer, model.ent_coef_optimizer) if optimizer
    ]
    return {
        "products": lambda: sum(product_seconds(dtype_products, dtype) for dtype, dtype_products in by_dtype.items()),
        "GELU forward": lambda: elementwise_seconds(calls, "gelu", th.nn.functional.gelu),
        "GELU backward": lambda: elementwise_seconds(calls, "gelu_backward", th.exp),
        "optimizers": lambda: best_seconds(lambda: [optimizer.step() for optimizer in optimizers]),
        "target updates": lambda: best_seconds(model._update_targets),
        "replay sample": lambda: best_seconds(lambda: model.replay_buffer.sample(BATCH_SIZE, env=model._vec_normalize_env)),
    }


def floor_rows(steps: int, rounds: int) -> list[dict[str, Any]]:
    """
    :return: per case and algorithm (DSAC-E, DSAC-T at the class defaults), per round: the floor's parts
        (:func:`floor_timers`, ms), the compiled step's time and SAC's (ms per gradient step of a ``train()`` burst of
        ``steps``); in each of ``rounds`` rounds the three models' bursts alternate, then the parts are timed, so that a
        round's floor and SAC's step come from the same minutes of the machine
    """
    algos, rows = algorithms(), []
    for shape_name in SHAPES:
        models = {f"{name} compiled": ready_to_train(with_kwargs(algos[name], compile_update=True), shape_name, steps)
                  for name in ("DSACE", "DSACT")}  # fmt: skip
        models["SAC"] = ready_to_train(algos["SAC"], shape_name, steps)
        timers = {
            f"{name} compiled": floor_timers(ready_to_train(algos[name], shape_name, steps)) for name in ("DSACE", "DSACT")
        }
        parts_ms: dict[str, list[dict[str, float]]] = {name: [] for name in timers}
        time_parts = functools.partial(append_floor_parts, timers, parts_ms)
        rates = alternating_rates(models, lambda model: train_rate(model, steps), rounds, after_round=time_parts)
        step_ms = {name: [1e3 / rate for rate in model_rates] for name, model_rates in rates.items()}
        for name, parts in parts_ms.items():
            rows.append(dict(case=shape_name, algorithm=name, parts=parts, step_ms=step_ms[name], sac_ms=step_ms["SAC"]))
    return rows


def append_floor_parts(timers: dict[str, dict[str, Callable[[], float]]], parts_ms: dict[str, list[dict[str, float]]]) -> None:
    """Time every algorithm's floor parts (:func:`floor_timers`) once and append them, in ms, to its list in ``parts_ms``"""
    for name, parts in timers.items():
        parts_ms[name].append({part: 1e3 * timer() for part, timer in parts.items()})


def floor_worker(steps: int, rounds: int) -> None:
    """Print (JSON) the floor of DSAC-E's and DSAC-T's step against their compiled step and SAC's."""
    th.set_num_threads(1)
    print(json.dumps(dict(measure="floor", rows=floor_rows(steps, rounds))), flush=True)


def floor_table(result: dict[str, Any]) -> str:
    """The floor's parts and sum (medians over rounds) and the median ratios over rounds, with their 95% intervals."""
    lines = ["| case | algorithm | products | GELU forward (ATen) | GELU backward (one exp per element) | optimizers | "
             "target updates | replay sample | **floor** | the step | SAC's step | best ratio to SAC (SAC's step / floor) "
             "| achieved ratio (SAC's step / the step) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for row in result["rows"]:
        floors = np.array([sum(parts.values()) for parts in row["parts"]])
        step, sac = np.array(row["step_ms"]), np.array(row["sac_ms"])
        parts = [float(np.median([parts[part] for parts in row["parts"]])) for part in FLOOR_PARTS]
        cells = [" | ".join(f"{ms:.2f}" for ms in parts), f"**{np.median(floors):.2f}**", f"{np.median(step):.2f}",
                 f"{np.median(sac):.2f}"]  # fmt: skip
        for ratios in (sac / floors, sac / step):
            low, high = bootstrap_median_interval(ratios)
            cells.append(f"{np.median(ratios):.2f}x [{low:.2f}, {high:.2f}]")
        lines.append(f"| {row['case']} | {row['algorithm']} | {' | '.join(cells)} |")
    return "\n".join(lines)


def train_share(model: BaseAlgorithm, steps: int) -> tuple[float, float]:
    """:return: milliseconds per environment step of ``learn()`` in ``train()`` and in the rest (collection)"""
    spent = 0.0
    train = model.train

    def timed_train(gradient_steps: int, batch_size: int) -> None:
        nonlocal spent
        start = time.perf_counter()
        train(gradient_steps, batch_size)
        spent += time.perf_counter() - start

    model.train = timed_train  # type: ignore[method-assign]
    total = 1 / learn_rate(model, steps) * steps
    del model.train
    return 1e3 * spent / steps, 1e3 * (total - spent) / steps


def profile_worker(steps: int) -> None:
    """Print (JSON) the learn() time split of DSAC-E and SAC, and the operator profile of DSAC-E's train()."""
    from torch.profiler import ProfilerActivity, profile

    th.set_num_threads(1)
    import torch._inductor.config

    torch._inductor.config.cpp.enable_kernel_profile = True  # the compiled graph's kernels appear as operators
    algos = {name: factory for name, factory in algorithms().items() if name.startswith("DSACE") or name == "SAC"}
    models = {name: ready_to_learn(factory, "Hopper-v4", steps) for name, factory in algos.items()}
    split = {name: train_share(model, steps) for name, model in models.items()}
    acting = {name: acting_microseconds(model) for name, model in models.items()}
    operators, groups, products = {}, {}, {}
    for name in (name for name in algos if name != "SAC"):
        model = ready_to_train(algos[name], "Hopper", PROFILED_STEPS)
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            model.train(gradient_steps=PROFILED_STEPS, batch_size=BATCH_SIZE)
        if name in PRODUCTS_TIMED:  # after the profile, which the dispatcher's timing mode must not touch
            products[name] = timed_product_rows(model, PROFILED_STEPS)
        events = sorted(profiler.key_averages(), key=lambda event: event.self_cpu_time_total, reverse=True)
        total = sum(event.self_cpu_time_total for event in events)
        operators[name] = [[event.key, event.self_cpu_time_total / total, event.count] for event in events[:12]]
        groups[name] = {group: 0.0 for group in [*OPERATOR_GROUPS, "rest"]}
        for event in events:
            groups[name][operator_group(event.key)] += event.self_cpu_time_total / 1e3 / PROFILED_STEPS
    row = dict(measure="profile", split=split, acting=acting, operators=operators, groups=groups, products=products)
    print(json.dumps(row), flush=True)


PROFILED_STEPS = 20
# the profiled models whose products are also timed one by one (the default's eager and compiled steps)
PRODUCTS_TIMED = ("DSACE", "DSACE compiled")
# the profile's operators by what they do: a name in the tuple, or (lower case) containing one of its words
OPERATOR_GROUPS = {
    "matrix products": tuple(f"aten::{name}" for name in MATRIX_PRODUCTS),
    "kernels with a GELU": ("gelu",),
    "optimizers and target updates": ("adam", "lerp"),
}


def operator_group(key: str) -> str:
    """:return: the group of :data:`OPERATOR_GROUPS` of the profiler's operator ``key``, or ``"rest"``"""
    for group, names in OPERATOR_GROUPS.items():
        if key in names or any(name in key.lower() for name in names if "::" not in name):
            return group
    return "rest"


LEVER_STEPS = 10  # gradient steps per timed burst of the levers measure


def with_compiled_optimizers(model: BaseAlgorithm) -> BaseAlgorithm:
    """:return: ``model`` with each of its optimizers' ``step`` through ``torch.compile`` (compiled here)"""
    for optimizer in (model.critic.optimizer, model.actor.optimizer, model.ent_coef_optimizer):
        if optimizer is not None:
            optimizer.step = th.compile(optimizer.step)  # type: ignore[method-assign]
    model.train(gradient_steps=LEVER_STEPS, batch_size=BATCH_SIZE)
    return model


def aten_gelu_in_inductor() -> None:
    """Make inductor call ATen's GELU kernels (forward and backward) in every graph it compiles from now on."""
    import torch._functorch.config
    from torch._inductor import config, decomposition, lowering

    for op in (th.ops.aten.gelu, th.ops.aten.gelu_backward):
        for overload in [key for key in decomposition.decompositions if getattr(key, "overloadpacket", None) is op]:
            del decomposition.decompositions[overload]
        lowering.make_fallback(op, warn=False, override_decomp=True)
    decomposition.fast_random_decomps.cache_clear()  # the table that inductor reads, cached at its first compilation
    # the on-disk caches would return the graphs compiled with inductor's GELU kernels
    config.fx_graph_cache = False
    torch._functorch.config.enable_autograd_cache = False


class TanhApproximateGELU(th.nn.GELU):
    """GELU by its tanh approximation, as an ``activation_fn`` class (SB3 calls it without arguments)"""

    def __init__(self) -> None:
        super().__init__(approximate="tanh")


def with_plain_output_products(factory: Callable[..., BaseAlgorithm]) -> Callable[..., BaseAlgorithm]:
    """:return: the factory with the critics' output layers computing ``x @ weight`` (not transposed)"""

    def plain(env: gym.Env, **kwargs: Any) -> BaseAlgorithm:
        model = factory(env, **kwargs)
        for module in model.policy.modules():
            if isinstance(module, EnsembleLinear):
                module.transposed = False
        return model

    return plain


def levers_worker(rounds: int) -> None:
    """Print (JSON) the speed of the compiled DSAC-E step with each lever, against the step without it."""
    from torch._inductor import config as inductor_config

    th.set_num_threads(1)
    compiled = with_kwargs(algorithms()["DSACE"], compile_update=True)
    models = {"compiled step": ready_to_train(compiled, "Hopper", LEVER_STEPS)}
    models["- output products transposed"] = ready_to_train(with_plain_output_products(compiled), "Hopper", LEVER_STEPS)
    models["+ optimizers compiled"] = with_compiled_optimizers(ready_to_train(compiled, "Hopper", LEVER_STEPS))
    # inductor's own C++ GEMM kernels (AMX micro-kernels where the CPU has them) with the elementwise work around a
    # product fused into it, chosen against ATen's products by timing them (compiled in the first train() call)
    with inductor_config.patch(max_autotune=True, max_autotune_gemm_backends="CPP,ATEN"):
        models["+ max-autotune GEMMs"] = ready_to_train(compiled, "Hopper", LEVER_STEPS)
    tanh_gelu = with_kwargs(compiled, policy_kwargs={"activation_fn": TanhApproximateGELU})
    models["+ tanh-approximate GELU"] = ready_to_train(tanh_gelu, "Hopper", LEVER_STEPS)
    aten_gelu_in_inductor()  # process-wide: the models above keep the graphs they compiled before it
    models["+ ATen's GELU kernels"] = ready_to_train(compiled, "Hopper", LEVER_STEPS)
    rates = alternating_rates(models, lambda model: train_rate(model, LEVER_STEPS), rounds)
    results = {
        name: dict(ms=1e3 / rate, ratio=ratio, low=low, high=high)
        for name, (rate, ratio, low, high) in ratios_to(rates, "compiled step").items()
    }
    print(json.dumps(dict(measure="levers", rounds=rounds, results=results)), flush=True)


def bootstrap_median_interval(values: np.ndarray, resamples: int = 2000) -> tuple[float, float]:
    """:return: the 95% percentile-bootstrap interval of the median of ``values``"""
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(values, (resamples, len(values))), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def levers_table(result: dict[str, Any]) -> str:
    lines = [f"| step | ms per gradient step | speed against the compiled step (95% interval, {result['rounds']} rounds) |",
             "| --- | --- | --- |"]  # fmt: skip
    for name, row in result["results"].items():
        lines.append(f"| {name} | {row['ms']:.2f} | {row['ratio']:.3f} [{row['low']:.3f}, {row['high']:.3f}] |")
    return "\n".join(lines)


def acting_microseconds(model: BaseAlgorithm, calls: int = 2000) -> float:
    """:return: microseconds per ``predict()`` of one observation (the acting step of SB3's collection loop)"""
    observation = model.observation_space.sample()[None]
    return 1e6 * best_seconds(lambda: model.predict(observation, deterministic=False), calls)


def profile_tables(result: dict[str, Any]) -> str:
    lines = ["| algorithm | train() ms/step | collection ms/step | train() share | predict() of one observation, us "
             "(best of 2000) |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, (train_ms, collect_ms) in result["split"].items():
        lines.append(f"| {name} | {train_ms:.1f} | {collect_ms:.1f} | {train_ms / (train_ms + collect_ms):.0%} | "
                     f"{result['acting'][name]:.0f} |")  # fmt: skip
    names = list(result["operators"])
    lines += ["", "| " + " | ".join(f"{name}: operator | self CPU | calls" for name in names) + " |",
              "| " + " | ".join("--- | --- | ---" for _ in names) + " |"]  # fmt: skip
    for rows in zip(*result["operators"].values(), strict=True):
        lines.append("| " + " | ".join(f"`{key}` | {share:.1%} | {count}" for key, share, count in rows) + " |")
    groups = [*OPERATOR_GROUPS, "rest"]
    lines += ["", "| ms per gradient step (profiled) | " + " | ".join(groups) + " |",
              "| --- | " + " | ".join("---" for _ in groups) + " |"]  # fmt: skip
    for name, times in result["groups"].items():
        lines.append(f"| {name} | " + " | ".join(f"{times[group]:.2f}" for group in groups) + " |")
    for name, rows in result.get("products", {}).items():
        lines += ["", f"| {name}: the slowest products as the kernels receive them | calls per step | ms per step | GFLOP/s |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        lines += [f"| `{key}` | {calls:g} | {ms:.3f} | {rate:.0f} |" for key, calls, ms, rate in rows]
    return "\n".join(lines)


def rss_worker(name: str) -> None:
    """Train ``name`` on Hopper-v4 with a 1M replay buffer whose pages are all resident (the parent reads the RSS)."""
    th.set_num_threads(1)
    model = silenced(algorithms()[name](gym.make("Hopper-v4"), buffer_size=1_000_000, learning_starts=WARMUP, seed=0))
    buffer = model.replay_buffer
    assert buffer is not None
    for array in (buffer.observations, buffer.next_observations, buffer.actions, buffer.rewards, buffer.dones):
        if array is not None:
            array.fill(0)
    model.learn(WARMUP + RSS_STEPS)


def peak_rss_mb(name: str, env: dict[str, str]) -> float:
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.speed", "--rss-worker", name], env=env)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"the memory run of {name} failed (status {status})")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def child_env(threads: int) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(max(threads, 1))}
    if threads <= 1:
        env["XLA_FLAGS"] = ONE_THREAD_XLA_FLAGS
    return env


def speed_subprocess(threads: int, *options: str) -> list[dict[str, Any]]:
    """:return: the JSON rows printed by ``python -m benchmarks.speed *options`` run with ``threads`` threads"""
    command = [sys.executable, "-m", "benchmarks.speed", *options]
    output = subprocess.run(command, env=child_env(threads), check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def run_worker(threads: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    options = ["--measures", *args.measures, "--rounds", str(args.rounds), "--learn-steps", str(args.learn_steps),
               "--train-steps", str(args.train_steps), *(["--algos", *args.algos] if args.algos else [])]  # fmt: skip
    return speed_subprocess(threads, "--worker-threads", str(threads), *options)


def rate_table(rows: list[dict[str, Any]], unit: str) -> str:
    names = list(rows[0]["results"])
    lines = [
        "| case | threads | " + " | ".join(f"{name} {unit} (ratio)" for name in names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for row in rows:
        cells = " | ".join(
            f"{rate:.1f} ({ratio:.2f} [{low:.2f}, {high:.2f}])" for rate, ratio, low, high in row["results"].values()
        )
        lines.append(f"| {row['case']} | {row['threads']} | {cells} |")
    return "\n".join(lines)


def auto_precision_note() -> str:
    """:return: the precision DSAC-E's default (``matmul_precision="auto"``) computes in on this CPU at one thread, and why"""
    th.set_num_threads(1)
    cpu = th.device("cpu")
    if not bfloat16_matmul_supported(cpu):
        return 'matmul_precision="auto" computes in float32 here (no native bfloat16 products)'
    chosen, speedup = "bfloat16" if bfloat16_matmul_pays(cpu) else "float32", cpu_bfloat16_speedup(1)
    return f'matmul_precision="auto" computes in {chosen} here (bfloat16 products {speedup:.2f}x as fast as float32 ones)'


def versions() -> str:
    text = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {th.__version__}, "
            f"stable-baselines3 {stable_baselines3.__version__}, sb3-contrib {sb3_contrib.__version__}, "
            f"sb3-tecrl {sb3_tecrl.__version__}")  # fmt: skip
    try:
        import jax
        import sbx
    except ImportError:
        return text + " (sbx-rl not installed)"
    return text + f", sbx-rl {sbx.__version__}, jax {jax.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    measures = ["learn", "train", "compile", "limit", "floor", "profile", "levers", "rss"]
    parser.add_argument("--measures", nargs="+", default=measures, choices=measures)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--algos", nargs="+", help="the algorithms of learn, train and rss (default: all; SAC always)")
    parser.add_argument("--learn-steps", type=int, default=300, help="environment steps per timed learn() round")
    parser.add_argument("--train-steps", type=int, default=30, help="gradient steps per timed train() round")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "speed.md")
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rss-worker", help=argparse.SUPPRESS)
    parser.add_argument("--limit-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--levers-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_worker:
        rss_worker(args.rss_worker)
        return
    if args.limit_worker:
        limit_worker(args.train_steps)
        return
    if args.levers_worker:
        levers_worker(args.rounds)
        return
    if args.floor_worker:
        floor_worker(args.train_steps, args.rounds)
        return
    if args.worker_threads == 0:
        profile_worker(args.learn_steps)
        return
    if args.worker_threads:
        worker(args.worker_threads, args)
        return

    command = (f"python -m benchmarks.speed --threads {' '.join(map(str, args.threads))} --measures "
               f"{' '.join(args.measures)} --rounds {args.rounds} --learn-steps {args.learn_steps} "
               f"--train-steps {args.train_steps}")  # fmt: skip
    if args.algos:
        command += " --algos " + " ".join(f"'{name}'" for name in args.algos)
    sections = [f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}` on {cpu_description()}: "
                f"{versions()}; {auto_precision_note()}. Batch {BATCH_SIZE}; ratio = median over rounds of (algorithm / SAC) "
                "in the same round, with the 95% bootstrap interval of that median in brackets."]  # fmt: skip
    print(sections[0], flush=True)
    rows = [row for threads in args.threads for row in run_worker(threads, args)]
    if "profile" in args.measures:
        rows += run_worker(0, args)  # thread count 0: the profile worker (one thread)
    for measure, title, unit in (("learn", "learn(), one gradient step per environment step", "steps/s"),
                                 ("train", "train() on a pre-filled buffer", "updates/s"),
                                 ("compile", "train(), gradient step in torch.compile", "updates/s")):  # fmt: skip
        measured = [row for row in rows if row["measure"] == measure]
        if measured:
            sections.append(f"**{title}**\n\n{rate_table(measured, unit)}")
            if measure == "compile":
                # the compiled model's setup includes its first train() calls, where the compilation happens
                sections[-1] += "\n\nCompilation (setup of the compiled model less the eager one's): " + ", ".join(
                    f"{row['case']} {row['threads']} thread(s) {label} "
                    f"{row['setup_seconds'][f'DSACE {label} compiled'] - row['setup_seconds'][f'DSACE {label}']:.0f} s"
                    for row in measured
                    for label in PRECISION_LABELS.values()
                )
            print(sections[-1], flush=True)
    if "limit" in args.measures:
        rows += speed_subprocess(1, "--limit-worker", "--train-steps", str(args.train_steps))
    if "floor" in args.measures:
        rows += speed_subprocess(1, "--floor-worker", "--train-steps", str(args.train_steps), "--rounds", str(args.rounds))
    if "levers" in args.measures:
        rows += speed_subprocess(1, "--levers-worker", "--rounds", str(args.rounds))
    for row in rows:
        if row["measure"] == "limit":
            title = "**limit, one thread: the step's matrix products alone, against the whole step (train())**"
            sections.append(title + "\n\n" + limit_table(row))
            print(sections[-1], flush=True)
        if row["measure"] == "floor":
            title = "**floor, one thread: the parts of the step its maths cannot skip, each alone at its best (ms per step)**"
            sections.append(title + "\n\n" + floor_table(row))
            print(sections[-1], flush=True)
        if row["measure"] == "levers":
            title = "**levers, one thread: train() on Hopper shapes, the compiled DSAC-E step with one lever more or less**"
            sections.append(title + "\n\n" + levers_table(row))
            print(sections[-1], flush=True)
        if row["measure"] == "profile":
            title = f"**profile, one thread: learn() on Hopper-v4 ({args.learn_steps} steps), train() on Hopper shapes**"
            sections.append(title + "\n\n" + profile_tables(row))
            print(sections[-1], flush=True)
    if "rss" in args.measures:
        rss = {name: peak_rss_mb(name, child_env(1)) for name in selected(args.algos)}
        lines = ["| algorithm | peak RSS (MB) | ratio to SAC |", "| --- | --- | --- |"]
        lines += [f"| {name} | {mb:.0f} | {mb / rss['SAC']:.3f} |" for name, mb in rss.items()]
        title = "**peak RSS, Hopper-v4, 1M-transition buffer (all pages resident), one thread**"
        sections.append(title + "\n\n" + "\n".join(lines))
        print(sections[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
