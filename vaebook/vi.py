"""Black-box variational inference (Ranganath, Gerrish & Blei, 2014) and per-image refinement
of a VAE's posterior.

A model is nothing but a function ``log_joint(z) -> log p(x, z)`` that maps S samples, shape
(S, F), to S values. The variational family is mean-field, q_λ(z) = Π_i q_{λ_i}(z_i), built from a
``torch.distributions`` class whose F factors are independent; its parameters λ are unconstrained
tensors (mean and log σ for a Gaussian, log α and log β for a Beta, logits for a categorical).

Score-function (BBVI) gradient of the ELBO L(λ) = E_q[log p(x, z) − log q_λ(z)]:

    ∇_λ L = E_q[h(z) w(z)],   h = ∇_λ log q_λ(z),   w = log p(x, z) − log q_λ(z).

- Rao-Blackwellization: for the parameters λ_i of factor i, replace w by
  w_i = log p_i(x, z) − log q_i(z_i), where log p_i holds only the terms of log p(x, z) that
  involve z_i (``local_log_joint`` returns them as (S, F)); the dropped terms average out.
- Control variate: for each parameter component j, subtract the optimal scalar baseline
  b_j = E[h_j² w] / E[h_j²] (that is Cov(h_j w, h_j) / Var(h_j), because E[h_j] = 0), estimated
  from the *other* S − 1 samples, so every estimate stays unbiased.
The reparameterized (pathwise) gradient, for a Gaussian q and a differentiable log p, is the
comparison: z = μ + σ ⊙ ε, ∇_λ of log p(x, z) − log q_λ(z) through z.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.distributions import Beta, Categorical, Distribution, Normal
from tqdm import tqdm  # text bars, as in training: no widget state in the notebooks

from vaebook.checks import check_batch, check_positive_int, check_tensor
from vaebook.models import VAE
from vaebook.objectives import kl_standard_normal, log_bernoulli, reparameterize

LogJoint = Callable[[Tensor], Tensor]
METHODS = ("score", "reparam")
OPTIMIZERS = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}


class MeanField(ABC):
    """A mean-field family: unconstrained parameter tensors whose first dimension indexes the F
    factors. Subclasses say how the parameters make a ``torch.distributions`` object
    (batch shape (F,)) and how they read in natural units.

    The distributions skip torch's argument validation: the parameters are checked when the
    family is built and after every step, and validating on every step costs more than the step.
    """

    reparameterizable = False

    def __init__(self, **params: Tensor):
        for name, value in params.items():
            check_tensor(value, name)
            if not torch.isfinite(value).all():
                raise ValueError(f"the variational parameter {name} has non-finite values: {value}.")
        self.params = {name: value.detach().clone().requires_grad_() for name, value in params.items()}

    @abstractmethod
    def distribution(self, params: dict[str, Tensor] | None = None) -> Distribution:
        """q built from ``params`` (default: the family's own), batch shape (F,)."""

    @abstractmethod
    def readable(self) -> dict[str, Tensor]:
        """The parameters in natural units (e.g. α and β rather than their logs), detached."""

    def sample(self, n: int) -> Tensor:
        """n independent draws z ~ q, shape (n, F), from torch's global generator."""
        with torch.no_grad():
            return self.distribution().sample((n,))


class GaussianMeanField(MeanField):
    """q(z) = Π_k N(z_k; m_k, s_k²), parameters ``mean`` and ``log_std``, each (K,)."""

    reparameterizable = True

    def __init__(self, mean: Tensor, log_std: Tensor):
        if mean.ndim != 1 or mean.shape != log_std.shape:
            raise ValueError(f"mean and log_std must both have shape (K,), got {tuple(mean.shape)} "
                             f"and {tuple(log_std.shape)}.")
        super().__init__(mean=mean, log_std=log_std)

    def distribution(self, params=None) -> Normal:
        params = params or self.params
        return Normal(params["mean"], params["log_std"].exp(), validate_args=False)

    def readable(self) -> dict[str, Tensor]:
        return {"mean": self.params["mean"].detach().clone(),
                "std": self.params["log_std"].detach().exp()}


class BetaMeanField(MeanField):
    """q(z) = Π_i Beta(z_i; α_i, β_i) on (0, 1); built from α, β > 0, each (F,), stored as logs."""

    def __init__(self, alpha: Tensor, beta: Tensor):
        for name, value in (("alpha", alpha), ("beta", beta)):
            check_tensor(value, name)
            if value.ndim != 1 or not (value > 0).all():
                raise ValueError(f"{name} must be a (F,) tensor of positive values, got {value}.")
        if alpha.shape != beta.shape:
            raise ValueError(f"alpha and beta must have the same shape, got {tuple(alpha.shape)} "
                             f"and {tuple(beta.shape)}.")
        super().__init__(log_alpha=alpha.log(), log_beta=beta.log())

    def distribution(self, params=None) -> Beta:
        params = params or self.params
        return Beta(params["log_alpha"].exp(), params["log_beta"].exp(), validate_args=False)

    def readable(self) -> dict[str, Tensor]:
        return {"alpha": self.params["log_alpha"].detach().exp(),
                "beta": self.params["log_beta"].detach().exp()}


class CategoricalMeanField(MeanField):
    """q(z) = Π_i Categorical(z_i; softmax(logits_i)), logits (F, C); z holds category indices."""

    def __init__(self, logits: Tensor):
        if logits.ndim != 2 or logits.shape[1] < 2:
            raise ValueError(f"logits must have shape (F, C) with C >= 2 categories, got "
                             f"{tuple(logits.shape)}.")
        super().__init__(logits=logits)

    def distribution(self, params=None) -> Categorical:
        params = params or self.params
        return Categorical(logits=params["logits"], validate_args=False)

    def readable(self) -> dict[str, Tensor]:
        return {"probs": self.params["logits"].detach().softmax(-1)}


def _checked_values(values: Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    """The model's output, if it has the promised shape and is finite everywhere."""
    if not isinstance(values, Tensor) or values.shape != shape:
        got = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ValueError(f"{name} must return a tensor of shape {shape} for {shape[0]} samples, got {got}.")
    if not torch.isfinite(values).all():
        raise ValueError(f"{name} returned non-finite values (nan or inf) for "
                         f"{int((~torch.isfinite(values)).sum())} entries; check that it is defined on "
                         f"the whole support of q (a Beta q needs log p on (0, 1)).")
    return values


def _per_sample_parameters(family: MeanField, n: int) -> dict[str, Tensor]:
    """Copies of the parameters, one per sample, shape (n, *param.shape), as gradient leaves:
    the gradient of a sum over samples then holds one gradient per sample."""
    return {name: value.detach().expand(n, *value.shape).clone().requires_grad_()
            for name, value in family.params.items()}


def score_gradient(family: MeanField, log_joint: LogJoint, n_samples: int, *,
                   control_variate: bool = True,
                   local_log_joint: LogJoint | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Per-sample BBVI estimates of ∇_λ L, one (S, *param.shape) tensor per parameter, and the
    S per-sample values log p(x, z_s) − log q(z_s) whose mean estimates L."""
    check_positive_int(n_samples, "n_samples")
    if control_variate and n_samples < 2:
        raise ValueError("the control variate is estimated from the other samples: use n_samples >= 2.")
    z = family.sample(n_samples)
    params = _per_sample_parameters(family, n_samples)
    log_q = family.distribution(params).log_prob(z)  # (S, F): factor i depends on λ_i only
    scores = torch.autograd.grad(log_q.sum(), list(params.values()))
    log_q = log_q.detach()
    with torch.no_grad():
        elbo_terms = _checked_values(log_joint(z), (n_samples,), "log_joint") - log_q.sum(1)
        if local_log_joint is None:
            weights = elbo_terms.unsqueeze(1).expand_as(log_q)
        else:
            weights = _checked_values(local_log_joint(z), tuple(log_q.shape), "local_log_joint") - log_q
    grads = {}
    for name, h in zip(params, scores, strict=True):
        w = weights.reshape(*weights.shape, *[1] * (h.ndim - 2))
        if control_variate:
            h2, h2w = h**2, h**2 * w
            baseline = (h2w.sum(0) - h2w) / (h2.sum(0) - h2).clamp_min(torch.finfo(h.dtype).tiny)
            w = w - baseline
        grads[name] = h * w
    return grads, elbo_terms


def reparam_gradient(family: MeanField, log_joint: LogJoint,
                     n_samples: int) -> tuple[dict[str, Tensor], Tensor]:
    """Per-sample pathwise estimates of ∇_λ L for a Gaussian family and a log_joint that autograd
    can differentiate; same returns as ``score_gradient``."""
    check_positive_int(n_samples, "n_samples")
    if not family.reparameterizable:
        raise ValueError(f"{type(family).__name__} has no reparameterization; use method='score'.")
    params = _per_sample_parameters(family, n_samples)
    eps = torch.randn_like(params["mean"])
    z = params["mean"] + params["log_std"].exp() * eps
    values = _checked_values(log_joint(z), (n_samples,), "log_joint")
    if not values.requires_grad:
        raise ValueError("log_joint is not differentiable by autograd, so the reparameterized "
                         "gradient does not apply; use method='score'.")
    terms = values - family.distribution(params).log_prob(z).sum(1)
    grads = torch.autograd.grad(terms.sum(), list(params.values()))
    return dict(zip(params, grads, strict=True)), terms.detach()


@dataclass
class VIResult:
    """What ``fit`` returns: the ELBO estimate of every step and the parameters in natural units
    after every step (index 0 is the start), each stacked to (steps + 1, *shape)."""

    elbo: list[float] = field(default_factory=list)
    trace: dict[str, Tensor] = field(default_factory=dict)


def fit(family: MeanField, log_joint: LogJoint, *, steps: int, n_samples: int = 10,
        method: str = "score", control_variate: bool = True, local_log_joint: LogJoint | None = None,
        lr: float = 0.05, optimizer: str = "adam", cosine_schedule: bool = False, seed: int = 0,
        progress: bool = False) -> VIResult:
    """Maximize the ELBO over the family's parameters (in place) with an adaptive step size
    (``"adam"`` or ``"adagrad"``, the paper's); each step uses ``n_samples`` fresh draws from q.
    With ``cosine_schedule`` the step size decays to 0 along a half cosine, which lets a noisy
    gradient settle on the optimum instead of jittering around it. Seeded: the same call gives the same
    result. Raises if the parameters stop being finite (then lower ``lr``)."""
    check_positive_int(steps, "steps")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}.")
    steps_taker = OPTIMIZERS[optimizer](family.params.values(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(steps_taker, steps) if cosine_schedule else None
    history = [family.readable()]
    result = VIResult()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in tqdm(range(steps), desc="VI steps", disable=not progress):
            if method == "score":
                grads, terms = score_gradient(family, log_joint, n_samples, control_variate=control_variate,
                                              local_log_joint=local_log_joint)
            else:
                grads, terms = reparam_gradient(family, log_joint, n_samples)
            for name, value in family.params.items():
                value.grad = -grads[name].mean(0)  # the optimizer minimizes −L
            steps_taker.step()
            if scheduler:
                scheduler.step()
            _check_finite(family)
            result.elbo.append(terms.mean().item())
            history.append(family.readable())
    result.trace = {name: torch.stack([h[name] for h in history]) for name in history[0]}
    return result


def _check_finite(family: MeanField) -> None:
    for name, value in family.params.items():
        if not torch.isfinite(value).all():
            raise FloatingPointError(f"the variational parameter {name} became non-finite; the "
                                     f"steps are too large for this gradient's noise: lower lr.")


def steps_to_reach(trace: Tensor, target: Tensor, rtol: float) -> int | None:
    """The first step from which every later iterate of ``trace`` (T, *shape) stays within
    relative tolerance ``rtol`` of ``target``; None if the last one is not within it."""
    inside = ((trace - target).abs() <= rtol * target.abs()).reshape(len(trace), -1).all(1)
    if not inside[-1]:
        return None
    outside = torch.nonzero(~inside).flatten()
    return 0 if len(outside) == 0 else int(outside[-1]) + 1


def gradient_variance(grads: dict[str, Tensor]) -> Tensor:
    """Total variance over samples of per-sample gradient estimates: Σ_j Var_s(g_sj)."""
    return sum(g.reshape(len(g), -1).var(0).sum() for g in grads.values())


def vae_elbo(vae: VAE, x: Tensor, mu: Tensor, logvar: Tensor, n_samples: int,
             generator: torch.Generator | None = None) -> Tensor:
    """ELBO of each image for the Gaussian q = N(μ, diag σ²) given per image (not the encoder's):
    1/S Σ_s log p_θ(x | z_s) − KL(q || N(0, I)). x: (B, D), μ, log σ²: (B, K). Returns (B,)."""
    check_batch(x, "x", vae.data_dim)
    check_positive_int(n_samples, "n_samples")
    if mu.shape != (len(x), vae.latent_dim) or logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must both have shape ({len(x)}, {vae.latent_dim}), got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}.")
    z = reparameterize(mu, logvar, n_samples, generator)
    return log_bernoulli(x, vae.decode_logits(z)).mean(0) - kl_standard_normal(mu, logvar)


def refine_posterior(vae: VAE, x: Tensor, *, steps: int = 300, n_samples: int = 10, lr: float = 0.01,
                     seed: int = 0, progress: bool = True) -> tuple[Tensor, Tensor]:
    """Non-amortized VI for each image: start from the encoder's (μ, log σ²) and maximize each
    image's own ELBO over its own (μ, log σ²) by reparameterized gradients and Adam, the decoder
    fixed. Returns the refined (μ, log σ²), each (B, K), detached."""
    check_batch(x, "x", vae.data_dim)
    check_positive_int(steps, "steps")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    with torch.no_grad():
        mu, logvar = (t.clone().requires_grad_() for t in vae.encode(x))
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    for _ in tqdm(range(steps), desc="refining q per image", disable=not progress):
        loss = -vae_elbo(vae, x, mu, logvar, n_samples, generator).sum()
        # Gradients for (μ, log σ²) only: the decoder stays as it is and collects none.
        mu.grad, logvar.grad = torch.autograd.grad(loss, [mu, logvar])
        optimizer.step()
    if not (torch.isfinite(mu).all() and torch.isfinite(logvar).all()):
        raise FloatingPointError("refinement diverged (non-finite μ or log σ²): lower lr.")
    return mu.detach(), logvar.detach()

