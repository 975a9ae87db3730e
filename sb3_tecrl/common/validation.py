"""
Checks of constructor arguments: each raises a ``ValueError`` that names the parameter, the value and the valid range.

Numbers are checked by kind (``numbers.Integral``, ``numbers.Real``), so NumPy scalars pass; ``bool`` is no number here.
"""

import math
import numbers
from collections.abc import Iterable
from typing import Any


class UnsupportedSpaceError(ValueError, AssertionError):
    """
    A space the algorithm cannot handle. A ``ValueError`` that says what to do instead, and also an ``AssertionError``,
    the class SB3's algorithms raise for an unsupported action space, so that code written for SAC catches it unchanged.
    """


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_integer(name: str, value: Any, minimum: int, also: tuple[int, ...] = (), maximum: int | None = None) -> None:
    """
    :param also: values accepted besides those of the range (``-1`` for "as many as ...")
    :raises ValueError: unless ``value`` is an integer in ``[minimum, maximum]`` or one of ``also``
    """
    if _is_integer(value) and (value in also or (value >= minimum and (maximum is None or value <= maximum))):
        return
    valid = f"an integer >= {minimum}" if maximum is None else f"an integer in [{minimum}, {maximum}]"
    valid += "".join(f" or {extra}" for extra in also)
    raise ValueError(f"{name} must be {valid}, got {value!r}.")


def check_real(
    name: str, value: Any, low: float = -math.inf, high: float = math.inf, low_open: bool = False, high_open: bool = False
) -> None:
    """:raises ValueError: unless ``value`` is a finite number in the interval from ``low`` to ``high`` (open or closed)"""
    if _is_real(value) and (low < value if low_open else low <= value) and (value < high if high_open else value <= high):
        return
    raise ValueError(f"{name} must be {_interval(low, high, low_open, high_open)}, got {value!r}.")


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    if low == -math.inf and high == math.inf:
        return "a finite number"
    if high == math.inf:
        return f"a number {'>' if low_open else '>='} {low:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_rate(name: str, value: Any) -> None:
    """:raises ValueError: unless ``value`` is a number > 0 or a schedule (a callable of the progress remaining)"""
    if not callable(value):
        check_real(name, value, 0.0, low_open=True)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """:raises ValueError: unless ``value`` is one of ``choices``"""
    choices = tuple(choices)
    if not (isinstance(value, str) and value in choices):
        raise ValueError(f"{name} must be one of {choices}, got {value!r}.")


def as_number(text: str) -> float | str:
    """:return: ``text`` as a float if it reads as one, else ``text`` itself (for the error message)"""
    try:
        return float(text)
    except ValueError:
        return text
