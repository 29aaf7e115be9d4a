"""Input checks for vaebook's public edge: one clear error, raised where bad input enters.

Every message names the argument, says what was wrong and what to do about it. There are two
kinds of check. *Structural* checks (type, dtype, shape, device, model class) read no data, cost
nothing on the device and may run on every call. *Value* checks (finite, within [0, 1]) read the
data, which on a GPU means waiting for it, so they run once where data enters (``train``,
``evaluate``, a direct call), never on every step of a loop.

A function checked at its edge is a :class:`Checked`: calling it checks its arguments, then
computes; ``f.check(...)`` only checks. One switch, :func:`trusted`, turns the checks of every
call off inside a block, as ``torch.distributions``' ``validate_args`` does for distributions:
``training.train`` checks the data once and runs its loop trusted, so a loss built from public
functions costs no check per step. A checked function computes trusted too, so the functions it
calls do not check again what its own check covered.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Sequence, Sized
from contextlib import contextmanager
from typing import Generic, ParamSpec, TypeVar

import torch
from torch import Tensor, nn

P = ParamSpec("P")
R = TypeVar("R")


_CHECKING = contextvars.ContextVar("vaebook_checking", default=True)


@contextmanager
def trusted() -> Iterator[None]:
    """Inside the block, calls of :class:`Checked` functions compute without checking their
    arguments: for a loop over data that was checked once, where it entered."""
    token = _CHECKING.set(False)
    try:
        yield
    finally:
        _CHECKING.reset(token)


class Checked(Generic[P, R]):
    """A function whose input check is split from its computation (see the module docstring).

    ``check`` receives every argument of the computation by name, defaults filled in, and
    raises on bad input; it ignores the names it does not need (``**_``).
    """

    def __init__(self, check: Callable[..., None], compute: Callable[P, R]):
        functools.update_wrapper(self, compute)
        self._check, self._compute = check, compute
        self._signature = inspect.signature(compute)

    def check(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Check the arguments of a call, without computing (whether or not inside ``trusted``)."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{self._compute.__name__}{self._signature}: {err}") from None
        bound.apply_defaults()
        self._check(**bound.arguments)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if not _CHECKING.get():
            return self._compute(*args, **kwargs)
        self.check(*args, **kwargs)
        with trusted():  # what it calls gets arguments this check covered, or derived from them
            return self._compute(*args, **kwargs)


def checked(check: Callable[..., None]) -> Callable[[Callable[P, R]], Checked[P, R]]:
    """Decorator: make a function :class:`Checked` by ``check``."""
    return functools.partial(Checked, check)


def check_tensor(x: object, name: str) -> Tensor:
    """Return ``x`` if it is a floating-point tensor, else raise a ``TypeError``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}; "
                        f"convert it with torch.as_tensor({name}, dtype=torch.float32).")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
                        f"use {name}.float() (and divide uint8 pixels by 255).")
    return x


def check_batch(x: object, name: str = "x", dim: int | None = None) -> Tensor:
    """Check a batch of flat vectors: a float tensor of shape ``(B, D)``, B ≥ 1, ``D == dim`` if
    given."""
    x = check_tensor(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (B, D), a batch of flat vectors, got shape "
                         f"{tuple(x.shape)}; flatten images with {name}.reshape(len({name}), -1).")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); pass at least one row of at "
                         f"least one value.")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} features per row (shape (B, {dim})), got shape "
                         f"{tuple(x.shape)}.")
    return x


def check_finite(x: Tensor, name: str) -> Tensor:
    """Raise a ``ValueError`` unless every value of ``x`` is finite (no nan, no ±inf)."""
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{name} has {bad} non-finite values (nan or inf) among {x.numel()}; "
                         f"find where they come from, or drop those rows.")
    return x


def check_unit_interval(x: Tensor, name: str = "x") -> Tensor:
    """Check that every value lies in [0, 1], as pixel intensities and Bernoulli means must (nan
    does not)."""
    outside = ~((x >= 0) & (x <= 1))
    if outside.any():
        finite = x[torch.isfinite(x)]
        span = (f"from {finite.min().item():.4g} to {finite.max().item():.4g}" if finite.numel()
                else "none finite")
        raise ValueError(f"{name} must hold values in [0, 1], got {int(outside.sum())} outside it "
                         f"({span}, {int(torch.isnan(x).sum())} nan); scale uint8 pixels with "
                         f"x / 255 before using them, and remove nan.")
    return x


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is an integer >= 1 (not a bool), else raise a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def check_real(value: object, name: str, low: float = 0.0, high: float = math.inf,
               include_low: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number above ``low`` (or equal to it,
    with ``include_low``) and at most ``high``; else raise a ``ValueError``."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (value == low and not include_low) or value > high:
        interval = (("[" if include_low else "(") + f"{low:g}, "
                    + (f"{high:g}]" if high < math.inf else "inf)"))
        raise ValueError(f"{name} must be a finite real number in {interval}, got {value!r}.")
    return float(value)


def check_same_length(items: Sequence[Sized], names: str) -> int:
    """Return the common length of ``items`` (tensors, arrays, lists) or raise naming the
    mismatch."""
    lengths = [len(item) for item in items]
    if len(set(lengths)) > 1:
        raise ValueError(f"{names} must have the same number of rows, got lengths {lengths}.")
    return lengths[0]


def check_broadcastable(tensors: dict[str, object]) -> torch.Size:
    """Check that the named tensors are floating-point and broadcast together; return the
    broadcast shape."""
    for name, t in tensors.items():
        check_tensor(t, name)
    try:
        return torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError:
        shapes = ", ".join(f"{name} {tuple(t.shape)}" for name, t in tensors.items())
        raise ValueError(f"the shapes do not broadcast together: {shapes}; give them the same "
                         f"last dimension.") from None


def check_values(values: object, shape: tuple[int, ...], name: str) -> Tensor:
    """The output of a user's function: a tensor of ``shape`` (one value per sample), finite."""
    if not isinstance(values, Tensor) or tuple(values.shape) != tuple(shape):
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"{name} must return one value per sample, a tensor of shape {tuple(shape)}, "
                         f"got {got}; sum over the data and latent dimensions.")
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} returned non-finite values (nan or inf) for "
                         f"{int((~torch.isfinite(values)).sum())} samples; check that it is defined on "
                         f"the whole support of q (a Beta q needs it on (0, 1)).")
    return values


def check_labels(labels: object, n: int, classes: int, name: str = "labels") -> Tensor:
    """Return ``labels`` if it is an int64 tensor of n class indices in [0, classes), else raise."""
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(labels).__name__}; "
                        f"convert it with torch.as_tensor({name}, dtype=torch.long).")
    if labels.dtype != torch.long:
        raise TypeError(f"{name} must hold class indices as torch.long, got dtype {labels.dtype}; "
                        f"use {name}.long().")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have one class index per row, shape ({n},), got "
                         f"{tuple(labels.shape)}.")
    if n and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{name} must lie in [0, {classes}), got values from {labels.min().item()} "
                         f"to {labels.max().item()}.")
    return labels


def check_model(model: object, cls: type[nn.Module], name: str, why: str) -> None:
    """Raise a ``TypeError`` unless ``model`` is a ``cls``; ``why`` says what needs it."""
    if not isinstance(model, cls):
        raise TypeError(f"{name} must be a {cls.__name__} ({why}), got {type(model).__name__}.")


def check_same_device(x: Tensor, device: torch.device, name: str) -> None:
    """Raise a ``ValueError`` unless ``x`` lives on ``device`` (the model's)."""
    if x.device != device:
        raise ValueError(f"{name} is on {x.device} but the model is on {device}; move one to the "
                         f"other first, e.g. {name} = {name}.to(device) or model.to({name}.device).")

