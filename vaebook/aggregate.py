"""The aggregate posterior of a Gaussian encoder, and the split of the ELBO's KL term into a
mutual information and a divergence from the prior (Hoffman & Johnson, 2016, "ELBO surgery").

For N data points with posteriors q_φ(z | x_n) = N(μ_n, diag σ²_n), the aggregate posterior is
the mixture q_φ(z) = 1/N Σ_n q_φ(z | x_n), and with the index n uniform on 1..N,

    1/N Σ_n KL(q_φ(z | x_n) || p(z)) = I_q(x; z) + KL(q_φ(z) || p(z)),
    I_q(x; z) = E_{n, z ~ q_φ(z | x_n)}[log q_φ(z | x_n) − log q_φ(z)] ≤ log N.

The left side is exact (the Gaussian KL); ``kl_split`` estimates I_q by Monte Carlo over pairs
(n, z) and gets the divergence as the difference. Everything is computed in float64: log q_φ(z)
is a log-sum-exp over N Gaussians, their quadratic forms expanded into one matrix product.

Inputs: μ, log σ² as (N, K) floating-point tensors, finite; z as (S, K). Randomness follows
``vaebook.randomness``: ``sample_aggregate_posterior`` takes a generator, ``kl_split`` a seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from vaebook.checks import check_batch, check_finite, check_positive_int, checked
from vaebook.densities import LOG_2PI, kl_standard_normal, log_normal_diag
from vaebook.randomness import seeded_generator

CHUNK = 256  # rows of z per log-sum-exp: CHUNK × N float64 numbers (120 MB for N = 60,000)


def _check_posteriors(mu: object, logvar: object) -> None:
    check_batch(mu, "mu")
    check_batch(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape (N, K), got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}.")
    check_finite(mu, "mu")
    check_finite(logvar, "logvar")


def _check_density_call(z: object, mu: object, logvar: object, **_) -> None:
    _check_posteriors(mu, logvar)
    check_batch(z, "z", mu.shape[1])
    check_finite(z, "z")


@checked(_check_density_call)
def log_aggregate_posterior(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log q_φ(z) = log 1/N Σ_n N(z; μ_n, diag σ²_n) at each row of z.

    z: (S, K); μ, log σ²: (N, K). Returns (S,), float64, on z's device.
    """
    z, mu, logvar = (t.to(device=z.device, dtype=torch.float64) for t in (z, mu, logvar))
    precision = torch.exp(-logvar)  # 1/σ²
    # −2 log N(z; μ_n, σ²_n) = c_n + Σ_k z_k²/σ²_nk − 2 Σ_k z_k μ_nk/σ²_nk: one matrix product
    constant = (LOG_2PI + logvar + mu**2 * precision).sum(1)
    weights = torch.cat([precision, -2 * mu * precision], dim=1).T.contiguous()  # (2K, N)
    out = []
    for rows in z.split(CHUNK):
        log_densities = torch.addmm(constant.expand(len(rows), -1), torch.cat([rows**2, rows], 1),
                                    weights, alpha=-0.5, beta=-0.5)
        out.append(torch.logsumexp(log_densities, dim=1))
    return torch.cat(out) - math.log(len(mu))


def _check_sample_call(mu: object, logvar: object, n_samples: int, **_) -> None:
    _check_posteriors(mu, logvar)
    check_positive_int(n_samples, "n_samples")


@checked(_check_sample_call)
def sample_aggregate_posterior(mu: Tensor, logvar: Tensor, n_samples: int,
                               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw z ~ q_φ(z): pick n uniformly from 1..N, then z ~ N(μ_n, diag σ²_n).

    μ, log σ²: (N, K). Returns (z (S, K), n (S,)) with S = ``n_samples``, both on μ's device.
    """
    index = torch.randint(len(mu), (n_samples,), generator=generator, device=mu.device)
    eps = torch.randn(n_samples, mu.shape[1], generator=generator, device=mu.device, dtype=mu.dtype)
    z = mu[index] + torch.exp(0.5 * logvar[index]) * eps
    if not torch.isfinite(z).all():
        raise ValueError(f"draws from the aggregate posterior overflow {mu.dtype} (log σ² up to "
                         f"{logvar.max().item():.4g}, |μ| up to {mu.abs().max().item():.4g}); pass "
                         f"mu and logvar as float64, or check the encoder that produced them.")
    return z, index


@dataclass(frozen=True)
class KLSplit:
    """The split 1/N Σ_n KL(q_φ(z | x_n) || p(z)) = I_q(x; z) + KL(q_φ(z) || p(z)), in nats.

    ``average_kl`` is exact; ``mutual_information`` is a Monte Carlo estimate from ``n_samples``
    draws, with its standard error; ``marginal_kl`` = average_kl − mutual_information has the
    same standard error. ``log_n`` = log N is the ceiling of the mutual information.
    """

    average_kl: float
    mutual_information: float
    mutual_information_se: float
    marginal_kl: float
    marginal_kl_se: float
    log_n: float
    n_samples: int


def _check_split_call(mu: object, logvar: object, n_samples: int, **_) -> None:
    _check_sample_call(mu, logvar, n_samples)


@checked(_check_split_call)
def kl_split(mu: Tensor, logvar: Tensor, *, n_samples: int = 1000, seed: int = 0) -> KLSplit:
    """Hoffman & Johnson's split of the average KL term for the posteriors N(μ_n, diag σ²_n):

        I_q(x; z) ≈ 1/S Σ_s [log q_φ(z_s | x_{n_s}) − log q_φ(z_s)],   (n_s, z_s) ~ q,
        KL(q_φ(z) || p(z)) = 1/N Σ_n KL(q_φ(z | x_n) || p(z)) − I_q(x; z).

    μ, log σ²: (N, K). S = ``n_samples`` draws from a generator seeded with ``seed``. The
    estimate of I_q is unbiased for the mixture of these N posteriors, whose I_q cannot exceed
    log N; as an estimate for the population of images the N were drawn from it is biased low
    (it is the InfoNCE bound), and the divergence biased high.
    """
    generator = seeded_generator(seed, mu.device)
    with torch.no_grad():
        z, index = sample_aggregate_posterior(mu, logvar, n_samples, generator)
        own = log_normal_diag(z.double(), mu[index].double(), logvar[index].double())
        terms = own - log_aggregate_posterior(z, mu, logvar)
        average = kl_standard_normal(mu.double(), logvar.double()).mean().item()
    information = terms.mean().item()
    se = terms.std().item() / math.sqrt(n_samples) if n_samples > 1 else math.inf
    return KLSplit(average_kl=average, mutual_information=information, mutual_information_se=se,
                   marginal_kl=average - information, marginal_kl_se=se, log_n=math.log(len(mu)),
                   n_samples=n_samples)


def _check_marginal_call(mu: object, logvar: object, log_prior: object, *, n_samples: object, **_) -> None:
    _check_sample_call(mu, logvar, n_samples)
    if not callable(log_prior):
        raise TypeError("log_prior must be a function z (S, K) -> log p(z) (S,), e.g. model.prior.log_prob.")


@checked(_check_marginal_call)
def marginal_kl(mu: Tensor, logvar: Tensor, log_prior: Callable[[Tensor], Tensor], *,
                n_samples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """KL(q_φ(z) || p(z)) for any prior, by Monte Carlo: the mean of log q_φ(z_s) − log p(z_s)
    over S = ``n_samples`` draws z_s from the aggregate posterior of the N posteriors
    N(μ_n, diag σ²_n), with its standard error. ``log_prior`` maps z (S, K) to log p(z) (S,)
    (``model.prior.log_prob``). For the prior N(0, I) it estimates the same number as
    ``kl_split``'s ``marginal_kl``; like it, as an estimate for the population of images the N
    were drawn from it is biased high (the N-image mixture is more peaked than the population's)."""
    generator = seeded_generator(seed, mu.device)
    with torch.no_grad():
        z, _ = sample_aggregate_posterior(mu, logvar, n_samples, generator)
        terms = log_aggregate_posterior(z, mu, logvar) - log_prior(z).double()
    se = terms.std().item() / math.sqrt(n_samples) if n_samples > 1 else math.inf
    return terms.mean().item(), se
