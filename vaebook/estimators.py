"""Monte Carlo estimators over ``torch.distributions``: the ELBO in its two forms, and the
gradient of an expectation ∇_λ E_{q_λ(z)}[f(z)] by the score function and by the pathwise
(reparameterization) route. Chapter 4 differentiates E_q[f(z)] for a Gaussian q; chapter 7
(``vaebook.vi``) the ELBO of any mean-field family, with these same two functions.

A *family* is a function ``build(params) -> q`` from a dict of unconstrained parameter tensors
λ to a ``torch.distributions`` object (``diagonal_gaussian`` is the Gaussian one). The gradient
estimators call it with per-sample copies of the parameters, shape (S, *shape), as gradient
leaves, so that the gradient of a sum over samples holds one gradient per sample: they return
per-sample estimates, (S, *shape) per parameter, whose mean is the S-sample estimate and whose
variance over samples is the estimator's noise. The integrand is ``f(z, q) -> (S,)``, which may
use q (the ELBO's −log q(z) does).

Score function (REINFORCE, likelihood ratio), with the score u = ∇_λ log q_λ(z):

    ∇_λ E_q[f(z)] = E_q[(f(z) − b) u(z)],   z ~ q_λ,

for any baseline b independent of z_s; f is evaluated, never differentiated (for the ELBO the
term E_q[∇_λ(−log q_λ(z))] it drops is zero). Baselines, both estimated from the *other* S − 1
samples so that each estimate stays unbiased: ``"mean"``, the mean of f; ``"optimal"``, the best
constant baseline b⋆ = E[f u²] / E[u²], one for each parameter component, with u that
component's score (Ranganath, Gerrish & Blei, 2014). ``local`` gives per-factor integrands f_j,
shape (S, K), f_j = log p_j(x, z) − log q_{λ_j}(z_j), used in place of f as the weight of the
parameters λ_j of factor j (Rao-Blackwellization with Markov-blanket terms: the parameters'
first dimension indexes the K factors).

Pathwise: z = q.rsample(), a differentiable function of λ and parameter-free noise (for a
Gaussian z = μ + σ ⊙ ε; torch reparameterizes a Beta too, ``Distribution.has_rsample``):

    ∇_λ E_q[f(z, q_λ)] = E_ε[∇_λ f(z(λ, ε), q_λ)].

Randomness: draws come from ``generator`` (see ``vaebook.randomness``), or the global generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor
from torch.distributions import Distribution, Normal

from vaebook.checks import check_finite, check_positive_int, check_tensor, check_values, checked
from vaebook.randomness import drawing_from

Params = Mapping[str, Tensor]
Family = Callable[[Params], Distribution]
Integrand = Callable[[Tensor, Distribution], Tensor]
BASELINES = (None, "mean", "optimal")


def diagonal_gaussian(params: Params) -> Normal:
    """q = N(μ, diag σ²) from ``{"mu": μ, "logvar": log σ²}`` (any matching shapes), without
    torch's per-call argument validation (the estimators check the parameters once)."""
    return Normal(params["mu"], torch.exp(0.5 * params["logvar"]), validate_args=False)


def _sample(q: Distribution, n_samples: int, n_estimates: int | None,
            generator: torch.Generator | None) -> Tensor:
    check_positive_int(n_samples, "n_samples")
    if n_estimates is not None:
        check_positive_int(n_estimates, "n_estimates")
    shape = (n_samples,) if n_estimates is None else (n_estimates, n_samples)
    if not isinstance(q, Distribution):
        raise TypeError(f"q must be a torch.distributions object, got {type(q).__name__}.")
    with drawing_from(generator):
        return q.rsample(shape) if q.has_rsample else q.sample(shape)


def elbo_estimate(log_joint: Callable[[Tensor], Tensor], q: Distribution, n_samples: int,
                  n_estimates: int | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Monte Carlo ELBO in its first form, L̂(q) = 1/S Σ_s [log p(x, z_s) − log q(z_s)], z_s ~ q.

    ``log_joint`` maps z: (..., K) to log p(x, z): (...,) for the fixed x; q has event shape
    (K,). Draws are reparameterized when q allows it (``has_rsample``), so the estimate is then
    differentiable in q's parameters. Returns a scalar, or (n_estimates,) independent estimates.
    """
    z = _sample(q, n_samples, n_estimates, generator)
    return check_values(log_joint(z), z.shape[:-1], "log_joint").sub(q.log_prob(z)).mean(-1)


def elbo_estimate_kl(log_likelihood: Callable[[Tensor], Tensor], q: Distribution, prior: Distribution,
                     n_samples: int, n_estimates: int | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """Monte Carlo ELBO in its second form, L̂(q) = 1/S Σ_s log p(x | z_s) − KL(q || p(z)), with
    the KL in closed form (``torch.distributions.kl_divergence``). Shapes as ``elbo_estimate``."""
    z = _sample(q, n_samples, n_estimates, generator)
    fit = check_values(log_likelihood(z), z.shape[:-1], "log_likelihood").mean(-1)
    return fit - torch.distributions.kl_divergence(q, prior)


def _check_params(params: object, n_samples: int) -> None:
    if not isinstance(params, Mapping) or not params:
        raise TypeError(f"params must be a non-empty dict of parameter tensors, got {params!r}.")
    for name, value in params.items():
        check_finite(check_tensor(value, f"the parameter {name}"), f"the parameter {name}")
    if len({value.shape[:1] for value in params.values()}) != 1 or any(v.ndim == 0 for v in params.values()):
        shapes = {name: tuple(value.shape) for name, value in params.items()}
        raise ValueError(f"every parameter needs a first dimension indexing the factors, the same for "
                         f"all, got shapes {shapes}.")
    check_positive_int(n_samples, "n_samples")


def _leaves(params: Params, n: int) -> dict[str, Tensor]:
    """Copies of the parameters, one per sample, (n, *shape), as gradient leaves."""
    return {name: value.detach().expand(n, *value.shape).clone().requires_grad_()
            for name, value in params.items()}


def _check_score_call(params: object, n_samples: int, baseline: object, **_) -> None:
    _check_params(params, n_samples)
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}.")
    if baseline and n_samples < 2:
        raise ValueError(f"the {baseline!r} baseline is estimated from the other samples: use "
                         f"n_samples >= 2.")


def _baseline(h: Tensor, w: Tensor, kind: str | None) -> Tensor | float:
    """The leave-one-out baseline b of each sample (and component), shaped to broadcast with h."""
    if kind is None:
        return 0.0
    n = len(w)
    if kind == "mean":
        return (w.sum(0) - w) / (n - 1)
    h2, h2w = h**2, h**2 * w
    return (h2w.sum(0) - h2w) / (h2.sum(0) - h2).clamp_min(torch.finfo(h.dtype).tiny)


@checked(_check_score_call)
def score_function_gradient(f: Integrand, build: Family, params: Params, n_samples: int, *,
                            baseline: str | None = None, local: Integrand | None = None,
                            generator: torch.Generator | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Per-sample score-function estimates of ∇_λ E_q[f(z)] for q = build(params): a dict of
    (S, *param.shape) tensors, and the S values f(z_s, q), (S,), whose mean estimates E_q[f].

    ``baseline`` is None, ``"mean"`` or ``"optimal"`` (module docstring; both need S ≥ 2);
    ``local(z, q)``, shape (S, K), gives f_j, which replaces f as the weight of factor j's parameters.
    """
    fixed = {name: value.detach() for name, value in params.items()}
    with drawing_from(generator):
        z = build(fixed).sample((n_samples,))
    leaves = _leaves(params, n_samples)
    log_q = build(leaves).log_prob(z)
    scores = torch.autograd.grad(log_q.sum(), list(leaves.values()))
    with torch.no_grad():
        q = build(fixed)
        values = check_values(f(z, q), (n_samples,), "f")
        weights = values if local is None else check_values(local(z, q), tuple(log_q.shape), "local")
    grads = {}
    for name, h in zip(leaves, scores, strict=True):
        w = weights.reshape(*weights.shape, *[1] * (h.ndim - weights.ndim))
        grads[name] = h * (w - _baseline(h, w, baseline))
    return grads, values


def _check_pathwise_call(build: object, params: object, n_samples: int, **_) -> None:
    _check_params(params, n_samples)
    q = build(params)
    if not q.has_rsample:
        raise ValueError(f"{type(q).__name__} cannot be reparameterized (its has_rsample is False), "
                         f"so the pathwise gradient does not apply; use the score function.")


@checked(_check_pathwise_call)
def pathwise_gradient(f: Integrand, build: Family, params: Params, n_samples: int, *,
                      generator: torch.Generator | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Per-sample pathwise estimates of ∇_λ E_q[f(z, q_λ)], z = q.rsample(), q = build(params);
    same returns as ``score_function_gradient``. ``f`` must be differentiable by autograd, and
    each of its outputs must depend on its own sample only (true for any f applied row by row).
    """
    leaves = _leaves(params, n_samples)
    q = build(leaves)
    with drawing_from(generator):
        z = q.rsample()
    values = check_values(f(z, q), (n_samples,), "f")
    if not values.requires_grad:
        raise ValueError("f is not differentiable by autograd (its output has no gradient), so the "
                         "pathwise gradient does not apply; use the score function.")
    grads = torch.autograd.grad(values.sum(), list(leaves.values()))
    return dict(zip(leaves, grads, strict=True)), values.detach()
