"""``torch.compile`` where this machine can compile, the eager function (with a warning) where it cannot."""

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import torch as th

Function = TypeVar("Function", bound=Callable[..., Any])


def compiler_error(device: th.device) -> Exception | None:
    """
    Compile and run a two-operation probe with ``torch.compile`` (inductor) on ``device``.

    :param device: where the compiled code would run
    :return: the error that stopped it (no C++ compiler on CPU, no Triton on CUDA, a torch build without
        inductor, ...), or ``None`` when this machine compiles
    """
    try:
        probe = th.compile(lambda x: (x * 2.0).sin(), dynamic=False)
        probe(th.ones(4, device=device))
    except Exception as error:
        return error
    return None


def compile_or_eager(
    function: Function, device: th.device, name: str, trace_autograd: bool = False, warn: bool = True
) -> Function:
    """
    :param function: the function to compile
    :param device: the device it runs on
    :param name: what ``function`` is, for the warning
    :param trace_autograd: trace the ``torch.autograd.grad`` calls of ``function`` into its graph, where this torch can
        (``torch._dynamo.config.trace_autograd_ops``); elsewhere they are graph breaks, run eagerly
    :param warn: warn when this machine cannot compile
    :return: ``torch.compile(function)``, or ``function`` itself (with a warning that says why, if ``warn``) when this
        machine cannot compile (see :func:`compiler_error`)
    """
    error = compiler_error(device)
    if error is None:
        compiled = th.compile(function)
        if not (trace_autograd and hasattr(th._dynamo.config, "trace_autograd_ops")):
            return compiled  # type: ignore[return-value]

        @functools.wraps(function)
        def compiled_with_autograd(*args: Any, **kwargs: Any) -> Any:
            with th._dynamo.config.patch(trace_autograd_ops=True):
                return compiled(*args, **kwargs)

        return compiled_with_autograd  # type: ignore[return-value]
    if not warn:
        return function
    warnings.warn(
        f"torch.compile cannot compile on this machine ({type(error).__name__}: {str(error)[:300]}): the {name} runs "
        "eagerly (same results, without the speed-up). Install a C++ compiler (inductor needs one on CPU) or pass "
        "compile_update=False to silence this warning.",
        stacklevel=3,
    )
    return function
