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

All log-densities are in nats. Random draws take ``generator`` (``vaebook.randomness``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

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
