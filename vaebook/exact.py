"""Models whose evidence and posterior are known exactly, to check variational inference against.

Probabilistic PCA (``LinearGaussian``):

    z ~ N(0, I_K),    x | z ~ N(W z + c, τ² I_D)

Then p(x) = N(c, W Wᵀ + τ² I) and p(z | x) = N(Σ Wᵀ (x − c) / τ², Σ) with
Σ = (I + Wᵀ W / τ²)⁻¹, so every quantity of variational inference can be checked against the
truth (chapter 3 derives each formula). ``BayesianLinearRegression`` has a Gaussian posterior
and a closed-form best mean-field Gaussian; ``SigmoidBeliefNet`` has binary latents few enough
to enumerate. Distributions are ``torch.distributions`` objects; work in float64 for tight
checks.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Bernoulli, LowRankMultivariateNormal, MultivariateNormal, Normal

from vaebook.checks import check_finite, check_positive_int, check_real, check_tensor
from vaebook.randomness import seeded_generator


def _seeded_weights(data_dim: int, latent_dim: int, std: float, seed: int,
                    dtype: torch.dtype) -> tuple[torch.Generator, Tensor]:
    """A generator seeded with ``seed``, and W: (D, K) with N(0, std²) entries, its first draws."""
    check_positive_int(data_dim, "data_dim")
    check_positive_int(latent_dim, "latent_dim")
    g = seeded_generator(seed)
    return g, std * torch.randn(data_dim, latent_dim, generator=g, dtype=dtype)


class LinearGaussian:
    """Probabilistic PCA with loadings W: (D, K), offset c: (D,) and noise variance τ² > 0
    (``noise_var``)."""

    def __init__(self, W: Tensor, c: Tensor, noise_var: float):
        W, c = check_finite(check_tensor(W, "W"), "W"), check_finite(check_tensor(c, "c"), "c")
        if W.ndim != 2 or c.shape != (W.shape[0],):
            raise ValueError(f"W must be (D, K) and c must be (D,), got {tuple(W.shape)} and "
                             f"{tuple(c.shape)}.")
        self.W, self.c, self.noise_var = W, c, check_real(noise_var, "noise_var")
        self.data_dim, self.latent_dim = W.shape

    @classmethod
    def random(cls, data_dim: int, latent_dim: int, noise_var: float = 0.5, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> LinearGaussian:
        """A model with standard-normal W and c drawn from a seeded generator."""
        g, W = _seeded_weights(data_dim, latent_dim, 1.0, seed, dtype)
        return cls(W, torch.randn(data_dim, generator=g, dtype=dtype), noise_var)

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """n draws of x from the model: (n, D)."""
        check_positive_int(n, "n")
        g = seeded_generator(seed)
        z = torch.randn(n, self.latent_dim, generator=g, dtype=self.W.dtype)
        noise = torch.randn(n, self.data_dim, generator=g, dtype=self.W.dtype)
        return z @ self.W.T + self.c + math.sqrt(self.noise_var) * noise

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) for x: (D,) and z: (..., K). Returns (...,)."""
        mean = z @ self.W.T + self.c
        return Normal(mean, math.sqrt(self.noise_var)).log_prob(x).sum(-1)

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z) = log N(z; 0, I). z: (..., K). Returns (...,)."""
        return self.prior().log_prob(z)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x, z) = log p(x | z) + log p(z). Returns (...,)."""
        return self.log_likelihood(x, z) + self.log_prior(z)

    def prior(self) -> MultivariateNormal:
        """p(z) = N(0, I_K)."""
        eye = torch.eye(self.latent_dim, dtype=self.W.dtype)
        return MultivariateNormal(torch.zeros(self.latent_dim, dtype=self.W.dtype), eye)

    def evidence(self) -> LowRankMultivariateNormal:
        """p(x) = N(c, W Wᵀ + τ² I): the exact marginal likelihood, a low-rank-plus-diagonal
        covariance that torch factors by the Woodbury identity (K × K work, not D × D)."""
        diagonal = torch.full((self.data_dim,), self.noise_var, dtype=self.W.dtype)
        return LowRankMultivariateNormal(self.c, self.W, diagonal)

    def posterior(self, x: Tensor) -> MultivariateNormal:
        """p(z | x) = N(Σ Wᵀ (x − c) / τ², Σ), Σ = (I + Wᵀ W / τ²)⁻¹, for one x: (D,)."""
        precision = torch.eye(self.latent_dim, dtype=self.W.dtype) + self.W.T @ self.W / self.noise_var
        mean = torch.linalg.solve(precision, self.W.T @ (x - self.c) / self.noise_var)
        return MultivariateNormal(mean, precision_matrix=precision)

    def elbo(self, x: Tensor, q: MultivariateNormal) -> Tensor:
        """The ELBO L(q) = E_q[log p(x | z)] − KL(q || p(z)) in closed form, for Gaussian q.

        E_q[log p(x | z)] = log N(x; W μ_q + c, τ² I) − tr(Wᵀ W Σ_q) / (2τ²) for
        q = N(μ_q, Σ_q).
        """
        mean, cov = q.mean, q.covariance_matrix
        trace = torch.trace(self.W.T @ self.W @ cov)
        expected_fit = self.log_likelihood(x, mean) - trace / (2 * self.noise_var)
        return expected_fit - torch.distributions.kl_divergence(q, self.prior())


class BayesianLinearRegression:
    """Targets y_n ~ N(ωᵀ o_n, τ²) for inputs o_n, with the weights ω ~ N(0, prior_std² I) as the
    latent variable. ``X`` is the matrix O whose rows are the inputs o_nᵀ, (N, K) for K weights;
    ``y`` the N targets, (N,); ``noise_std`` is τ.

    The posterior is N(μ_post, Σ_post) with the precision Λ = Σ_post⁻¹ = I / prior_std² + Oᵀ O / τ²
    and μ_post = Σ_post Oᵀ y / τ². The best mean-field Gaussian (the one that maximizes the ELBO)
    has means μ_post and variances 1 / Λ_jj.
    """

    def __init__(self, X: Tensor, y: Tensor, noise_std: float, prior_std: float):
        X, y = check_finite(check_tensor(X, "X"), "X"), check_finite(check_tensor(y, "y"), "y")
        if X.ndim != 2 or y.shape != (len(X),):
            raise ValueError(f"X must be (N, K) and y must be (N,), got {tuple(X.shape)} and "
                             f"{tuple(y.shape)}.")
        self.X, self.y = X, y
        self.noise_std = check_real(noise_std, "noise_std")
        self.prior_std = check_real(prior_std, "prior_std")
        self.precision = (torch.eye(X.shape[1], dtype=X.dtype) / self.prior_std**2
                          + X.T @ X / self.noise_std**2)

    @classmethod
    def random(cls, n: int, weights: Tensor, noise_std: float = 1.0, prior_std: float = 1.0,
               correlation: float = 0.0, seed: int = 0) -> BayesianLinearRegression:
        """Data from the model with the given true weights (K,) and features whose pairwise
        correlation is ``correlation`` (seeded)."""
        check_positive_int(n, "n")
        weights = check_finite(check_tensor(weights, "weights"), "weights")
        if weights.ndim != 1 or not -1 / max(len(weights) - 1, 1) < correlation < 1:
            raise ValueError(f"weights must be (K,) and correlation in (-1/(K-1), 1), got shape "
                             f"{tuple(weights.shape)} and {correlation!r}.")
        k = len(weights)
        g = seeded_generator(seed)
        cov = (1 - correlation) * torch.eye(k, dtype=weights.dtype) + correlation
        X = torch.randn(n, k, generator=g, dtype=weights.dtype) @ torch.linalg.cholesky(cov).T
        y = X @ weights + noise_std * torch.randn(n, generator=g, dtype=weights.dtype)
        return cls(X, y, noise_std, prior_std)

    def log_likelihood(self, omega: Tensor) -> Tensor:
        """log p(y | ω) for S draws of the weights, ``omega``: (S, K). Returns (S,)."""
        return Normal(omega @ self.X.T, self.noise_std).log_prob(self.y).sum(-1)

    def log_joint(self, omega: Tensor) -> Tensor:
        """log p(y, ω) for S draws of the weights, ``omega``: (S, K). Returns (S,)."""
        return self.log_likelihood(omega) + Normal(0.0, self.prior_std).log_prob(omega).sum(-1)

    def local_log_joint(self, omega: Tensor) -> Tensor:
        """The terms of log p(y, ω) that involve ω_j, for every j: log p(ω_j) + log p(y | ω), for S
        draws of the weights, ``omega``: (S, K). Returns (S, K)."""
        return Normal(0.0, self.prior_std).log_prob(omega) + self.log_likelihood(omega).unsqueeze(-1)

    def posterior(self) -> MultivariateNormal:
        """p(ω | y) = N(μ_post, Σ_post), with Σ_post = Λ⁻¹."""
        mean = torch.linalg.solve(self.precision, self.X.T @ self.y / self.noise_std**2)
        return MultivariateNormal(mean, precision_matrix=self.precision)

    def mean_field_optimum(self) -> tuple[Tensor, Tensor]:
        """Means and standard deviations of the best mean-field Gaussian: μ_post and 1 / sqrt(Λ_jj)."""
        return self.posterior().mean, self.precision.diagonal().rsqrt()


class SigmoidBeliefNet:
    """One observed binary vector x: (D,) under K binary latent causes z_j, j = 1, …, K:

        z_j ~ Bernoulli(sigmoid(prior logit of cause j)),   x_d | z ~ Bernoulli(sigmoid(ℓ_d)),

    with the decoder's logits ℓ = W z + c; ``prior_logits``, (K,), holds the K prior logits.

    With K ≤ 16 all 2^K configurations of z can be enumerated, which gives log p(x), the exact
    posterior and the exact ELBO of any factorized q.
    """

    def __init__(self, W: Tensor, c: Tensor, prior_logits: Tensor, x: Tensor):
        for name, t in (("W", W), ("c", c), ("prior_logits", prior_logits), ("x", x)):
            check_finite(check_tensor(t, name), name)
        if W.ndim != 2:
            raise ValueError(f"W must be (D, K), got shape {tuple(W.shape)}.")
        d, k = W.shape
        if c.shape != (d,) or prior_logits.shape != (k,) or x.shape != (d,):
            raise ValueError(f"W: (D, K) needs c: (D,), prior_logits: (K,), x: (D,); got {tuple(W.shape)}, "
                             f"{tuple(c.shape)}, {tuple(prior_logits.shape)}, {tuple(x.shape)}.")
        if k > 16:
            raise ValueError(f"K = {k} latents have 2^{k} configurations, too many to enumerate; "
                             "use K <= 16.")
        self.W, self.c, self.prior_logits, self.x = W, c, prior_logits, x
        self.latent_dim = k

    @classmethod
    def random(cls, data_dim: int, latent_dim: int, weight_std: float = 2.0, seed: int = 0,
               dtype: torch.dtype = torch.float64) -> SigmoidBeliefNet:
        """Random weights, prior logits 0 (each cause on with probability ½), one x drawn from the model."""
        g, W = _seeded_weights(data_dim, latent_dim, weight_std, seed, dtype)
        c = -0.5 * W.sum(1)  # centres the logits, so x is neither all ones nor all zeros
        z = torch.bernoulli(torch.full((latent_dim,), 0.5, dtype=dtype), generator=g)
        x = torch.bernoulli(torch.sigmoid(W @ z + c), generator=g)
        return cls(W, c, torch.zeros(latent_dim, dtype=dtype), x)

    def log_prior(self, z: Tensor) -> Tensor:
        """log p(z_j) for each j; z: (S, K) of zeros and ones (any dtype). Returns (S, K)."""
        return Bernoulli(logits=self.prior_logits).log_prob(z.to(self.W.dtype))

    def log_likelihood(self, z: Tensor) -> Tensor:
        """log p(x | z) for z: (S, K). Returns (S,)."""
        logits = z.to(self.W.dtype) @ self.W.T + self.c
        return Bernoulli(logits=logits).log_prob(self.x).sum(-1)

    def log_joint(self, z: Tensor) -> Tensor:
        """log p(x, z) for z: (S, K). Returns (S,)."""
        return self.log_prior(z).sum(-1) + self.log_likelihood(z)

    def local_log_joint(self, z: Tensor) -> Tensor:
        """The terms of log p(x, z) that involve z_j: log p(z_j) + log p(x | z). Returns (S, K)."""
        return self.log_prior(z) + self.log_likelihood(z).unsqueeze(-1)

    def configurations(self) -> Tensor:
        """All 2^K binary vectors z, (2^K, K), as integers."""
        codes = torch.arange(2**self.latent_dim).unsqueeze(1)
        return (codes >> torch.arange(self.latent_dim)) & 1

    def log_evidence(self) -> Tensor:
        """log p(x) = log Σ_z p(x, z), by enumeration."""
        return torch.logsumexp(self.log_joint(self.configurations()), 0)

    def posterior_marginals(self) -> Tensor:
        """p(z_j = 1 | x) for every j: (K,)."""
        z = self.configurations()
        weights = torch.softmax(self.log_joint(z), 0)
        return weights @ z.to(weights.dtype)

    def mean_field_elbo(self, probs: Tensor) -> Tensor:
        """The exact ELBO of q(z) = Π_j Bernoulli(z_j; probs[j]), by enumeration; differentiable
        in ``probs``: (K,)."""
        z = self.configurations()
        log_q = Bernoulli(probs=probs).log_prob(z.to(probs.dtype)).sum(-1)
        return (log_q.exp() * (self.log_joint(z) - log_q)).sum()
