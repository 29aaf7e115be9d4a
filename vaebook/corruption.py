"""Corruption processes for denoising autoencoders, and how far an image is from the clean one.

Each process takes clean images x: (B, D) in [0, 1] and returns corrupted images in [0, 1] of
the same shape. Randomness comes from ``generator`` (torch's global generator when None), so a
seeded generator gives the same corruption every time (see ``vaebook.randomness``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaebook.checks import (
    check_batch,
    check_finite,
    check_real,
    check_unit_interval,
    checked,
)


def _check_level(name: str):
    def check(x: object, generator: object, **levels: object) -> None:
        check_unit_interval(check_batch(x, "x"), "x")
        check_real(levels[name], name, 0.0, 1.0, include_low=True)
    return check


@checked(_check_level("std"))
def gaussian_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """x + N(0, std²) per pixel, clipped back to [0, 1]. std in [0, 1]."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp_(0, 1)


@checked(_check_level("fraction"))
def masking_noise(x: Tensor, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """Set each pixel to 0 with probability ``fraction`` in [0, 1] (Vincent et al., 2008)."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= fraction
    return x * keep


@checked(_check_level("fraction"))
def salt_and_pepper(x: Tensor, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """Set each pixel, with probability ``fraction`` in [0, 1], to 0 or 1 with equal odds."""
    u = torch.rand(x.shape, generator=generator, device=x.device)
    hit = u < fraction
    salt = u < fraction / 2  # half of the hit pixels turn white, half black
    return torch.where(hit, salt.to(x.dtype), x)


def mse(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error per image, 1/D Σ_d (x_d − x̂_d)². (B, D), (B, D) -> (B,)."""
    check_finite(check_batch(x, "x"), "x")
    check_finite(check_batch(x_hat, "x_hat"), "x_hat")
    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and "
                         f"{tuple(x_hat.shape)}.")
    return ((x - x_hat) ** 2).mean(-1)


def psnr(x: Tensor, x_hat: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image in decibels, 10 log10(1 / MSE), for pixels in [0, 1].
    (B, D), (B, D) -> (B,); higher is closer to the clean image (inf when they are equal)."""
    return -10 * torch.log10(mse(x, x_hat))
