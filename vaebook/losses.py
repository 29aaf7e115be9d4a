"""The models' objectives: the VAE's ELBO and the training losses built from it, from the
reconstruction likelihoods, and from class labels.

A *loss* is a scalar mean over the batch, ready for ``.backward()``, with the signature
``loss(model, x, generator=None)``; a loss of labelled data also takes ``labels=`` (B,) class
indices. ``generator`` feeds whatever the loss draws (z, noise), see ``vaebook.randomness``. Each
loss is ``Checked``: a direct call checks the model's class and the data (shape, dtype, device,
finite, in [0, 1]); ``training.train`` checks all the data once and then calls the loss on
every batch inside ``checks.trusted()``, which skips the checks.
"""

from __future__ import annotations

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
from vaebook.densities import kl_standard_normal, log_bernoulli, log_continuous_bernoulli
from vaebook.models import VAE, Autoencoder, Classifier, ConditionalVAE, check_input, reparameterize

Loss = Callable[[nn.Module, Tensor, torch.Generator | None], Tensor]
WHY = {VAE: "the ELBO needs an encoder that outputs μ and log σ²",
       Autoencoder: "this loss reconstructs x from a deterministic code",
       Classifier: "this loss scores class logits against labels",
       ConditionalVAE: "this loss encodes and decodes each image with its class label"}


def check_model_and_data(model: object, x: object, cls: type[nn.Module], name: str = "x") -> None:
    """The checks of a loss: ``model`` is a ``cls``, and ``x`` is data for it, in [0, 1]."""
    check_model(model, cls, "model", WHY[cls])
    check_input(model, x, name, values=True)


def check_gaussian_per_image(model: VAE, x: Tensor, pair: object, name: str) -> None:
    """Check that ``pair`` is a Gaussian (μ, log σ²) for each row of x in ``model``'s latent
    space: a tuple of two finite (len(x), K) tensors in the model's dtype, on its device."""
    if not isinstance(pair, tuple) or len(pair) != 2:
        raise TypeError(f"{name} must be a tuple (mu, logvar) of per-image values, got "
                        f"{type(pair).__name__}.")
    for part, value in zip(("mu", "logvar"), pair, strict=True):
        check_input(model, value, f"{name}'s {part}", model.latent_dim)
        if len(value) != len(x):
            raise ValueError(f"{name}'s {part} must have one row per image, shape ({len(x)}, "
                             f"{model.latent_dim}), got {tuple(value.shape)}.")
        check_finite(value, f"{name}'s {part}")


def _check_elbo(model: object, x: object, n_samples: int, posterior: object, **_) -> None:
    check_model_and_data(model, x, VAE)
    check_positive_int(n_samples, "n_samples")
    if posterior is not None:
        check_gaussian_per_image(model, x, posterior, "posterior")


@checked(_check_elbo)
def elbo(model: VAE, x: Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
         posterior: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Monte Carlo ELBO with the analytic KL, for q = N(μ, diag σ²):

        L̂(θ, φ; x) = 1/S Σ_s log p_θ(x | z_s) − KL(q || N(0, I)),   z_s = μ + σ ⊙ ε_s.

    q is the encoder's q_φ(z | x), or the per-image Gaussian ``posterior`` = (μ, log σ²), each
    (B, K), when given (black-box VI refines it, ``vi.refine_posterior``). x: (B, D) in [0, 1].
    Returns (B,), in nats; differentiable in θ, φ and the given (μ, log σ²).
    """
    mu, logvar = model.encode(x) if posterior is None else posterior
    z = reparameterize(mu, logvar, n_samples, generator)
    reconstruction = log_bernoulli(x, model.decoder(z)).mean(0)
    return reconstruction - kl_standard_normal(mu, logvar)


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
    """The VAE's training loss −L(θ, φ; x), averaged over the batch (one z per image). x: (B, D)."""
    return -elbo(model, x, 1, generator).mean()


@_checked_loss(VAE)
def continuous_bernoulli_vae_loss(model: VAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """−L(θ, φ; x) with the continuous Bernoulli likelihood (Loaiza-Ganem & Cunningham, 2019),
    a density on grey images x ∈ [0, 1]^D (``densities.log_continuous_bernoulli``), and the
    analytic KL; averaged over the batch, one z per image. x: (B, D) in [0, 1]."""
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, None, generator)
    fit = log_continuous_bernoulli(x, model.decoder(z))
    return -(fit - kl_standard_normal(mu, logvar)).mean()


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
    """The conditional VAE's loss −L(θ, φ; x, y), averaged over the batch (one z per image):

        −L = −log p_θ(x | z, y) + KL(q_φ(z | x, y) || N(0, I)),   z ~ q_φ(z | x, y).

    x: (B, D) in [0, 1] (binarized, for a Bernoulli likelihood); labels: (B,) class indices."""
    logits, mu, logvar = model(x, labels, generator)
    return -(log_bernoulli(x, logits) - kl_standard_normal(mu, logvar)).mean()
