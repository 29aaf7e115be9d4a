"""Input checks for the public edge of vaebook: one clear error, raised early.

Every message says what was wrong and what to do about it.
"""

from __future__ import annotations

from torch import Tensor


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
    """Check a batch of flat vectors: a float tensor of shape ``(B, D)``, ``D == dim`` if given."""
    x = check_tensor(x, name)
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (B, D), a batch of flat vectors, got shape "
                         f"{tuple(x.shape)}; flatten images with {name}.reshape(len({name}), -1).")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} features per row (shape (B, {dim})), got shape "
                         f"{tuple(x.shape)}.")
    return x


def check_unit_interval(x: Tensor, name: str = "x") -> Tensor:
    """Check that every value lies in [0, 1], as pixel intensities and Bernoulli means must."""
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must hold values in [0, 1], got values from {lo:.4g} to {hi:.4g}; "
                         f"scale uint8 pixels with x / 255 before using them.")
    return x


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is an integer >= 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return value


def check_same_length(tensors: tuple[Tensor, ...], names: str) -> int:
    """Return the common length of ``tensors`` or raise naming the mismatch."""
    lengths = [len(t) for t in tensors]
    if len(set(lengths)) > 1:
        raise ValueError(f"{names} must have the same number of rows, got lengths {lengths}.")
    return lengths[0]
