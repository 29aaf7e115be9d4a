"""The models' objectives: the VAE's ELBO (one implementation, for every prior and likelihood,
β-weighted and conditional too), its rate and distortion, and the training losses built from it
(free bits too), from the reconstruction likelihoods, from class labels, and for the two VAEs with
discrete codes (categorical latents by Gumbel-softmax or straight-through, and the VQ-VAE).

A *loss* is a scalar mean over the batch, ready for ``.backward()``, with the signature
``loss(model, x, generator=None)``; a loss of labelled data also takes ``labels=`` (B,) class
indices. ``generator`` feeds whatever the loss draws (z, noise), see ``vaebook.randomness``. Each
loss is ``Checked``: a direct call checks the model's class and the data (shape, dtype, device,
finite, in [0, 1]); ``training.train`` checks all the data once and then calls the loss on
every batch inside ``checks.trusted()``, which skips the checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaebook.checks import (
    Checked,
    check_finite,
    check_labels,
    check_model,
    check_positive_int,
    check_real,
    checked,
)
from vaebook.corruption import gaussian_noise
from vaebook.densities import kl_standard_normal, log_bernoulli
from vaebook.discrete import categorical_kl_uniform, gumbel_softmax_sample
from vaebook.distributions import StandardNormalPrior
from vaebook.flows import planar_parameter_count
from vaebook.models import VAE, VQVAE, Autoencoder, CategoricalVAE, Classifier, ConditionalVAE, check_input

LN2 = math.log(2)  # nats per bit
Loss = Callable[[nn.Module, Tensor, torch.Generator | None], Tensor]
WHY = {VAE: "the ELBO needs an encoder that outputs μ and log σ²",
       Autoencoder: "this loss reconstructs x from a deterministic code",
       Classifier: "this loss scores class logits against labels",
       ConditionalVAE: "this loss encodes and decodes each image with its class label",
       CategoricalVAE: "this loss needs an encoder that outputs the logits of categorical latents",
       VQVAE: "this loss rounds the encoder's vectors to a codebook"}


def check_model_and_data(model: object, x: object, cls: type[nn.Module], name: str = "x") -> None:
    """The checks of a loss: ``model`` is a ``cls``, and ``x`` is data for it, in [0, 1]."""
    check_model(model, cls, "model", WHY[cls])
    check_input(model, x, name, values=True)


def check_posterior_per_image(model: VAE, x: Tensor, parts: object, name: str) -> None:
    """Check that ``parts`` is a q for each row of x, as ``VAE.encode_posterior`` gives it: a
    Gaussian (μ, log σ²), two finite (len(x), K) tensors in the model's dtype, on its device,
    and for a model with a flow the flow's parameters, (len(x), T (2K + 1)), too."""
    k, layers = model.latent_dim, model.flow_layers
    names, widths = ["mu", "logvar"], [k, k]
    if layers:
        names.append("flow parameters")
        widths.append(planar_parameter_count(k, layers))
    if not isinstance(parts, tuple) or len(parts) != len(names):
        raise TypeError(f"{name} must be a tuple ({', '.join(names)}) of per-image values, as "
                        f"encode_posterior returns it; got {type(parts).__name__}"
                        f"{f' of {len(parts)}' if isinstance(parts, tuple) else ''}.")
    for part, width, value in zip(names, widths, parts, strict=True):
        check_input(model, value, f"{name}'s {part}", width)
        if len(value) != len(x):
            raise ValueError(f"{name}'s {part} must have one row per image, shape ({len(x)}, "
                             f"{width}), got {tuple(value.shape)}.")
        check_finite(value, f"{name}'s {part}")


def _check_elbo(model: object, x: object, n_samples: int, posterior: object, beta: object,
                labels: object, **_) -> None:
    if isinstance(model, ConditionalVAE):
        check_model_and_data(model, x, ConditionalVAE)
        check_labels(labels, len(x), model.classes)
    else:
        check_model_and_data(model, x, VAE)
        if labels is not None:
            raise TypeError("labels are for a ConditionalVAE; a VAE's ELBO takes none.")
    check_positive_int(n_samples, "n_samples")
    check_real(beta, "beta", 0.0, float("inf"), include_low=True)
    if posterior is not None:
        check_posterior_per_image(model, x, posterior, "posterior")


def draw_and_decode(model: VAE | ConditionalVAE, x: Tensor, n_samples: int = 1,
                    generator: torch.Generator | None = None, *,
                    posterior: tuple[Tensor, ...] | None = None,
                    labels: Tensor | None = None
                    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The step that every bound of the book shares: q = N(μ, diag σ²) (the encoder's, or the
    given per-image ``posterior``), S = ``n_samples`` reparameterized draws z_s = μ + σ ⊙ ε_s
    (pushed through the encoder's planar flow when the VAE has one), and the decoder's output
    for each. The label y of a ``ConditionalVAE`` is the conditioning input of both networks.
    Returns (decoder output (S, B, D), z (S, B, K), log q(z_s | x) (S, B), μ (B, K),
    log σ² (B, K)).
    """
    condition = {} if labels is None else {"labels": labels}
    z, log_q, mu, logvar = model.draw_posterior(x, n_samples, generator, posterior, **condition)
    return model.decode_logits(z, *condition.values()), z, log_q, mu, logvar


def log_density_terms(model: VAE | ConditionalVAE, x: Tensor, params: Tensor, z: Tensor,
                      log_q: Tensor, *_: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The three log-densities every bound of the book is built from, for the draws of
    ``draw_and_decode`` (z (S, B, K), their log q (S, B), the decoder's output ``params``):
    (log p_θ(x | z_s), log p(z_s), log q(z_s | x)), each (S, B). The ELBO averages the first and
    the difference of the other two; an importance weight adds them, log w_s =
    log p_θ(x | z_s) + log p(z_s) − log q(z_s | x)."""
    return model.likelihood.log_prob(x, params), model.prior.log_prob(z), log_q


@checked(_check_elbo)
def elbo(model: VAE | ConditionalVAE, x: Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
         posterior: tuple[Tensor, ...] | None = None, *, beta: float = 1.0,
         labels: Tensor | None = None) -> Tensor:
    """The Monte Carlo ELBO of the model's likelihood and prior, with the KL weighted by β:

        L̂^β(θ, φ; x) = 1/S Σ_s log p_θ(x | z_s) − β KL(q || p),   z_s = μ + σ ⊙ ε_s.

    q is the encoder's q_φ(z | x), or the per-image ``posterior`` when given, shaped as
    ``VAE.encode_posterior`` returns it: (μ, log σ²), each (B, K), and a flow's parameters for a
    model with a flow (black-box VI refines it, ``vi.refine_posterior``). The KL is the prior's
    closed form when it has one (the standard normal) and q is Gaussian (no flow); otherwise it
    is estimated by Monte Carlo from the same draws, 1/S Σ_s [log q(z_s) − log p(z_s)],
    unbiased but noisy. β = 1 is the ELBO (Higgins et al., 2017 weight it). For a
    ``ConditionalVAE``, ``labels`` (B,) are the classes y that condition both networks (the
    prior does not depend on y). x: (B, D) in [0, 1]. Returns (B,), in nats; differentiable in
    θ, φ, the prior's parameters and the given posterior's parts.
    """
    fit, kl = _fit_and_kl(model, x, n_samples, generator, posterior, labels)
    return fit - beta * kl


def _fit_and_kl(model: VAE | ConditionalVAE, x: Tensor, n_samples: int, generator: torch.Generator | None,
                posterior: tuple[Tensor, ...] | None = None, labels: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
    """The ELBO's two terms from the same S draws: 1/S Σ_s log p_θ(x | z_s) and KL(q || p), the
    latter in closed form when the prior has one and q is Gaussian, else 1/S Σ_s [log q(z_s) −
    log p(z_s)]. Each (B,)."""
    draws = draw_and_decode(model, x, n_samples, generator, posterior=posterior, labels=labels)
    params, _, _, mu, logvar = draws
    kl = None if model.flow_layers else model.prior.kl(mu, logvar)
    if kl is not None:  # the closed form: the prior's and q's log-densities are not needed
        return model.likelihood.log_prob(x, params).mean(0), kl
    log_likelihood, log_prior, log_q = log_density_terms(model, x, *draws)
    return log_likelihood.mean(0), (log_q - log_prior).mean(0)


def _check_rate_distortion(model: object, x: object, n_samples: object, generator: object) -> None:
    check_model_and_data(model, x, CategoricalVAE if isinstance(model, CategoricalVAE) else VAE)
    check_positive_int(n_samples, "n_samples")


@checked(_check_rate_distortion)
def rate_distortion(model: VAE | CategoricalVAE, x: Tensor, n_samples: int = 1,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Rate and distortion of each image, in bits (Alemi et al., 2018): the ELBO's two terms,

        R = KL(q_φ(z | x) || p(z)) / ln 2,   D = −1/S Σ_s log p_θ(x | z_s) / ln 2,

    from S = ``n_samples`` draws z_s ~ q_φ(z | x), so that R + D = −L̂ / ln 2 with ``elbo``'s L̂
    (``categorical_elbo``'s for a ``CategoricalVAE``) for the same draws (the same ``generator``
    state). The KL is in closed form for the standard normal prior and the categorical's uniform
    one (a Monte Carlo estimate from the same draws otherwise, as in ``elbo``). x: (B, D) in
    [0, 1]. Returns (R, D), each (B,)."""
    terms = _categorical_terms if isinstance(model, CategoricalVAE) else _fit_and_kl
    fit, kl = terms(model, x, n_samples, generator)
    return kl / LN2, -fit / LN2


def _checked_loss(cls: type[nn.Module], labelled: bool = False) -> Callable[[Loss], Checked]:
    """The decorator that checks a loss's model (an instance of ``cls``) and data once, and its
    ``labels`` too when the loss is ``labelled``."""
    def check(model: object, x: object, *_, labels: object = None, **__) -> None:
        check_model_and_data(model, x, cls)
        if labelled:
            check_labels(labels, len(x), model.classes)
    return checked(check)


@_checked_loss(VAE)
def vae_loss(model: VAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The VAE's training loss −L(θ, φ; x) (``elbo``, one z per image), averaged over the batch,
    for whatever prior and likelihood the model has. x: (B, D) in [0, 1]."""
    return -elbo(model, x, 1, generator).mean()


def beta_vae_loss(beta: float) -> Checked:
    """The β-VAE's loss −L^β (Higgins et al., 2017): ``elbo`` with its KL weighted by β ≥ 0, one
    z per image, averaged over the batch. β = 0 leaves the reconstruction term alone, β = 1 is
    ``vae_loss``. Returns the loss ``(model, x, generator=None)``."""
    weight = check_real(beta, "beta", 0.0, float("inf"), include_low=True)

    @_checked_loss(VAE)
    def loss(model: VAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return -elbo(model, x, 1, generator, beta=weight).mean()

    return loss


def _check_free_bits(model: object, x: object, *_, **__) -> None:
    check_model_and_data(model, x, VAE)
    if not isinstance(model.prior, StandardNormalPrior) or model.flow_layers:
        raise TypeError(f"free bits need each latent unit's KL in closed form: a VAE with the standard "
                        f"normal prior and no flow, got a {type(model.prior).__name__} prior and "
                        f"{model.flow_layers} flow layers.")


def free_bits_loss(nats_per_unit: float) -> Checked:
    """The free-bits loss (Kingma et al., 2016, IAF paper, Appendix C.8): the reconstruction term of
    −L plus, for each latent unit j, its KL averaged over the minibatch of B images, but never
    less than the allowance ``nats_per_unit`` (written λ in the paper, a letter this book keeps
    for variational parameters) ≥ 0:

        loss = −1/B Σ_b log p_θ(x_b | z_b) + Σ_j max(λ, 1/B Σ_b KL_bj),
        KL_bj = ½ (μ_bj² + σ_bj² − 1 − log σ_bj²),   z_b ~ q_φ(z | x_b) (one draw, as ``vae_loss``).

    A unit whose minibatch KL is below λ gets no gradient from the KL term, so the encoder may
    spend up to λ nats on it for free; 0 is ``vae_loss``, and the loss is never below it. Needs
    the standard normal prior and no flow (the per-unit KL in closed form). Returns the loss
    ``(model, x, generator=None)``, a scalar."""
    allowance = check_real(nats_per_unit, "nats_per_unit", 0.0, float("inf"), include_low=True)

    @checked(_check_free_bits)
    def loss(model: VAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        params, _, _, mu, logvar = draw_and_decode(model, x, 1, generator)
        fit = model.likelihood.log_prob(x, params).mean()
        # each unit as a vector of its own: kl_standard_normal sums over a last dimension of one
        kl_units = kl_standard_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(0)  # (K,)
        return -fit + kl_units.clamp_min(allowance).sum()

    return loss


@_checked_loss(Autoencoder)
def bce_loss(model: Autoencoder, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Binary cross-entropy of the reconstruction, −Σ_d log p(x_d | x̂_d), averaged over the
    batch. x: (B, D) in [0, 1]; ``generator`` is not used (the loss draws nothing)."""
    return -log_bernoulli(x, model(x)).mean()


@_checked_loss(Autoencoder)
def mse_loss(model: Autoencoder, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Squared error of the reconstruction sigmoid(logits), Σ_d (x_d − x̂_d)², averaged over the
    batch. x: (B, D) in [0, 1]; ``generator`` is not used."""
    return ((torch.sigmoid(model(x)) - x) ** 2).sum(-1).mean()


def denoising_bce_loss(noise_std: float) -> Checked:
    """The denoising autoencoder's loss (Vincent et al., 2008) for noise of std ``noise_std``:
    the BCE of the reconstruction of the *clean* x from x̃ = clip(x + N(0, noise_std²), 0, 1),
    averaged over the batch. Returns the loss ``(model, x, generator=None)``; the noise comes
    from ``generator``."""
    std = check_real(noise_std, "noise_std", 0.0, 1.0, include_low=True)

    @_checked_loss(Autoencoder)
    def denoising_loss(model: Autoencoder, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noisy = gaussian_noise(x, std, generator)
        return -log_bernoulli(x, model(noisy)).mean()

    return denoising_loss


@_checked_loss(Classifier, labelled=True)
def cross_entropy_loss(model: Classifier, x: Tensor, generator: torch.Generator | None = None, *,
                       labels: Tensor) -> Tensor:
    """−log p(y | x) of the true class, averaged over the batch: the classifier's loss.
    x: (B, D) in [0, 1]; labels: (B,) class indices; ``generator`` is not used."""
    return F.cross_entropy(model(x), labels)


@_checked_loss(ConditionalVAE, labelled=True)
def conditional_vae_loss(model: ConditionalVAE, x: Tensor, generator: torch.Generator | None = None, *,
                         labels: Tensor) -> Tensor:
    """The conditional VAE's loss −L(θ, φ; x, y) (``elbo`` with ``labels``, one z per image),
    averaged over the batch:

        −L = −log p_θ(x | z, y) + KL(q_φ(z | x, y) || p(z)),   z ~ q_φ(z | x, y).

    x: (B, D) in [0, 1] (binarized, for a Bernoulli likelihood); labels: (B,) class indices."""
    return -elbo(model, x, 1, generator, labels=labels).mean()


# --- VAEs with discrete codes ------------------------------------------------------------------

def _categorical_terms(model: CategoricalVAE, x: Tensor, n_samples: int,
                       generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """1/S Σ_s log p_θ(x | z_s) for S exact one-hot draws z_s ~ q_φ(z | x) (the Gumbel-max trick;
    no gradient reaches the encoder through them), and the closed-form KL to the uniform prior.
    Each (B,)."""
    logits = model.encode(x)
    z = gumbel_softmax_sample(logits, 1.0, n_samples, generator, hard=True).detach()
    return log_bernoulli(x, model.decode_logits(z)).mean(0), categorical_kl_uniform(logits)


def _check_categorical_elbo(model: object, x: object, n_samples: object, **_) -> None:
    check_model_and_data(model, x, CategoricalVAE)
    check_positive_int(n_samples, "n_samples")


@checked(_check_categorical_elbo)
def categorical_elbo(model: CategoricalVAE, x: Tensor, n_samples: int = 1,
                     generator: torch.Generator | None = None) -> Tensor:
    """The ELBO of a ``CategoricalVAE``, to score test images whatever estimator trained it:

        L̂ = 1/S Σ_s log p_θ(x | z_s) − KL(q_φ(z | x) || p(z)),   z_s ~ q_φ(z | x) one-hot,

    with the KL to the uniform prior in closed form (``discrete.categorical_kl_uniform``) and the
    reconstruction term from S = ``n_samples`` exact draws of q (not relaxed): an unbiased
    estimate of L. Its gradient reaches the encoder through the KL only; train with
    ``gumbel_softmax_loss`` or ``straight_through_loss``. x: (B, D) in [0, 1]. Returns (B,), nats.
    """
    fit, kl = _categorical_terms(model, x, n_samples, generator)
    return fit - kl


def _check_temperature_loss(model: object, x: object, *_, **__) -> None:
    check_model_and_data(model, x, CategoricalVAE)


def _relaxed_loss(temperature: float, hard: bool) -> Checked:
    weight = check_real(temperature, "temperature")

    @checked(_check_temperature_loss)
    def loss(model: CategoricalVAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        logits = model.encode(x)
        y = gumbel_softmax_sample(logits, weight, 1, generator, hard=hard)[0]
        return (categorical_kl_uniform(logits) - log_bernoulli(x, model.decode_logits(y))).mean()

    return loss


def gumbel_softmax_loss(temperature: float) -> Checked:
    """The Gumbel-softmax training loss of a ``CategoricalVAE`` (Jang, Gu & Poole, 2017), averaged
    over the batch:

        loss = KL(q_φ(z | x) || p(z)) − log p_θ(x | y),   y = softmax((ℓ_φ(x) + G) / τ),

    one relaxed draw y: (B, J, C) per image (``discrete.gumbel_softmax_sample``, τ =
    ``temperature`` > 0), decoded as it is. The KL is the categorical's closed form, as in the
    paper's code: only the reconstruction term is relaxed, so the estimator is the only thing that
    differs between this loss and ``straight_through_loss``. The relaxation is biased: this is
    not −L, and the decoder learns to read points inside the simplex that it never sees at test
    time (``categorical_elbo`` decodes one-hot codes). Returns the loss ``(model, x,
    generator=None)``."""
    return _relaxed_loss(temperature, hard=False)


def straight_through_loss(temperature: float) -> Checked:
    """The straight-through Gumbel-softmax loss of a ``CategoricalVAE`` (Jang et al., 2017): the
    loss of ``gumbel_softmax_loss`` with the one-hot z = one_hot(argmax y) decoded in the forward
    pass (an exact draw of q, so the value is an unbiased estimate of −L) and y's gradient in the
    backward pass (``gumbel_softmax_sample(..., hard=True)``), a biased gradient. τ =
    ``temperature`` > 0 sets only the backward pass. Returns the loss ``(model, x,
    generator=None)``."""
    return _relaxed_loss(temperature, hard=True)


@_checked_loss(VQVAE)
def vq_vae_loss(model: VQVAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The VQ-VAE's loss (van den Oord et al., 2017), averaged over the batch:

        loss = −log p_θ(x | z_q) + Σ_j ||sg[z_e,j] − e_m(j)||² + w Σ_j ||z_e,j − sg[e_m(j)]||²,

    the Bernoulli reconstruction at the rounded code z_q (its gradient copied straight through to
    z_e), the codebook loss that moves each chosen code towards its encoder vectors, and w =
    ``model.commitment_weight`` times the commitment loss that pulls the encoder's vectors
    towards their codes (``discrete.quantize``), summed over the J positions. x: (B, D) in
    [0, 1]; ``generator`` is not used (the loss draws nothing)."""
    logits, _, codebook_loss, commitment_loss = model(x)
    fit = log_bernoulli(x, logits)
    return (-fit + codebook_loss + model.commitment_weight * commitment_loss).mean()


def _check_vq_rate(model: object, x: object) -> None:
    check_model_and_data(model, x, VQVAE)


@checked(_check_vq_rate)
def vq_rate_distortion(model: VQVAE, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Rates and distortion of each image under a ``VQVAE``, in bits, with m_j(x) the code at
    position j and M = ``model.n_codes``:

    - the rate under a uniform prior on the codes, J log₂ M, the same for every image;
    - the rate under the codes' empirical frequencies in x, position by position,
      −Σ_j log₂ P_j(m_j(x)), P_j(m) = the fraction of the B images whose code at j is m: its
      mean over the batch is Σ_j H(P_j) ≤ J log₂ M, what an entropy code fitted to these images
      would spend (a plug-in estimate, optimistic for a batch much smaller than M^J);
    - the distortion −log₂ p_θ(x | z_q) (the code is deterministic: no draws).

    x: (B, D) in [0, 1]. Returns (uniform rate, empirical rate, distortion), each (B,).
    """
    logits, indices, _, _ = model(x)
    counts = F.one_hot(indices, model.n_codes).sum(0)  # (J, M): each position's code usage
    frequencies = counts.gather(1, indices.T).T / len(x)  # (B, J): P_j(m_j(x))
    uniform = torch.full((len(x),), model.n_latents * math.log2(model.n_codes), dtype=logits.dtype,
                         device=logits.device)
    return uniform, -torch.log2(frequencies).sum(-1).to(logits.dtype), -log_bernoulli(x, logits) / LN2
