"""Black-box variational inference (Ranganath, Gerrish & Blei, 2014) with mean-field families,
and per-image refinement of a VAE's posterior.

A model is nothing but a function ``log_joint(z) -> log p(x, z)`` that maps S samples, shape
(S, K), to S values. The variational family is mean-field, q_λ(z) = Π_j q_{λ_j}(z_j), built from a
``torch.distributions`` class whose K factors are independent; its parameters λ are unconstrained
tensors whose first dimension indexes the factors (mean and log σ² for a Gaussian, the logs of the
pseudo-counts a_1 and a_0 for a Beta, logits for a categorical).

The ELBO L(λ) = E_q[log p(x, z) − log q_λ(z)] is maximized with the gradient estimators of
``vaebook.estimators``, applied to f(z, q) = log p(x, z) − log q(z):

- ``"score"`` (BBVI): the score function, with the optimal per-component control variate
  (``control_variate``) and, given ``local_log_joint`` (log p_j(x, z), the terms of log p(x, z)
  that involve z_j, as (S, K)), Markov-blanket weights f_j = log p_j(x, z) − log q_{λ_j}(z_j) for
  factor j's parameters λ_j (Rao-Blackwellization).
- ``"pathwise"``: the reparameterization gradient, for a family that torch can reparameterize
  (``has_rsample``: Gaussian, Beta) and a log_joint that autograd can differentiate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.distributions import Beta, Categorical, Distribution
from tqdm import tqdm  # text bars, as in training: no widget state in the notebooks

from vaebook.checks import check_finite, check_positive_int, check_real, check_tensor, check_values, trusted
from vaebook.estimators import diagonal_gaussian, pathwise_gradient, score_function_gradient
from vaebook.losses import check_posterior_per_image, elbo
from vaebook.models import VAE, model_device
from vaebook.randomness import drawing_from, seeded_generator

LogJoint = Callable[[Tensor], Tensor]
METHODS = ("score", "pathwise")
OPTIMIZERS = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}


class MeanField(ABC):
    """A mean-field family: unconstrained parameter tensors whose first dimension indexes the K
    factors. Subclasses say how the parameters make a ``torch.distributions`` object
    (batch shape (K,)) and how they read in natural units.

    The distributions skip torch's argument validation: the parameters are checked when the
    family is built and after every step, and validating on every step costs more than the step.
    """

    def __init__(self, **params: Tensor):
        for name, value in params.items():
            check_finite(check_tensor(value, name), f"the variational parameter {name}")
        self.params = {name: value.detach().clone().requires_grad_() for name, value in params.items()}

    @abstractmethod
    def distribution(self, params: dict[str, Tensor] | None = None) -> Distribution:
        """q built from ``params`` (default: the family's own), batch shape (K,)."""

    @abstractmethod
    def readable(self) -> dict[str, Tensor]:
        """The parameters in natural units (e.g. a Beta's pseudo-counts rather than their logs),
        detached."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n independent draws z ~ q, shape (n, K)."""
        check_positive_int(n, "n")
        with torch.no_grad(), drawing_from(generator):
            return self.distribution().sample((n,))


class GaussianMeanField(MeanField):
    """q(z) = Π_j N(z_j; μ_j, σ_j²), parameters ``mu`` (μ) and ``logvar`` (log σ²), each (K,)."""

    def __init__(self, mu: Tensor, logvar: Tensor):
        for name, value in (("mu", mu), ("logvar", logvar)):
            check_tensor(value, name)
        if mu.ndim != 1 or mu.shape != logvar.shape:
            raise ValueError(f"mu and logvar must both have shape (K,), got {tuple(mu.shape)} "
                             f"and {tuple(logvar.shape)}.")
        super().__init__(mu=mu, logvar=logvar)

    def distribution(self, params=None) -> Distribution:
        return diagonal_gaussian(params or self.params)

    def readable(self) -> dict[str, Tensor]:
        return {"mean": self.params["mu"].detach().clone(),
                "std": self.params["logvar"].detach().mul(0.5).exp()}


class BetaMeanField(MeanField):
    """q(z) = Π_j Beta(z_j; a_{1,j}, a_{0,j}) on (0, 1), with the pseudo-counts a_{1,j} of heads
    and a_{0,j} of tails; built from ``a1``, ``a0`` > 0, each (K,), stored as logs (``log_a1``,
    ``log_a0``); ``readable()`` gives them back as ``"a1"`` and ``"a0"``."""

    def __init__(self, a1: Tensor, a0: Tensor):
        for name, value in (("a1", a1), ("a0", a0)):
            check_tensor(value, name)
            if value.ndim != 1 or not (value > 0).all():
                raise ValueError(f"{name} must be a (F,) tensor of positive values, got {value}.")
        if a1.shape != a0.shape:
            raise ValueError(f"a1 and a0 must have the same shape, got {tuple(a1.shape)} "
                             f"and {tuple(a0.shape)}.")
        super().__init__(log_a1=a1.log(), log_a0=a0.log())

    def distribution(self, params=None) -> Beta:
        params = params or self.params
        return Beta(params["log_a1"].exp(), params["log_a0"].exp(), validate_args=False)

    def readable(self) -> dict[str, Tensor]:
        return {"a1": self.params["log_a1"].detach().exp(),
                "a0": self.params["log_a0"].detach().exp()}


class CategoricalMeanField(MeanField):
    """q(z) = Π_j Categorical(z_j; softmax(logits[j])), logits (K, C); z holds category indices."""

    def __init__(self, logits: Tensor):
        check_tensor(logits, "logits")
        if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] < 2:
            raise ValueError(f"logits must have shape (F, C) with F >= 1 factors and C >= 2 categories, "
                             f"got {tuple(logits.shape)}.")
        super().__init__(logits=logits)

    def distribution(self, params=None) -> Categorical:
        params = params or self.params
        return Categorical(logits=params["logits"], validate_args=False)

    def readable(self) -> dict[str, Tensor]:
        return {"probs": self.params["logits"].detach().softmax(-1)}


def _elbo_integrands(log_joint: LogJoint, local_log_joint: LogJoint | None):
    """f(z, q) = log p(x, z) − log q(z), (S,), and its Markov-blanket terms f_j, (S, K), or None."""
    def f(z: Tensor, q: Distribution) -> Tensor:
        values = check_values(log_joint(z), (len(z),), "log_joint")
        if z.requires_grad and not values.requires_grad:  # the pathwise route differentiates it
            raise ValueError("log_joint is not differentiable by autograd (its output has no gradient), "
                             "so the pathwise gradient does not apply; use method='score'.")
        return values - q.log_prob(z).sum(-1)

    def local(z: Tensor, q: Distribution) -> Tensor:
        return check_values(local_log_joint(z), tuple(z.shape[:2]), "local_log_joint") - q.log_prob(z)

    return f, None if local_log_joint is None else local


def _check_gradient_call(family: object, method: str, n_samples: int, control_variate: bool,
                         local_log_joint: object) -> None:
    if not isinstance(family, MeanField):
        raise TypeError(f"family must be a vaebook.vi mean-field family, got {type(family).__name__}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if method == "pathwise" and local_log_joint is not None:
        raise ValueError("local_log_joint is for the score function; the pathwise gradient does not use it.")
    if method == "score":
        score_function_gradient.check(None, family.distribution, family.params, n_samples,
                                      baseline="optimal" if control_variate else None)
    else:
        pathwise_gradient.check(None, family.distribution, family.params, n_samples)


def elbo_gradient(family: MeanField, log_joint: LogJoint, n_samples: int, *, method: str = "score",
                  control_variate: bool = True, local_log_joint: LogJoint | None = None,
                  generator: torch.Generator | None = None) -> tuple[dict[str, Tensor], Tensor]:
    """Per-sample estimates of ∇_λ L, one (S, *param.shape) tensor per parameter, and the S values
    log p(x, z_s) − log q(z_s), (S,), whose mean estimates L; by ``method`` "score" or "pathwise"
    (module docstring). The control variate needs S ≥ 2."""
    _check_gradient_call(family, method, n_samples, control_variate, local_log_joint)
    with trusted():
        return _elbo_gradient(family, log_joint, n_samples, method, control_variate, local_log_joint,
                              generator)


def _elbo_gradient(family, log_joint, n_samples, method, control_variate, local_log_joint, generator):
    f, local = _elbo_integrands(log_joint, local_log_joint)
    if method == "score":
        return score_function_gradient(f, family.distribution, family.params, n_samples,
                                                 baseline="optimal" if control_variate else None,
                                                 local=local, generator=generator)
    return pathwise_gradient(f, family.distribution, family.params, n_samples, generator=generator)


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
    (``"adam"`` or ``"adagrad"``, the paper's); each step uses ``n_samples`` fresh draws from q,
    from a generator seeded with ``seed`` (the same call gives the same result). With
    ``cosine_schedule`` the step size decays to 0 along a half cosine, which lets a noisy gradient
    settle on the optimum instead of jittering around it. Raises ``FloatingPointError`` if the
    parameters stop being finite (then lower ``lr``)."""
    check_positive_int(steps, "steps")
    check_real(lr, "lr")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}.")
    _check_gradient_call(family, method, n_samples, control_variate, local_log_joint)
    # Drawn where the family's parameters live: a CPU generator cannot draw on a GPU.
    generator = seeded_generator(seed, next(iter(family.params.values())).device)
    steps_taker = OPTIMIZERS[optimizer](family.params.values(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(steps_taker, steps) if cosine_schedule else None
    history = [family.readable()]
    result = VIResult()
    with trusted():  # checked above, once
        for step in tqdm(range(steps), desc="VI steps", disable=not progress):
            grads, terms = _elbo_gradient(family, log_joint, n_samples, method, control_variate,
                                          local_log_joint, generator)
            for name, value in family.params.items():
                value.grad = -grads[name].mean(0)  # the optimizer minimizes −L
            steps_taker.step()
            if scheduler:
                scheduler.step()
            _check_finite(family, step, lr)
            result.elbo.append(terms.mean().item())
            history.append(family.readable())
    result.trace = {name: torch.stack([h[name] for h in history]) for name in history[0]}
    return result


def _check_finite(family: MeanField, step: int, lr: float) -> None:
    for name, value in family.params.items():
        if not torch.isfinite(value).all():
            raise FloatingPointError(f"the variational parameter {name} became non-finite at step {step}; "
                                     f"the steps are too large for this gradient's noise: lower lr "
                                     f"(now {lr:g}).")


def steps_to_reach(trace: Tensor, target: Tensor, rtol: float) -> int | None:
    """The first step from which every later iterate of ``trace`` (T, *shape) stays within
    relative tolerance ``rtol`` of ``target`` (broadcastable to *shape); None if the last one is
    not within it."""
    check_finite(check_tensor(trace, "trace"), "trace")
    check_finite(check_tensor(target, "target"), "target")
    check_real(rtol, "rtol", include_low=True)
    if trace.ndim == 0 or len(trace) == 0:
        raise ValueError(f"trace must have one row per step, got shape {tuple(trace.shape)}.")
    inside = ((trace - target).abs() <= rtol * target.abs()).reshape(len(trace), -1).all(1)
    if not inside[-1]:
        return None
    outside = torch.nonzero(~inside).flatten()
    return 0 if len(outside) == 0 else int(outside[-1]) + 1


def gradient_variance(grads: dict[str, Tensor]) -> Tensor:
    """Total variance over samples of per-sample gradient estimates: the sum, over all parameter
    components, of the variance over s of ĝ_s, for a dict of (S, *shape) tensors with S ≥ 2."""
    if not isinstance(grads, dict) or not grads:
        raise TypeError("grads must be a non-empty dict of per-sample gradients, as elbo_gradient returns.")
    for name, g in grads.items():
        check_tensor(g, name)
        if g.ndim == 0 or len(g) < 2:
            raise ValueError(f"{name} must hold S >= 2 per-sample gradients, got shape {tuple(g.shape)}.")
    return sum(g.reshape(len(g), -1).var(0).sum() for g in grads.values())


def refine_posterior(vae: VAE, x: Tensor, *, init: tuple[Tensor, ...] | None = None, steps: int = 300,
                     n_samples: int = 10, lr: float = 0.01, seed: int = 0,
                     progress: bool = True) -> tuple[Tensor, ...]:
    """Non-amortized VI for each image: start from ``init`` = (μ, log σ²), each (B, K) (default:
    the encoder's output, (μ_φ(x), log σ²_φ(x))), and maximize each image's own ELBO
    (``losses.elbo`` with that ``posterior``) over its own (μ, log σ²) by reparameterized
    gradients and Adam, the decoder fixed. For a VAE with a flow, q's parts are those of
    ``VAE.encode_posterior``, the flow's parameters too, and all of them are refined. x: (B, D)
    in [0, 1], on the model's device; ``init`` on the same device, in the model's dtype (e.g.
    zeros for the prior N(0, I)). Returns the refined parts, detached; ``init`` is left as it
    is. Raises ``FloatingPointError`` when they stop being finite (then lower ``lr``)."""
    elbo.check(vae, x, n_samples)
    if init is not None:
        check_posterior_per_image(vae, x, init, "init")
    check_positive_int(steps, "steps")
    check_real(lr, "lr")
    generator = seeded_generator(seed, model_device(vae))
    with torch.no_grad():
        start = vae.encode_posterior(x) if init is None else init
        parts = [t.detach().clone().requires_grad_() for t in start]
    optimizer = torch.optim.Adam(parts, lr=lr)
    with trusted():  # checked above, once
        for _ in tqdm(range(steps), desc="refining q per image", disable=not progress):
            loss = -elbo(vae, x, n_samples, generator, posterior=tuple(parts)).sum()
            # Gradients for q's parts only: the decoder stays as it is and collects none.
            for part, grad in zip(parts, torch.autograd.grad(loss, parts), strict=True):
                part.grad = grad
            optimizer.step()
    if not all(torch.isfinite(part).all() for part in parts):
        raise FloatingPointError(f"refinement diverged (non-finite parameters of q) within {steps} "
                                 f"steps: lower lr (now {lr:g}).")
    return tuple(part.detach() for part in parts)
