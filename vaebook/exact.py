"""A latent-variable model whose evidence and posterior are known exactly: probabilistic PCA.

    z ~ N(0, I_K),    x | z ~ N(W z + b, σ² I_D)

Then p(x) = N(b, W Wᵀ + σ² I) and p(z | x) = N(Σ Wᵀ (x − b) / σ², Σ) with
Σ = (I + Wᵀ W / σ²)⁻¹, so every quantity of variational inference can be checked against the
truth. Distributions are ``torch.distributions`` objects; work in float64 for tight checks.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, Normal

from vaebook.checks import check_tensor
from vaebook.objectives import log_standard_normal


class LinearGaussian:
    """Probabilistic PCA with loadings W: (D, K), offset b: (D,) and noise variance σ² > 0."""

    def __init__(self, W: Tensor, b: Tensor, noise_var: float):
        W, b = check_tensor(W, "W"), check_tensor(b, "b")
        if W.ndim != 2 or b.shape != (W.shape[0],):
            raise ValueError(f"W must be (D, K) and b must be (D,), got {tuple(W.shape)} and "
                             f"{tuple(b.shape)}.")
        if not noise_var > 0:
            raise ValueError(f"noise_var must be positive, got {noise_var}.")
        self.W, self.b, self.noise_var = W, b, float(noise_var)
        self.data_dim, self.latent_dim = W.shape

    @classmethod
    def random(cls, data_dim: int, latent_dim: int, noise_var: float = 0.5, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> LinearGaussian:
        """A model with standard-normal W and b drawn from a seeded generator."""
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(data_dim, latent_dim, generator=g, dtype=dtype),
                   torch.randn(data_dim, generator=g, dtype=dtype), noise_var)

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """n draws of x from the model: (n, D)."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=g, dtype=self.W.dtype)
        noise = torch.randn(n, self.data_dim, generator=g, dtype=self.W.dtype)
        return z @ self.W.T + self.b + math.sqrt(self.noise_var) * noise

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) for x: (D,) and z: (..., K). Returns (...,)."""
        mean = z @ self.W.T + self.b
        return Normal(mean, math.sqrt(self.noise_var)).log_prob(x).sum(-1)

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z) = log N(z; 0, I). z: (..., K). Returns (...,)."""
        return log_standard_normal(z)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x | z) + log p(z). Returns (...,)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def prior(self) -> MultivariateNormal:
        """p(z) = N(0, I_K)."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        return MultivariateNormal(torch.zeros(self.latent_dim, dtype=self.W.dtype), eye)

    def evidence(self) -> MultivariateNormal:
        """p(x) = N(b, W Wᵀ + σ² I): the exact marginal likelihood."""
        cov = self.W @ self.W.T + self.noise_var * torch.eye(self.data_dim, dtype=self.W.dtype)
        return MultivariateNormal(self.b, cov)

    def posterior(self, x: Tensor) -> MultivariateNormal:
        """p(z | x) = N(Σ Wᵀ (x − b) / σ², Σ), Σ = (I + Wᵀ W / σ²)⁻¹, for one x: (D,)."""
        precision = torch.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / self.noise_var
        cov = torch.linalg.inv(precision)
        return MultivariateNormal(cov @ self.W.T @ (x - self.b) / self.noise_var, cov)

    def elbo(self, x: Tensor, q: MultivariateNormal) -> Tensor:
        """The ELBO L(q) = E_q[log p(x | z)] − KL(q || p(z)) in closed form, for Gaussian q.

        E_q[log p(x | z)] = log N(x; W m + b, σ² I) − tr(Wᵀ W S) / (2σ²) for q = N(m, S).
        """
        m, S = q.mean, q.covariance_matrix
        expected_fit = self.log_likelihood(x, m) - torch.trace(self.W.T @ self.W @ S) / (2 * self.noise_var)
        return expected_fit - torch.distributions.kl_divergence(q, self.prior())
