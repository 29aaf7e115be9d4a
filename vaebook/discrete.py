"""Discrete latent codes: relaxed categorical draws, vector quantization, and exact enumeration.

Three routes from an encoder to a discrete code, each differentiable enough to train:

1. The concrete (Gumbel-softmax) relaxation of a categorical with probabilities softmax(logits)
   over C categories (Jang, Gu & Poole, 2017; Maddison, Mnih & Teh, 2017): with Gumbel noise
   G_c = −log(−log U_c), U_c ~ Uniform(0, 1),

       y = softmax((logits + G) / temperature),

   a point inside the simplex, reparameterized (differentiable in the logits), whose argmax is
   an exact draw of the categorical at every temperature (the Gumbel-max trick) and which
   approaches that one-hot draw as the temperature goes to 0. ``hard=True`` returns the one-hot
   argmax itself, with the relaxed draw's gradient (straight-through).
2. Vector quantization (van den Oord, Vinyals & Kavukcuoglu, 2017): an encoder output z_e in R^K
   is replaced by the nearest of ``n_codes`` codebook vectors; the gradient is copied through the
   rounding (straight-through) and the codebook learns from a loss of its own.
3. A few categorical latents with a factorized q: the ELBO summed over every configuration,
   exact, so that its gradient is the truth that the estimators above are compared with.

Three estimates of that gradient from S draws (``score_function_estimate``,
``gumbel_softmax_estimate``, ``straight_through_estimate``) share one signature, take the same
``log_joint`` as ``enumerated_elbo``, and are compared with ``exact_gradient`` by
``bias_and_variance``.

All log-densities are in nats. Random draws take ``generator`` (``vaebook.randomness``).

Letters here and in chapter 11 of the book: J latents here are the book's K discrete latents
z_1..z_K; C categories are its |𝒱| values; the Gumbel noise G is its ε; ``temperature`` is its t;
``logits`` are its λ_j; the relaxed draw y is its z̃_j. For vector quantization, the encoder
output z_e is its h_φ(x)_j, a code vector e_m is its 𝐛, and K (the width of a code vector, 16 in
the book) has no symbol in the book.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaebook.checks import (
    check_finite,
    check_positive_int,
    check_real,
    check_same_device,
    check_tensor,
    check_values,
    checked,
)

# The most configurations ``enumerated_elbo`` sums over (as many as 16 binary latents).
MAX_CONFIGURATIONS = 2**16


def _check_logits(logits: object, name: str = "logits") -> Tensor:
    logits = check_tensor(logits, name)
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"{name} must have a last dimension indexing the categories, (..., C) with "
                         f"C >= 1, got shape {tuple(logits.shape)}.")
    check_finite(logits, name)
    return logits


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}; "
                        f"make one with vaebook.randomness.seeded_generator(seed).")


def _check_sampler(logits: object, temperature: object, n_samples: object, generator: object,
                   hard: object) -> None:
    _check_logits(logits)
    check_real(temperature, "temperature")
    check_positive_int(n_samples, "n_samples")
    _check_generator(generator)
    if not isinstance(hard, bool):
        raise TypeError(f"hard must be True or False, got {hard!r}.")


@checked(_check_sampler)
def gumbel_softmax_sample(logits: Tensor, temperature: float, n_samples: int = 1,
                          generator: torch.Generator | None = None, hard: bool = False) -> Tensor:
    """Draws of the concrete (Gumbel-softmax) distribution: y = softmax((logits + G) / temperature)
    over the last dimension, G_c = −log(−log U_c) independent standard Gumbel noise.

    logits: (..., C), unnormalized log-probabilities of a categorical (any additive constant per
    row gives the same draws); temperature > 0 (a float). Returns (n_samples, ..., C): points of
    the simplex (positive, each row summing to 1), differentiable in ``logits``; each draw has
    noise of its own. As the temperature falls the draws approach one-hot vectors, and their
    gradients (which scale as 1 / temperature) grow larger and noisier.

    ``hard=True``: the one-hot vector of the argmax (exactly 0s and a 1: the categorical draw of
    the Gumbel-max trick) in the forward pass, and the relaxed draw's gradient in the backward
    pass (straight-through Gumbel-softmax, Jang et al., 2017), a biased gradient.

    The uniforms U are drawn on ``generator``'s device (the logits' for ``None``, which draws
    from the global generator), so a seeded generator gives the same draws whatever the logits'
    device, and then moved to the logits' device.
    """
    shape = (n_samples, *logits.shape)
    device = logits.device if generator is None else generator.device
    u = torch.rand(shape, generator=generator, device=device, dtype=logits.dtype).to(logits.device)
    # rand is in [0, 1): U = 0 would give G = −inf; the smallest normal number gives a finite G.
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))
    scores = logits + gumbel
    y = torch.softmax(scores / temperature, dim=-1)
    if not hard:
        return y
    one_hot = F.one_hot(scores.argmax(-1), logits.shape[-1]).to(y.dtype)
    # y − y.detach() is exactly 0, so the forward value is exactly one-hot; its gradient is y's.
    return one_hot + (y - y.detach())


def _check_concrete(y: object, logits: object, temperature: object) -> None:
    _check_logits(logits)
    y = _check_logits(y, "y")
    check_real(temperature, "temperature")
    if y.shape[-1] != logits.shape[-1]:
        raise ValueError(f"y and logits must have the same number of categories (last dimension), got "
                         f"shapes {tuple(y.shape)} and {tuple(logits.shape)}.")
    try:
        torch.broadcast_shapes(y.shape, logits.shape)
    except RuntimeError:
        raise ValueError(f"the shapes do not broadcast together: y {tuple(y.shape)}, logits "
                         f"{tuple(logits.shape)}.") from None
    if not (y > 0).all():
        raise ValueError(f"y must lie inside the simplex, every value > 0, got {int((y <= 0).sum())} "
                         f"values <= 0; a draw at a low temperature can round to 0 (draw in float64 "
                         f"or at a higher temperature).")
    tolerance = 16 * y.shape[-1] * torch.finfo(y.dtype).eps
    gap = (y.sum(-1) - 1).abs().max().item()
    if gap > tolerance:
        raise ValueError(f"y must lie on the simplex, each row summing to 1, but a row is off by {gap:.3g} "
                         f"(more than {tolerance:.3g}); normalize it with y / y.sum(-1, keepdim=True).")


@checked(_check_concrete)
def concrete_log_prob(y: Tensor, logits: Tensor, temperature: float) -> Tensor:
    """log p(y) of the concrete distribution with ``logits`` and ``temperature`` at a point y of
    the simplex (Maddison et al., 2017, their eq. 4), in nats:

        log p(y) = log Γ(C) + (C − 1) log temperature
                   + Σ_c [logits_c − (temperature + 1) log y_c]
                   − C log Σ_c exp(logits_c − temperature · log y_c),

    a density with respect to Lebesgue measure on the first C − 1 coordinates of y (the last one
    is 1 minus their sum), as ``torch.distributions.RelaxedOneHotCategorical.log_prob``; adding
    a constant to a row of logits leaves it unchanged.

    y: (..., C), positive, rows summing to 1; logits: (..., C), broadcastable with y;
    temperature > 0. Returns the broadcast shape without its last dimension.
    """
    c = y.shape[-1]
    log_y = torch.log(y)
    scores = logits - temperature * log_y
    return (math.lgamma(c) + (c - 1) * math.log(temperature) + (scores - log_y).sum(-1)
            - c * torch.logsumexp(scores, dim=-1))


def _check_quantize(z_e: object, codebook: object) -> None:
    codebook = check_tensor(codebook, "codebook")
    if codebook.ndim != 2 or 0 in codebook.shape:
        raise ValueError(f"codebook must have shape (n_codes, K), at least one code of at least one "
                         f"value, got shape {tuple(codebook.shape)}.")
    k = codebook.shape[1]
    z_e = check_tensor(z_e, "z_e")
    if z_e.ndim == 0 or z_e.shape[-1] != k or z_e.numel() == 0:
        raise ValueError(f"z_e must have shape (..., {k}), at least one vector as long as the "
                         f"codebook's, got shape {tuple(z_e.shape)}.")
    if z_e.dtype != codebook.dtype:
        raise TypeError(f"z_e has dtype {z_e.dtype} but the codebook is {codebook.dtype}; use "
                        f"z_e.to({codebook.dtype}) (or convert the quantizer).")
    check_same_device(z_e, codebook.device, "z_e")
    check_finite(z_e, "z_e")
    check_finite(codebook, "codebook")


@checked(_check_quantize)
def quantize(z_e: Tensor, codebook: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Vector quantization of encoder outputs z_e against ``codebook`` (van den Oord et al., 2017).

    z_e: (..., K), one or more vectors; codebook: (n_codes, K), one code vector e_m per row.
    Returns, with m(z_e) = argmin_m ||z_e − e_m||² (the first such m on a tie):

    - z_q: (..., K), the nearest code vector e_m(z_e), exactly, in the forward pass, and the
      identity in the backward pass: the gradient a downstream loss sends to z_q goes to z_e
      unchanged (straight-through), none of it to the codebook. Written z_q + (z_e − sg[z_e]),
      sg = stop-gradient, which has the gradient of the paper's z_e + sg[z_q − z_e] and, unlike
      it, the exact value z_q.
    - indices: (...,), int64, the m(z_e).
    - codebook_loss: (...,), ||sg[z_e] − e_m(z_e)||², summed over the K coordinates: its gradient
      moves only the chosen code vectors, towards the encoder outputs assigned to them.
    - commitment_loss: (...,), ||z_e − sg[e_m(z_e)]||², summed over K: the same number, but its
      gradient reaches only z_e, pulling it towards its code.

    The VQ-VAE's loss for one image adds −log p(x | z_q), the codebook loss and a weight (0.25
    in the paper) times the commitment loss, each summed over the image's code positions; average
    it over the batch. Distances come from ``torch.cdist`` computed directly, not through the
    matrix-product expansion ||a||² − 2a·b + ||b||², which loses digits and can pick the wrong
    code between near neighbours in float32.
    """
    k = codebook.shape[1]
    flat = z_e.reshape(-1, k)
    with torch.no_grad():
        distances = torch.cdist(flat, codebook, compute_mode="donot_use_mm_for_euclid_dist")
        indices = distances.argmin(1).reshape(z_e.shape[:-1])
    chosen = codebook[indices]  # (..., K), differentiable in the codebook
    z_q = chosen.detach() + (z_e - z_e.detach())
    codebook_loss = ((z_e.detach() - chosen) ** 2).sum(-1)
    commitment_loss = ((z_e - chosen.detach()) ** 2).sum(-1)
    return z_q, indices, codebook_loss, commitment_loss


class VectorQuantizer(nn.Module):
    """A codebook of ``n_codes`` vectors in R^K (``latent_dim`` = K) that rounds each encoder
    output to its nearest code (``quantize``): ``forward(z_e)`` returns (z_q, indices,
    codebook_loss, commitment_loss) as ``quantize`` does. A code carries log n_codes nats.

    The codebook (``self.codebook``, a parameter of shape (n_codes, K)) starts uniform on
    [−1/n_codes, 1/n_codes] as in common implementations of the paper, drawn from ``generator``
    (on its device, then kept on the CPU; move the quantizer with its model).
    """

    def __init__(self, n_codes: int, latent_dim: int, generator: torch.Generator | None = None):
        super().__init__()
        self.n_codes = check_positive_int(n_codes, "n_codes")
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        _check_generator(generator)
        device = "cpu" if generator is None else generator.device
        u = torch.rand(self.n_codes, self.latent_dim, generator=generator, device=device).cpu()
        self.codebook = nn.Parameter((2 * u - 1) / self.n_codes)

    def forward(self, z_e: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """z_e: (..., K) -> z_q: (..., K), indices: (...,), codebook_loss: (...,),
        commitment_loss: (...,) (see ``quantize``)."""
        return quantize(z_e, self.codebook)


def _check_usage(indices: object, n_codes: object) -> None:
    n_codes = check_positive_int(n_codes, "n_codes")
    if not isinstance(indices, Tensor):
        raise TypeError(f"indices must be a torch.Tensor of code indices, got {type(indices).__name__}; "
                        f"convert it with torch.as_tensor(indices, dtype=torch.long).")
    if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
        raise TypeError(f"indices must hold integer code indices, got dtype {indices.dtype}; use "
                        f"indices.long().")
    if indices.numel() == 0:
        raise ValueError("indices is empty; pass the codes of at least one vector.")
    low, high = indices.min().item(), indices.max().item()
    if low < 0 or high >= n_codes:
        raise ValueError(f"indices must lie in [0, n_codes) = [0, {n_codes}), got values from {low} "
                         f"to {high}.")


def _usage(indices: Tensor, n_codes: int) -> Tensor:
    """How often each code is used: (n_codes,), int64."""
    return torch.bincount(indices.reshape(-1).long(), minlength=n_codes)


@checked(_check_usage)
def codebook_perplexity(indices: Tensor, n_codes: int) -> Tensor:
    """exp(H), H = −Σ_m P_m log P_m the entropy (in nats) of the codes' empirical frequencies
    P_m = (number of indices equal to m) / (number of indices): the number of equally used codes
    that would have the same entropy. n_codes when every code is used equally often, 1 when
    one code takes every vector.

    indices: any shape, integers in [0, n_codes) (``quantize``'s, or the argmax of Gumbel-softmax
    draws), pooled. Returns a 0-dim tensor of the default float dtype.
    """
    frequencies = _usage(indices, n_codes).double() / indices.numel()
    entropy = torch.special.entr(frequencies).sum()  # entr(P) = −P log P, and 0 at P = 0
    return entropy.exp().to(torch.get_default_dtype())


@checked(_check_usage)
def dead_codes(indices: Tensor, n_codes: int) -> Tensor:
    """How many of the ``n_codes`` codes no index uses. indices: any shape, integers in
    [0, n_codes), pooled. Returns a 0-dim int64 tensor."""
    return (_usage(indices, n_codes) == 0).sum()


def _check_count(n_latents: int, n_categories: int, what: str) -> None:
    count = n_categories**n_latents
    if count > MAX_CONFIGURATIONS:
        raise ValueError(f"{what} {n_latents} latents with {n_categories} values each, {n_categories}^"
                         f"{n_latents} = {count} configurations, more than the {MAX_CONFIGURATIONS} this "
                         f"enumeration allows; use fewer latents or fewer values.")


def _check_configurations(n_latents: object, n_categories: object, **_) -> None:
    j = check_positive_int(n_latents, "n_latents")
    c = check_positive_int(n_categories, "n_categories")
    _check_count(j, c, "n_latents and n_categories ask for")


@checked(_check_configurations)
def one_hot_configurations(n_latents: int, n_categories: int, dtype: torch.dtype | None = None,
                           device: torch.device | str | None = None) -> Tensor:
    """Every configuration of ``n_latents`` = J categorical latents with ``n_categories`` = C
    values each, one-hot: (C^J, J, C) of ``dtype`` (default: the default float dtype), in
    lexicographic order (the last latent changes fastest). At most ``MAX_CONFIGURATIONS``.

    log p(x) by enumeration is ``torch.logsumexp(log_joint(one_hot_configurations(J, C)), 0)``.
    """
    powers = n_categories ** torch.arange(n_latents - 1, -1, -1, device=device)
    codes = torch.arange(n_categories**n_latents, device=device).unsqueeze(1)
    digits = codes // powers % n_categories  # (C^J, J)
    return F.one_hot(digits, n_categories).to(dtype or torch.get_default_dtype())


def _check_enumerated(log_joint: object, logits: object) -> None:
    if not callable(log_joint):
        raise TypeError(f"log_joint must be a function from configurations z: (C^J, J, C) to "
                        f"log p(x, z), got {type(log_joint).__name__}.")
    logits = _check_logits(logits)
    if logits.ndim not in (2, 3) or logits.shape[-2] == 0:
        raise ValueError(f"logits must have shape (J, C), J >= 1 latents with C categories each, or "
                         f"(B, J, C) for a batch, got shape {tuple(logits.shape)}.")
    _check_count(logits.shape[-2], logits.shape[-1], f"logits of shape {tuple(logits.shape)} describe")


@checked(_check_enumerated)
def enumerated_elbo(log_joint: Callable[[Tensor], Tensor], logits: Tensor) -> Tensor:
    """The exact ELBO of J categorical latents under the factorized q(z) = Π_j Cat(z_j;
    softmax(logits_j)), summed over all C^J configurations:

        L = Σ_z q(z) [log p(x, z) − log q(z)],

    differentiable (by autograd, exactly) in ``logits`` and in whatever ``log_joint`` depends on
    (a decoder's weights): the true gradient that a Gumbel-softmax or score-function estimate
    approximates.

    logits: (J, C) for one x, or (B, J, C) for a batch of B data points. ``log_joint`` maps the
    one-hot configurations z: (C^J, J, C) (``one_hot_configurations``, logits' dtype and device)
    to log p(x, z): (C^J,), or (C^J, B) for a batch, in nats; it may take relaxed draws (C^J
    replaced by a number of samples) as well. Returns a 0-dim tensor, or (B,).
    """
    n_latents, n_categories = logits.shape[-2:]
    z = one_hot_configurations(n_latents, n_categories, logits.dtype, logits.device)
    log_q = torch.einsum("njc,...jc->n...", z, torch.log_softmax(logits, dim=-1))  # (C^J, [B])
    values = check_values(log_joint(z), tuple(log_q.shape), "log_joint")
    return (log_q.exp() * (values - log_q)).sum(0)


def _check_latent_logits(logits: object) -> None:
    logits = _check_logits(logits)
    if logits.ndim < 2:
        raise ValueError(f"logits must have shape (..., J, C), J latents with C categories each, got "
                         f"shape {tuple(logits.shape)}.")


@checked(_check_latent_logits)
def categorical_kl_uniform(logits: Tensor) -> Tensor:
    """KL(q || p) of J independent categoricals q_j = softmax(logits_j) from the uniform prior
    p(z_j = c) = 1/C, in closed form, in nats:

        KL = Σ_j [Σ_c q_jc log q_jc + log C].

    logits: (..., J, C). Returns (...,). 0 when every q_j is uniform, J log C when one-hot.
    """
    log_q = torch.log_softmax(logits, dim=-1)
    return (log_q.exp() * log_q).sum((-1, -2)) + logits.shape[-2] * math.log(logits.shape[-1])


# --- gradient estimates of the enumerated ELBO -------------------------------------------------

def _check_estimate(log_joint: object, logits: object, n_samples: object, generator: object,
                    temperature: object = None, **_) -> None:
    if not callable(log_joint):
        raise TypeError(f"log_joint must be a function from configurations z: (S, J, C) to "
                        f"log p(x, z): (S,), got {type(log_joint).__name__}.")
    logits = _check_logits(logits)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must have shape (J, C), J >= 1 latents with C categories each, got "
                         f"shape {tuple(logits.shape)}.")
    check_positive_int(n_samples, "n_samples")
    _check_generator(generator)
    if temperature is not None:
        check_real(temperature, "temperature")


def _check_score_estimate(n_samples: object, **arguments: object) -> None:
    _check_estimate(n_samples=n_samples, **arguments)
    if n_samples < 2:
        raise ValueError(f"the leave-one-out baseline of each sample is the mean of the other samples: "
                         f"use n_samples >= 2, got {n_samples}.")


def _leaf(logits: Tensor) -> Tensor:
    """A copy of the logits to differentiate with respect to, whatever the caller's tensor is."""
    return logits.detach().clone().requires_grad_()


def _relaxed_objective(log_joint: Callable[[Tensor], Tensor], y: Tensor, logits: Tensor) -> Tensor:
    """1/S Σ_s [log p(x, y_s) − Σ_jc y_sjc log softmax(logits)_jc] for draws y: (S, J, C)."""
    log_q = (y * torch.log_softmax(logits, dim=-1)).sum((-1, -2))
    return (check_values(log_joint(y), (len(y),), "log_joint") - log_q).mean()


@checked(_check_score_estimate)
def score_function_estimate(log_joint: Callable[[Tensor], Tensor], logits: Tensor, n_samples: int,
                            generator: torch.Generator | None = None) -> Tensor:
    """A score-function (REINFORCE) estimate of ∇ L, the gradient of the ELBO with respect to the
    logits of q(z) = Π_j Cat(z_j; softmax(logits_j)), from S = ``n_samples`` exact draws z_s ~ q:

        ĝ = 1/S Σ_s (f_s − b_s) u_s,   f_s = log p(x, z_s) − log q(z_s),
        u_s = ∇ log q(z_s) = z_s − softmax(logits),   b_s = 1/(S − 1) Σ_{t≠s} f_t.

    The leave-one-out baseline b_s does not depend on z_s, so E[b_s u_s] = E[b_s] E[u_s] = 0 and
    ĝ is unbiased; it removes most of the variance that the offset of f brings (S ≥ 2). The
    term E[∇(−log q(z))] = −E[u] that f's own dependence on the logits adds is zero and left out.

    ``log_joint`` maps one-hot z: (S, J, C) to log p(x, z): (S,), as for ``enumerated_elbo``;
    logits: (J, C). Draws come from ``generator``. Returns ĝ: (J, C), not part of any graph.
    """
    z = gumbel_softmax_sample(logits.detach(), 1.0, n_samples, generator, hard=True).detach()
    with torch.no_grad():
        log_p = torch.log_softmax(logits, dim=-1)
        f = check_values(log_joint(z), (n_samples,), "log_joint") - (z * log_p).sum((-1, -2))
        baseline = (f.sum() - f) / (n_samples - 1)
        scores = z - log_p.exp()
        return torch.einsum("s,sjc->jc", f - baseline, scores) / n_samples


@checked(_check_estimate)
def gumbel_softmax_estimate(log_joint: Callable[[Tensor], Tensor], logits: Tensor, n_samples: int,
                            temperature: float, generator: torch.Generator | None = None) -> Tensor:
    """A Gumbel-softmax (concrete, reparameterized) estimate of ∇ L with respect to the logits of
    q(z) = Π_j Cat(z_j; softmax(logits_j)): the gradient of the relaxed objective

        L̂_τ = 1/S Σ_s [log p(x, y_s) − Σ_jc y_sjc log softmax(logits)_jc],
        y_s = softmax((logits + G_s) / τ)   (``gumbel_softmax_sample``, τ = ``temperature``),

    with respect to the logits through the draws y_s: (S, J, C) as well.

    Which log q at a relaxed point: the categorical's, Σ_c y_c log q_c, linear in y, as the
    common Gumbel-softmax VAE code does. It is what ``log_joint`` does with y too (a categorical
    prior Σ_c y_c log p_c), so log p − log q is scored on the same footing, and L̂_τ becomes the
    discrete ELBO's integrand as τ → 0. The concrete density (``concrete_log_prob``) would
    score q as a density on the simplex against a log p that is not one, and it grows without
    bound as τ → 0. Either way the estimate is biased for ∇ L: it is the exact gradient of
    E[L̂_τ], which is not L; the bias shrinks with τ while the variance grows (as 1/τ).

    ``log_joint`` must accept relaxed draws y: (S, J, C), points of the simplex, and be
    differentiable in them; logits: (J, C); temperature > 0. Returns ĝ: (J, C), not part of
    any graph.
    """
    leaf = _leaf(logits)
    y = gumbel_softmax_sample(leaf, temperature, n_samples, generator)
    (grad,) = torch.autograd.grad(_relaxed_objective(log_joint, y, leaf), leaf)
    return grad


@checked(_check_estimate)
def straight_through_estimate(log_joint: Callable[[Tensor], Tensor], logits: Tensor, n_samples: int,
                              temperature: float, generator: torch.Generator | None = None) -> Tensor:
    """A straight-through Gumbel-softmax estimate of ∇ L with respect to the logits (Jang et al.,
    2017; Bengio et al., 2013): the objective of ``gumbel_softmax_estimate`` evaluated at the
    one-hot z_s = one_hot(argmax y_s), exact draws of q, so its value is an unbiased estimate of
    L itself; its gradient is taken as if z_s were the relaxed y_s (``gumbel_softmax_sample``
    with ``hard=True``):

        ĝ = 1/S Σ_s [(∂y_s/∂logits)ᵀ ∇_z f(z_s) − (z_s − softmax(logits))],
        f(z) = log p(x, z) − Σ_jc z_jc log softmax(logits)_jc,

    with ∂y_sc/∂logits_k = y_sc (δ_ck − y_sk) / τ within each latent. Biased at every τ.

    ``log_joint`` takes one-hot z: (S, J, C) and must be differentiable in z (the gradient at a
    corner of the simplex is what is used); logits: (J, C); temperature > 0. Returns ĝ: (J, C),
    not part of any graph.
    """
    leaf = _leaf(logits)
    z = gumbel_softmax_sample(leaf, temperature, n_samples, generator, hard=True)
    (grad,) = torch.autograd.grad(_relaxed_objective(log_joint, z, leaf), leaf)
    return grad


def _check_exact(log_joint: object, logits: object) -> None:
    _check_estimate(log_joint, logits, 1, None)
    _check_count(logits.shape[-2], logits.shape[-1], f"logits of shape {tuple(logits.shape)} describe")


@checked(_check_exact)
def exact_gradient(log_joint: Callable[[Tensor], Tensor], logits: Tensor) -> Tensor:
    """∇ L, the exact gradient of the ELBO (``enumerated_elbo``) with respect to the logits of
    q(z) = Π_j Cat(z_j; softmax(logits_j)), by autograd through the sum over all C^J
    configurations: the truth the estimates are compared with. ``log_joint`` as for
    ``enumerated_elbo``; logits: (J, C). Returns (J, C), not part of any graph."""
    leaf = _leaf(logits)
    (grad,) = torch.autograd.grad(enumerated_elbo(log_joint, leaf), leaf)
    return grad


class EstimatorError(NamedTuple):
    """How far N gradient estimates ĝ_n are from the exact gradient g (``bias_and_variance``)."""

    bias: float  #: ||mean_n ĝ_n − g||, the Euclidean norm over all components
    bias_noise: float  #: sqrt(Σ_i Var_i / N): the size ``bias`` has from noise alone when unbiased
    variance: float  #: the mean over components i of the sample variance Var_i of ĝ_ni
    variance_se: float  #: the standard error of ``variance``


def _check_errors(estimates: object, exact: object) -> None:
    estimates, exact = check_tensor(estimates, "estimates"), check_tensor(exact, "exact")
    if estimates.ndim < 1 or len(estimates) < 2 or estimates.shape[1:] != exact.shape:
        raise ValueError(f"estimates must be (N, *exact.shape), N >= 2 estimates of a gradient of shape "
                         f"{tuple(exact.shape)}, stacked along a first dimension; got shape "
                         f"{tuple(estimates.shape)}.")
    check_finite(estimates, "estimates")
    check_finite(exact, "exact")


@checked(_check_errors)
def bias_and_variance(estimates: Tensor, exact: Tensor) -> EstimatorError:
    """The bias and variance of a gradient estimator, from N independent estimates ĝ_n (each of
    the shape of the exact gradient g) stacked as ``estimates``: (N, ...); ``exact``: (...).

        bias = ||ḡ − g||,   ḡ = 1/N Σ_n ĝ_n;   variance = 1/P Σ_i Var_i (P components),

    Var_i the sample variance (divisor N − 1). ``bias_noise`` = sqrt(Σ_i Var_i / N) is the
    root-mean-square size of ||ḡ − g|| for an unbiased estimator: a bias several times it is
    real. ``variance_se`` is the standard error of ``variance``, from the spread over n of
    v_n = 1/P Σ_i (ĝ_ni − ḡ_i)². Returns an ``EstimatorError`` of floats.
    """
    n = len(estimates)
    flat = estimates.reshape(n, -1).double()
    mean = flat.mean(0)
    squares = ((flat - mean) ** 2).mean(1) * n / (n - 1)  # v_n, unbiased on average
    variances = flat.var(0)
    return EstimatorError(bias=(mean - exact.reshape(-1).double()).norm().item(),
                          bias_noise=(variances.sum() / n).sqrt().item(),
                          variance=variances.mean().item(),
                          variance_se=(squares.std() / math.sqrt(n)).item())
