"""Log-densities, the Gaussian KL, the ELBO and the training losses built from them.

Conventions: log-likelihoods are in nats per data point, summed over the D pixels or the K latent
dimensions; a *loss* is a scalar mean over the batch, ready for ``.backward()``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Distribution

from vaebook.checks import check_batch, check_positive_int, check_tensor, check_unit_interval
from vaebook.corruption import gaussian_noise
from vaebook.models import VAE, Autoencoder

LOG_2PI = math.log(2 * math.pi)


def log_bernoulli(x: Tensor, logits: Tensor) -> Tensor:
    """log p(x | z) = Σ_d x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d)), from logits l.

    x: (..., D) in [0, 1] (a true likelihood when x is binary); logits: broadcastable to x.
    Returns (...,).
    """
    check_unit_interval(check_tensor(x, "x"), "x")
    logits, x = torch.broadcast_tensors(logits, x)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def log_normal_diag(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; μ, diag σ²) = −½ Σ_k [log 2π + log σ²_k + (z_k − μ_k)² / σ²_k].

    z, μ, log σ²: broadcastable, (..., K). Returns (...,).
    """
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def log_standard_normal(z: Tensor) -> Tensor:
    """log N(z; 0, I) = −½ Σ_k [log 2π + z_k²]. z: (..., K). Returns (...,)."""
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag σ²) || N(0, I)) = ½ Σ_k [μ_k² + σ²_k − 1 − log σ²_k]. (B, K) -> (B,)."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}.")
    return 0.5 * (mu**2 + torch.exp(logvar) - 1 - logvar).sum(-1)


def reparameterize(mu: Tensor, logvar: Tensor, n_samples: int | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I): differentiable in μ and log σ².

    μ, log σ²: (B, K). Returns (B, K), or (S, B, K) when ``n_samples`` = S is given.
    """
    shape = mu.shape if n_samples is None else (check_positive_int(n_samples, "n_samples"), *mu.shape)
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def elbo(model: VAE, x: Tensor, n_samples: int = 1) -> Tensor:
    """Monte Carlo ELBO with the analytic KL, L(θ, φ; x) ≈ 1/S Σ_s log p_θ(x | z_s) − KL(q || p).

    x: (B, D). Returns (B,), in nats.
    """
    mu, logvar = model.encode(check_batch(x, "x", model.data_dim))
    z = reparameterize(mu, logvar, n_samples)
    reconstruction = log_bernoulli(x, model.decode_logits(z)).mean(0)
    return reconstruction - kl_standard_normal(mu, logvar)


def vae_loss(model: VAE, x: Tensor) -> Tensor:
    """The training loss −L(θ, φ; x), averaged over the batch (one sample of z per point)."""
    return -elbo(model, x).mean()


def bce_loss(model: Autoencoder, x: Tensor) -> Tensor:
    """Binary cross-entropy of the reconstruction, summed over pixels, averaged over the batch."""
    return -log_bernoulli(x, model(x)).mean()


def denoising_bce_loss(model: Autoencoder, x: Tensor, noise_std: float) -> Tensor:
    """BCE of the reconstruction of the *clean* x from x + N(0, noise_std²) (clipped to [0, 1]):
    the denoising autoencoder's loss (Vincent et al., 2008), averaged over the batch."""
    return -log_bernoulli(x, model(gaussian_noise(x, noise_std))).mean()


def mse_loss(model: Autoencoder, x: Tensor) -> Tensor:
    """Squared error of the reconstruction sigmoid(logits), summed over pixels, averaged over the
    batch."""
    x = check_batch(x, "x", model.data_dim)
    return ((torch.sigmoid(model(x)) - x) ** 2).sum(-1).mean()


def elbo_estimate(log_joint: Callable[[Tensor], Tensor], q: Distribution, n_samples: int,
                  n_estimates: int | None = None) -> Tensor:
    """Monte Carlo ELBO in its first form, L(q) ≈ 1/S Σ_s [log p(x, z_s) − log q(z_s)], z_s ~ q.

    ``log_joint`` maps z: (..., K) to log p(x, z): (...,) for the fixed x; q is a
    ``torch.distributions`` object with event shape (K,). Samples are reparameterized, so the
    estimate is differentiable in q's parameters. Returns a scalar, or (n_estimates,)
    independent estimates.
    """
    z = _draw(q, n_samples, n_estimates)
    return _checked(log_joint(z), z, "log_joint").sub(q.log_prob(z)).mean(-1)


def elbo_estimate_kl(log_likelihood: Callable[[Tensor], Tensor], q: Distribution, prior: Distribution,
                     n_samples: int, n_estimates: int | None = None) -> Tensor:
    """Monte Carlo ELBO in its second form, L(q) ≈ 1/S Σ_s log p(x | z_s) − KL(q || p(z)),
    with the KL in closed form (``torch.distributions.kl_divergence``). Shapes as
    ``elbo_estimate``."""
    z = _draw(q, n_samples, n_estimates)
    fit = _checked(log_likelihood(z), z, "log_likelihood").mean(-1)
    return fit - torch.distributions.kl_divergence(q, prior)


def _draw(q: Distribution, n_samples: int, n_estimates: int | None) -> Tensor:
    check_positive_int(n_samples, "n_samples")
    if n_estimates is None:
        return q.rsample((n_samples,))
    return q.rsample((check_positive_int(n_estimates, "n_estimates"), n_samples))


def _checked(values: Tensor, z: Tensor, name: str) -> Tensor:
    expected = z.shape[: z.ndim - 1]
    if values.shape != expected:
        raise ValueError(f"{name} must return one value per sample, shape {tuple(expected)}, "
                         f"got {tuple(values.shape)}; sum over the data and latent dimensions.")
    return values


def iwae_bound(model: VAE, x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """The importance-weighted bound L_k with the encoder as proposal (Burda et al., 2016):

        L_k(x) = log 1/k Σ_{s=1}^{k} p_θ(x | z_s) p(z_s) / q_φ(z_s | x),   z_s ~ q_φ(z | x).

    L_1 is the ELBO, E[L_k] rises with k and tends to log p_θ(x). x: (B, D). Returns (B,), in
    nats. Memory grows as k·B·D: split large k with ``training.estimate_log_likelihood``.
    """
    return bound_from_log_weights(log_importance_weights(model, x, k, generator).T)


def bound_from_log_weights(log_w: Tensor) -> Tensor:
    """L_k = log of the mean of the k importance weights in each row: (N, k) -> (N,).

    ``log_w[:, :j]`` gives L_j from the first j of the same samples, so one set of samples
    traces how the bound rises with the number of samples."""
    check_tensor(log_w, "log_w")
    if log_w.ndim != 2 or log_w.shape[1] == 0:
        raise ValueError(f"log_w must be (N, k) with k >= 1, got shape {tuple(log_w.shape)}.")
    return torch.logsumexp(log_w, 1) - math.log(log_w.shape[1])


def log_importance_weights(model: VAE, x: Tensor, k: int,
                           generator: torch.Generator | None = None) -> Tensor:
    """log w_s = log p_θ(x | z_s) + log p(z_s) − log q_φ(z_s | x), z_s ~ q_φ(z | x). Returns (k, B)."""
    check_positive_int(k, "k")
    mu, logvar = model.encode(check_batch(x, "x", model.data_dim))
    z = reparameterize(mu, logvar, k, generator)
    log_likelihood = log_bernoulli(x, model.decode_logits(z))
    return log_likelihood + log_standard_normal(z) - log_normal_diag(z, mu, logvar)
