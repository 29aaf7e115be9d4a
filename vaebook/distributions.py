"""The two halves of a VAE's generative model as objects: the prior p(z) and the likelihood
p_θ(x | z). Each has ``log_prob`` and ``sample`` in the style of ``torch.distributions``, and a
``generator`` argument wherever it draws (``vaebook.randomness``).

A prior is an ``nn.Module``: a prior whose parameters train with the model (``MixturePrior`` with
``learnable=True``) is then trained, moved and saved with it. A likelihood reads what the decoder
outputs for z (``params``: logits, or the mean of a Gaussian). ``config`` is what rebuilds either
object from a checkpoint (``prior_from_config``, ``likelihood_from_config``); the numbers
themselves travel in the state dict.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from vaebook.checks import check_finite, check_positive_int, check_real, check_tensor
from vaebook.densities import (
    continuous_bernoulli_mean,
    kl_standard_normal,
    log_bernoulli,
    log_continuous_bernoulli,
    log_normal_diag,
    log_standard_normal,
)


def _like(tensor: Tensor) -> dict:
    """The device and dtype of ``tensor``, for a draw that goes with it."""
    return {"device": tensor.device, "dtype": tensor.dtype}


class _Configured(nn.Module):
    """A module rebuilt from a plain dict (its ``config``) and its state dict."""

    _config: dict

    @property
    def config(self) -> dict:
        """The plain values that rebuild this object: a fresh copy each time."""
        return dict(self._config)


class Prior(_Configured):
    """A prior p(z) on R^K (``latent_dim`` = K)."""

    latent_dim: int

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z): (..., K) -> (...,), in nats."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ p(z): (n, K)."""
        raise NotImplementedError

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor | None:
        """KL(N(μ, diag σ²) || p) in closed form, (..., K) -> (...,); None where there is none
        (then ``losses.elbo`` estimates it by Monte Carlo)."""
        return None


class StandardNormalPrior(Prior):
    """p(z) = N(0, I): the prior of the plain VAE, with the closed-form KL."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self._config = {"kind": "standard_normal", "latent_dim": self.latent_dim}
        # An empty buffer only records the device and dtype the prior was moved to.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        return log_standard_normal(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        return torch.randn(n, self.latent_dim, generator=generator, **_like(self._anchor))

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        return kl_standard_normal(mu, logvar)


class MixturePrior(Prior):
    """A mixture of C Gaussians with full covariances: p(z) = Σ_c weights[c] N(z; means[c],
    covariances[c]), the sum over the C components; log-density through
    ``torch.distributions.MixtureSameFamily``. Its KL from a Gaussian has no closed form.

    ``weights`` (C,) positive and summing to 1, ``means`` (C, K), ``covariances`` (C, K, K)
    symmetric positive definite, in one floating dtype (the widest of the three). With
    ``learnable`` they are parameters that train with the model (the weights as logits, each
    covariance as its Cholesky factor with the log of its diagonal; the factor's upper triangle is
    stored but never used, so it gets no gradient); otherwise fixed buffers.
    """

    def __init__(self, weights: Tensor, means: Tensor, covariances: Tensor, learnable: bool = False):
        super().__init__()
        for value, name in ((weights, "weights"), (means, "means"), (covariances, "covariances")):
            check_finite(check_tensor(value, name), name)
        dtype = torch.promote_types(torch.promote_types(weights.dtype, means.dtype), covariances.dtype)
        weights, means, covariances = (t.to(dtype) for t in (weights, means, covariances))
        c, k = means.shape if means.ndim == 2 else (0, 0)
        if means.ndim != 2 or weights.shape != (c,) or covariances.shape != (c, k, k) or c == 0:
            raise ValueError(f"weights, means and covariances must have shapes (C,), (C, K) and "
                             f"(C, K, K), got {tuple(weights.shape)}, {tuple(means.shape)} and "
                             f"{tuple(covariances.shape)}.")
        if (weights <= 0).any() or abs(weights.sum().item() - 1) > 1e-4:
            raise ValueError(f"weights must be positive and sum to 1, got {weights.tolist()} (sum "
                             f"{weights.sum().item()}); drop a component of weight 0 instead.")
        if not torch.allclose(covariances, covariances.mT, rtol=1e-5, atol=1e-6):
            raise ValueError("covariances must be symmetric; each is read whole, not by its lower triangle.")
        tril, info = torch.linalg.cholesky_ex(covariances)
        if info.any():
            raise ValueError("covariances must be symmetric positive definite; component "
                             f"{int(info.nonzero()[0])} is not.")
        self.latent_dim, self.components = k, c
        self._config = {"kind": "mixture", "latent_dim": k, "components": c, "learnable": bool(learnable)}
        raw = tril.tril(-1) + torch.diag_embed(tril.diagonal(dim1=-2, dim2=-1).log())
        for name, value in (("logits", weights.log()), ("means", means), ("raw_scale_tril", raw)):
            if learnable:
                setattr(self, name, nn.Parameter(value.clone()))
            else:
                self.register_buffer(name, value.clone())

    @classmethod
    def from_sklearn(cls, mixture: object, learnable: bool = False) -> MixturePrior:
        """The prior of a fitted ``sklearn.mixture.GaussianMixture`` with full covariances: checked
        and factored in scikit-learn's float64, then kept in the default dtype (float32)."""
        if getattr(mixture, "covariance_type", None) != "full" or not hasattr(mixture, "means_"):
            raise ValueError('mixture must be a fitted sklearn GaussianMixture with covariance_type="full".')
        prior = cls(*(torch.as_tensor(getattr(mixture, name), dtype=torch.float64)
                      for name in ("weights_", "means_", "covariances_")), learnable=learnable)
        return prior.to(torch.get_default_dtype())

    @classmethod
    def initial(cls, latent_dim: int, components: int, generator: torch.Generator | None = None,
                learnable: bool = True) -> MixturePrior:
        """A starting point for a learned prior: equal weights, identity covariances, means drawn
        from N(0, I) (on the CPU; move the prior with its model)."""
        k, c = check_positive_int(latent_dim, "latent_dim"), check_positive_int(components, "components")
        device = "cpu" if generator is None else generator.device
        means = torch.randn(c, k, generator=generator, device=device).cpu()
        return cls(torch.full((c,), 1 / c), means, torch.eye(k).expand(c, k, k), learnable=learnable)

    @property
    def scale_tril(self) -> Tensor:
        """The lower-triangular Cholesky factors R_c of the covariances, covariances[c] = R_c R_cᵀ:
        (C, K, K)."""
        raw = self.raw_scale_tril
        return raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())

    def distribution(self) -> MixtureSameFamily:
        """The prior as a ``torch.distributions`` object (its arguments are valid by construction)."""
        components = MultivariateNormal(self.means, scale_tril=self.scale_tril, validate_args=False)
        return MixtureSameFamily(Categorical(logits=self.logits, validate_args=False), components,
                                 validate_args=False)

    def log_prob(self, z: Tensor) -> Tensor:
        return self.distribution().log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        n = check_positive_int(n, "n")
        component = torch.multinomial(self.logits.softmax(0), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator, **_like(self.means))
        return self.means[component] + torch.einsum("nij,nj->ni", self.scale_tril[component], eps)


class Likelihood(_Configured):
    """p_θ(x | z) for the decoder's output ``params`` for z, one value per pixel."""

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p_θ(x | z): x (..., D), params broadcastable -> (...,), in nats."""
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        """E[x | z], elementwise: the reconstruction to show."""
        raise NotImplementedError

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p_θ(x | z) per row, shaped like params."""
        raise NotImplementedError


class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli pixels with logits ℓ: a probability of binary images."""

    _config = {"kind": "bernoulli"}

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return log_bernoulli(x, params)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(params.shape, generator=generator, device=params.device, dtype=params.dtype)
        return (u < torch.sigmoid(params)).to(params.dtype)


class ContinuousBernoulliLikelihood(Likelihood):
    """The continuous Bernoulli with logits ℓ (Loaiza-Ganem & Cunningham, 2019): a density on grey
    images in [0, 1]^D; its mean is not sigmoid(ℓ) (``densities.continuous_bernoulli_mean``)."""

    _config = {"kind": "continuous_bernoulli"}

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return log_continuous_bernoulli(x, params)

    def mean(self, params: Tensor) -> Tensor:
        return continuous_bernoulli_mean(params)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        # Inverse CDF from the logits: F(x) = (e^{ℓx} − 1)/(e^ℓ − 1), so x = log1p(u·expm1(ℓ))/ℓ,
        # written for ℓ > 0 as 1 + log(u + (1 − u)e^{−ℓ})/ℓ so that nothing overflows. (torch's
        # icdf goes through a probability clamped to float32's eps, wrong beyond |ℓ| ≈ 16.)
        u = torch.rand(params.shape, generator=generator, device=params.device, dtype=params.dtype)
        one = torch.ones_like(params)
        neg = torch.where(params < 0, params, -one)  # each branch sees only valid input
        pos = torch.where(params > 0, params, one)
        below = torch.log1p(u * torch.expm1(neg)) / neg
        above = 1 + torch.log(u + (1 - u) * torch.exp(-pos)) / pos
        x = torch.where(params.abs() < 1e-4, u, torch.where(params < 0, below, above))  # ℓ ≈ 0: uniform
        return x.clamp(0, 1)


class GaussianLikelihood(Likelihood):
    """x_d ~ N(μ_θ(z)_d, τ²) with the decoder's output μ_θ(z) as the mean and one standard
    deviation τ for every pixel: a density on R^D. With ``learnable`` τ trains with the model."""

    def __init__(self, std: float = 0.1, learnable: bool = False):
        super().__init__()
        std = check_real(std, "std")
        log_var = torch.tensor(2 * math.log(std))
        # std is the starting value; a learned τ is read from the weights (``log_var``)
        self._config = {"kind": "gaussian", "std": std, "learnable": bool(learnable)}
        if learnable:
            self.log_var = nn.Parameter(log_var)
        else:
            self.register_buffer("log_var", log_var)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return log_normal_diag(x, params, self.log_var.to(params.dtype).expand(params.shape[-1:]))

    def mean(self, params: Tensor) -> Tensor:
        return params

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(params.shape, generator=generator, device=params.device, dtype=params.dtype)
        return params + (0.5 * self.log_var).exp() * eps


LIKELIHOODS = {"bernoulli": BernoulliLikelihood, "continuous_bernoulli": ContinuousBernoulliLikelihood,
               "gaussian": GaussianLikelihood}


def prior_from_config(config: dict) -> Prior:
    """A prior of the kind and shape ``config`` describes, as a checkpoint stores it; a mixture
    starts as ``MixturePrior.initial`` (seeded), for the checkpoint's weights to fill, as a
    network's layers start from their own initialization."""
    kind = config.get("kind") if isinstance(config, dict) else None
    needs = {"standard_normal": ("latent_dim",), "mixture": ("latent_dim", "components", "learnable")}
    if kind not in needs or any(key not in config for key in needs[kind]):
        raise ValueError(f"a prior config needs a kind in {sorted(needs)} and its keys "
                         f"{needs.get(kind)}, got {config!r}.")
    if kind == "standard_normal":
        return StandardNormalPrior(config["latent_dim"])
    return MixturePrior.initial(config["latent_dim"], config["components"], torch.Generator().manual_seed(0),
                                learnable=config["learnable"])


def likelihood_from_config(config: dict) -> Likelihood:
    """The likelihood ``config`` describes (a Gaussian's τ is then read from the weights)."""
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in LIKELIHOODS:
        raise ValueError(f"unknown likelihood kind {kind!r}; known: {sorted(LIKELIHOODS)}.")
    options = {key: value for key, value in config.items() if key != "kind"}
    return LIKELIHOODS[kind](**options)
