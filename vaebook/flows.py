"""Planar flows (Rezende & Mohamed, 2015): a Gaussian draw pushed through T invertible maps, for
an approximate posterior richer than a diagonal Gaussian.

One layer maps z ∈ R^K to

    f(z) = z + û h(wᵀz + b),   h = tanh,

whose Jacobian I + û ψ(z)ᵀ, ψ(z) = h'(wᵀz + b) w, has determinant 1 + ûᵀψ(z) (the matrix
determinant lemma). f is invertible when wᵀû ≥ −1; the free vector u is mapped to

    û = u + (m(wᵀu) − wᵀu) w / |w|²,   m(a) = −1 + log(1 + eᵃ),

which makes wᵀû = m(wᵀu) > −1. With z₀ ~ q₀ and z_T = f_T(... f_1(z₀)), the change of variables
gives log q_T(z_T) = log q₀(z₀) − Σ_t log |1 + ûₜᵀψₜ(z_{t−1})|.

The parameters of the T layers travel as one tensor (..., T (2K + 1)), laid out per layer as
(u, w, b): the shape an encoder outputs when the flow is amortized (one flow per image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from vaebook.checks import check_finite, check_positive_int, check_tensor


def planar_parameter_count(latent_dim: int, layers: int) -> int:
    """How many numbers describe ``layers`` planar layers on R^K: T (2K + 1)."""
    return check_positive_int(layers, "layers") * (2 * check_positive_int(latent_dim, "latent_dim") + 1)


def _split(params: Tensor, latent_dim: int) -> list[tuple[Tensor, Tensor, Tensor]]:
    """(..., T (2K + 1)) -> T triples (u (..., K), w (..., K), b (...,))."""
    width = 2 * latent_dim + 1
    if params.shape[-1] % width or params.shape[-1] == 0:
        raise ValueError(f"flow parameters must hold T (2K + 1) = T x {width} numbers in their "
                         f"last dimension for K = {latent_dim}, got {params.shape[-1]}.")
    layers = params.split(width, dim=-1)
    return [(p[..., :latent_dim], p[..., latent_dim:2 * latent_dim], p[..., -1]) for p in layers]


def invertible_u(u: Tensor, w: Tensor) -> Tensor:
    """û, the u of a planar layer moved along w so that wᵀû = −1 + softplus(wᵀu) > −1."""
    dot = (w * u).sum(-1, keepdim=True)
    return u + (F.softplus(dot) - 1 - dot) * w / (w * w).sum(-1, keepdim=True).clamp_min(1e-12)


def planar_flow(z: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
    """Push z (..., K) through the planar layers ``params`` (broadcastable to (..., T (2K + 1)),
    e.g. (B, ·) for draws (S, B, K)). Returns (z_T (..., K), Σ_t log |det ∂f_t/∂z| (...,)): the
    log q of the result is the log q of z minus the second."""
    check_finite(check_tensor(z, "z"), "z")
    check_finite(check_tensor(params, "params"), "params")
    if z.ndim == 0:
        raise ValueError("z must have the latent dimension last, shape (..., K).")
    log_det = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
    for u, w, b in _split(params, z.shape[-1]):
        u_hat = invertible_u(u, w)
        activation = torch.tanh((w * z).sum(-1) + b)  # h(wᵀz + b)
        # 1 + ûᵀψ(z) = 1 + h'(wᵀz + b) wᵀû > 0, since 0 < h' ≤ 1 and wᵀû > −1
        log_det = log_det + torch.log1p((1 - activation**2) * (w * u_hat).sum(-1))
        z = z + u_hat * activation.unsqueeze(-1)
    return z, log_det
