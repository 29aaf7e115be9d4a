"""Two Monte Carlo estimators of ∇_φ E_{q_φ(z)}[f(z)] for a diagonal Gaussian
q_φ = N(μ, diag σ²), with φ = (μ, log σ).

Score function (REINFORCE, likelihood ratio):
    ∇_φ E_q[f(z)] = E_q[(f(z) − b) ∇_φ log q_φ(z)],   z ~ q_φ,
    with ∇_μ log q = (z − μ) / σ² and ∇_{log σ} log q = (z − μ)² / σ² − 1.
    Any baseline b that does not depend on z keeps it unbiased.
Pathwise (reparameterization):
    z = μ + σ ⊙ ε, ε ~ N(0, I):   ∇_μ = ∇_z f(z),   ∇_{log σ} = ∇_z f(z) ⊙ σ ⊙ ε.

Both return per-sample estimates, shape (S, K) for μ and for log σ: their mean over the S samples
is the S-sample estimate, and their variance over samples measures the estimator's noise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from vaebook.checks import check_positive_int, check_tensor

Integrand = Callable[[Tensor], Tensor]
BASELINES = (None, "leave-one-out")


def _check_params(mu: Tensor, log_sigma: Tensor) -> None:
    check_tensor(mu, "mu")
    check_tensor(log_sigma, "log_sigma")
    if mu.ndim != 1 or mu.shape != log_sigma.shape:
        raise ValueError(f"mu and log_sigma must both have shape (K,), got {tuple(mu.shape)} and "
                         f"{tuple(log_sigma.shape)}.")


def _values(f: Integrand, z: Tensor) -> Tensor:
    values = f(z)
    if values.shape != z.shape[:1]:
        raise ValueError(f"f must map z: (S, K) to one value per sample, shape ({len(z)},), "
                         f"got {tuple(values.shape)}.")
    return values


def score_function_gradient(f: Integrand, mu: Tensor, log_sigma: Tensor, n_samples: int,
                            baseline: str | None = None,
                            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Per-sample score-function estimates of (∇_μ, ∇_{log σ}) E_q[f(z)], each (S, K).

    ``f`` needs only to be evaluated, not differentiated. ``baseline="leave-one-out"`` subtracts
    from f(z_s) the mean of f over the other S − 1 samples, which is independent of z_s and so
    keeps every estimate unbiased (needs S ≥ 2).
    """
    _check_params(mu, log_sigma)
    check_positive_int(n_samples, "n_samples")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}.")
    if baseline and n_samples < 2:
        raise ValueError("the leave-one-out baseline needs n_samples >= 2.")
    mu, log_sigma = mu.detach(), log_sigma.detach()
    sigma = log_sigma.exp()
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    z = mu + sigma * eps
    with torch.no_grad():
        weight = _values(f, z)
    if baseline:
        weight = weight - (weight.sum() - weight) / (n_samples - 1)
    weight = weight.unsqueeze(-1)
    return weight * eps / sigma, weight * (eps**2 - 1)


def pathwise_gradient(f: Integrand, mu: Tensor, log_sigma: Tensor, n_samples: int,
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Per-sample pathwise (reparameterization) estimates of (∇_μ, ∇_{log σ}) E_q[f(z)], each (S, K).

    ``f`` must be differentiable by torch's autograd, and each of its outputs must depend only on
    its own sample (true for any f applied row by row).
    """
    _check_params(mu, log_sigma)
    check_positive_int(n_samples, "n_samples")
    sigma = log_sigma.detach().exp()
    eps = torch.randn((n_samples, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    z = (mu.detach() + sigma * eps).requires_grad_()
    with torch.enable_grad():
        values = _values(f, z)
        if not values.requires_grad:
            raise ValueError("f is not differentiable by autograd (its output has no gradient), so "
                             "the pathwise estimator does not apply; use score_function_gradient.")
        (grad_z,) = torch.autograd.grad(values.sum(), z)
    return grad_z, grad_z * sigma * eps
