"""Corruption processes for denoising autoencoders, and how far an image is from the clean one.

Each process takes clean images x: (B, D) in [0, 1] and returns corrupted images in [0, 1] of
the same shape. Randomness comes from ``generator`` (torch's global generator when None), so a
seeded generator gives the same corruption every time.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaebook.checks import check_batch, check_same_length, check_unit_interval


def _check(x: Tensor, level: float, name: str, high: float) -> Tensor:
    check_unit_interval(check_batch(x, "x"), "x")
    if not 0 <= level <= high:
        raise ValueError(f"{name} must lie in [0, {high:g}], got {level!r}.")
    return x


def gaussian_noise(x: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """x + N(0, std²) per pixel, clipped back to [0, 1]. std in [0, 1]."""
    x = _check(x, std, "std", 1.0)
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (x + std * noise).clamp_(0, 1)


def masking_noise(x: Tensor, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """Set each pixel to 0 with probability ``fraction`` in [0, 1] (Vincent et al., 2008)."""
    x = _check(x, fraction, "fraction", 1.0)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= fraction
    return x * keep


def salt_and_pepper(x: Tensor, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """Set each pixel, with probability ``fraction`` in [0, 1], to 0 or 1 with equal odds."""
    x = _check(x, fraction, "fraction", 1.0)
    u = torch.rand(x.shape, generator=generator, device=x.device)
    hit = u < fraction
    salt = u < fraction / 2  # half of the hit pixels turn white, half black
    return torch.where(hit, salt.to(x.dtype), x)


def mse(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error per image, 1/D Σ_d (x_d − x̂_d)². (B, D), (B, D) -> (B,)."""
    check_batch(x, "x")
    check_batch(x_hat, "x_hat", x.shape[1])
    check_same_length((x, x_hat), "x and x_hat")
    return ((x - x_hat) ** 2).mean(-1)


def psnr(x: Tensor, x_hat: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image in decibels, 10 log10(1 / MSE), for pixels in [0, 1].
    (B, D), (B, D) -> (B,); higher is closer to the clean image."""
    return -10 * torch.log10(mse(x, x_hat))
