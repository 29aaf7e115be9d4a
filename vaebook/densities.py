"""Log-densities in the book's notation, and the Gaussian KL to the prior.

Log-densities are in nats, summed over the D pixels x_d or the K latent coordinates z_j; each function
reads like its equation (after Tomczak's ``intro_dgm``) and agrees with ``torch.distributions``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from vaebook.checks import check_broadcastable, check_finite, check_unit_interval, checked

LOG_2PI = math.log(2 * math.pi)


def _check_finite_vectors(**tensors: object) -> None:
    """Each named tensor is floating-point and finite, they broadcast, and they have a last
    dimension to sum over."""
    shape = check_broadcastable(tensors)
    for name, t in tensors.items():
        check_finite(t, name)
    if len(shape) == 0:
        raise ValueError(f"{', '.join(tensors)} must have a last dimension to sum over, got scalars.")


def _check_bernoulli(x: object, logits: object) -> None:
    _check_finite_vectors(x=x, logits=logits)
    check_unit_interval(x, "x")


@checked(_check_bernoulli)
def log_bernoulli(x: Tensor, logits: Tensor) -> Tensor:
    """log p(x | z) = Σ_d x_d log sigmoid(ℓ_d) + (1 − x_d) log(1 − sigmoid(ℓ_d)), from the logits ℓ.

    x: (..., D) in [0, 1] (a true likelihood when x is binary); logits: broadcastable to x.
    Returns the broadcast shape without its last dimension.
    """
    # x·ℓ − softplus(ℓ), with softplus(ℓ) = max(ℓ, 0) + log(1 + e^{−|ℓ|}) written out: torch's CPU
    # `log` is vectorized and its `log1p` (inside F.softplus and F.binary_cross_entropy_with_logits)
    # is not, which made this line 40 % of chapter 5's importance-sampling pass; written out it
    # takes 2.3 times less (benchmarks/nll_speed.py). Where 1 + e^{−|ℓ|} rounds to 1 (|ℓ| > 17 in
    # float32) the error is below 5e-8 nats per pixel.
    logits, x = torch.broadcast_tensors(logits, x)
    softplus = logits.clamp(min=0) + torch.log(1 + torch.exp(-logits.abs()))
    return (x * logits).sum(-1) - softplus.sum(-1)


@checked(_check_finite_vectors)
def log_normal_diag(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; μ, diag σ²) = −½ Σ_j [log 2π + log σ_j² + (z_j − μ_j)² / σ_j²].

    z, μ, log σ²: broadcastable, (..., K). Returns (...,).
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


@checked(_check_finite_vectors)
def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) = −½ Σ_j [log 2π + z_j²]. z: (..., K). Returns (...,)."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def _check_kl(mu: object, logvar: object) -> None:
    _check_finite_vectors(mu=mu, logvar=logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}.")


@checked(_check_kl)
def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_j [μ_j² + σ_j² − 1 − log σ_j²]. (..., K) -> (...,)."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1 - logvar).sum(-1)


@checked(_check_finite_vectors)
def log_continuous_bernoulli_normalizer(logits: Tensor) -> Tensor:
    """log C(ℓ) for each logit: the log of the constant that makes the Bernoulli formula a density
    on [0, 1] (Loaiza-Ganem & Cunningham, 2019). With ρ = sigmoid(ℓ),

        ∫₀¹ ρ^x (1 − ρ)^(1−x) dx = (2ρ − 1) / ℓ = tanh(ℓ/2) / ℓ,   so C(ℓ) = ℓ / tanh(ℓ/2) ≥ 2,

    with C(0) = 2. Computed as log|ℓ| − log(1 − e^−|ℓ|) + log(1 + e^−|ℓ|), and by its Taylor
    series log 2 + ℓ²/12 − 7ℓ⁴/1440 for |ℓ| < 0.01, where that would cancel. Elementwise:
    logits (..., D) -> (..., D).
    """
    a = logits.abs()
    small = a < 1e-2
    # Each branch sees only the inputs it serves (1 or 0 elsewhere): torch.where passes a zero
    # gradient to the unused branch, and zero times an infinite derivative is nan (log 0 in the
    # exact branch near 0, ℓ⁴ overflowing in the Taylor branch at large |ℓ|).
    safe = torch.where(small, torch.ones_like(a), a)
    near_zero = torch.where(small, logits, torch.zeros_like(logits))
    exact = torch.log(safe) - torch.log(-torch.expm1(-safe)) + torch.log1p(torch.exp(-safe))
    taylor = math.log(2) + near_zero**2 / 12 - 7 * near_zero**4 / 1440
    return torch.where(small, taylor, exact)


@checked(_check_bernoulli)
def log_continuous_bernoulli(x: Tensor, logits: Tensor) -> Tensor:
    """log p(x | z) = Σ_d [x_d log ρ_d + (1 − x_d) log(1 − ρ_d) + log C(ℓ_d)], ρ = sigmoid(ℓ):
    the continuous Bernoulli, a density on [0, 1]^D (``log_continuous_bernoulli_normalizer``).
    Its mean is not ρ but 1/(1 − e^−ℓ) − 1/ℓ (``torch.distributions.ContinuousBernoulli.mean``).

    x: (..., D) in [0, 1]; logits: broadcastable to x. Returns the broadcast shape without its
    last dimension.
    """
    logits, x = torch.broadcast_tensors(logits, x)
    unnormalized = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return (unnormalized + log_continuous_bernoulli_normalizer(logits)).sum(-1)


@checked(_check_finite_vectors)
def continuous_bernoulli_mean(logits: Tensor) -> Tensor:
    """The mean of the continuous Bernoulli with logit ℓ, E[x] = 1/(1 − e^−ℓ) − 1/ℓ (1/2 at
    ℓ = 0): not ρ = sigmoid(ℓ), but pulled towards 1/2; it reaches 0 or 1 only as −1/ℓ or
    1 − 1/ℓ. Computed with expm1, and by its Taylor series 1/2 + ℓ/12 − ℓ³/720 + ℓ⁵/30240 for
    |ℓ| < 0.5, where the two terms would cancel.
    Elementwise: logits (..., D) -> (..., D), the reconstruction to show for a continuous
    Bernoulli decoder.
    """
    small = logits.abs() < 0.5
    # As in the normalizer, each branch sees only its own inputs, so neither sends a nan gradient.
    # With m = |ℓ| and t = 1/(e^m − 1) = e^−m / (1 − e^−m), 1/(1 − e^−ℓ) is 1 + t for ℓ > 0 and −t
    # for ℓ < 0; written with e^−m, t and its gradient stay finite however large m is.
    safe = torch.where(small, torch.ones_like(logits), logits)
    near_zero = torch.where(small, logits, torch.zeros_like(logits))
    m = safe.abs()
    t = torch.exp(-m) / -torch.expm1(-m)
    exact = torch.where(safe > 0, 1 + t, -t) - 1 / safe
    taylor = 0.5 + near_zero / 12 - near_zero**3 / 720 + near_zero**5 / 30240
    return torch.where(small, taylor, exact)
