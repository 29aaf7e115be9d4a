"""The VAE's marginal likelihood log p_θ(x), estimated by importance sampling with the encoder as
proposal (Burda, Grosse & Salakhutdinov, 2016).

Log-weights are laid out (rows = images, columns = samples) everywhere: ``log_importance_weights``
and ``sample_log_weights`` return (B, k), and ``bound_from_log_weights`` reduces each row.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm import tqdm

from vaebook.checks import (
    Checked,
    check_batch,
    check_model,
    check_positive_int,
    check_tensor,
    checked,
    trusted,
)
from vaebook.losses import check_model_and_data, draw_and_decode, log_density_terms
from vaebook.models import VAE, eval_mode, model_device
from vaebook.randomness import seeded_generator, seeded_streams


def _check_weights_call(model: object, x: object, k: int, **_) -> None:
    check_model_and_data(model, x, VAE)
    check_positive_int(k, "k")


@checked(_check_weights_call)
def log_importance_weights(model: VAE, x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """log w_s = log p_θ(x | z_s) + log p(z_s) − log q_φ(z_s | x), z_s ~ q_φ(z | x), s = 1..k,
    with the model's likelihood and prior, and the draws of ``losses.elbo`` (``draw_and_decode``).

    x: (B, D) in [0, 1]. Returns (B, k): row n holds the k log-weights of image n.
    """
    log_likelihood, log_prior, log_q = log_density_terms(
        model, x, *draw_and_decode(model, x, k, generator))  # each (k, B)
    return (log_likelihood + log_prior - log_q).T


def bound_from_log_weights(log_w: Tensor) -> Tensor:
    """L_k = log 1/k Σ_s w_s for each row of log-weights: (N, k) -> (N,).

    ``log_w[:, :k']`` gives L_{k'} from the first k' of the same samples, so one set of samples
    traces how the bound rises with the number of samples. A weight of zero (log w = −inf) is
    allowed; nan and +inf are not."""
    check_tensor(log_w, "log_w")
    if log_w.ndim != 2 or 0 in log_w.shape:
        raise ValueError(f"log_w must be (N, k) with N, k >= 1, got shape {tuple(log_w.shape)}.")
    if torch.isnan(log_w).any() or torch.isposinf(log_w).any():
        raise ValueError("log_w has nan or +inf entries; they come from a diverged model or bad data.")
    return torch.logsumexp(log_w, 1) - math.log(log_w.shape[1])


@checked(_check_weights_call)
def iwae_bound(model: VAE, x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """The importance-weighted bound L_k with the encoder as proposal, for the model's prior and
    likelihood:

        L_k(x) = log 1/k Σ_{s=1}^{k} p_θ(x | z_s) p(z_s) / q_φ(z_s | x),   z_s ~ q_φ(z | x).

    L_1 is the ELBO, E[L_k] rises with k and tends to log p_θ(x). x: (B, D). Returns (B,), in
    nats. Memory grows as k·B·D: split large k with ``estimate_log_likelihood``.
    """
    return bound_from_log_weights(log_importance_weights(model, x, k, generator))


def iwae_loss(k: int) -> Checked:
    """The IWAE's training loss −L_k (Burda et al., 2016): ``iwae_bound`` with k draws per image,
    averaged over the batch. Its gradient is Σ_s w̃_s ∇ log w_s, the gradients of the k
    log-weights averaged with the self-normalized weights w̃_s = w_s / Σ_s' w_s' (autograd finds
    it; nothing is detached). k = 1 trains on the ELBO with a Monte Carlo KL. Returns the loss
    ``(model, x, generator=None)``."""
    k = check_positive_int(k, "k")

    @checked(lambda model, x, *_, **__: check_model_and_data(model, x, VAE))
    def loss(model: VAE, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return -iwae_bound(model, x, k, generator).mean()

    return loss


@torch.no_grad()
def sample_log_weights(model: VAE, x: Tensor, *, k: int = 1000, batch_size: int = 50, chunk: int = 50,
                       seed: int = 0, device: torch.device | str | None = None,
                       progress: bool = True) -> Tensor:
    """k importance log-weights log w_s = log p_θ(x | z_s) p(z_s) / q_φ(z_s | x) for every row of
    x (N, D) in [0, 1], z_s from the encoder: (N, k) on the CPU. Computed ``chunk`` samples at a
    time, so memory stays at chunk · batch_size · D numbers whatever k is; the default 50 · 50 rows
    of MNIST (8 MB) stay in a CPU's cache, twice as fast as 250 · 50 on 2 cores. Draws from the
    "importance" stream of ``seed`` (``randomness.seeded_streams``). Runs where the model is
    unless ``device`` is given (the model is moved there), in eval mode, restoring the model's
    mode afterwards even on an error; x is moved there.
    ``bound_from_log_weights`` gives L_k."""
    for value, name in ((k, "k"), (batch_size, "batch_size"), (chunk, "chunk")):
        check_positive_int(value, name)
    check_model(model, VAE, "model", "the proposal is the encoder's q_φ(z | x)")
    if device is not None:
        model.to(device)
    x = check_batch(x, "x").to(model_device(model))
    log_importance_weights.check(model, x, k)
    # its own stream: chapter 5 binarizes the test set (binarize_static) with the same seed
    (generator,) = seeded_streams(seed, ("importance",), model_device(model))
    results = []
    with eval_mode(model), trusted():  # checked above, once
        steps = range(0, len(x), batch_size)
        for start in tqdm(steps, desc=f"log p(x), k={k}", unit="batch", disable=not progress):
            batch = x[start:start + batch_size]
            log_w = torch.cat([log_importance_weights(model, batch, min(chunk, k - done), generator)
                               for done in range(0, k, chunk)], dim=1)
            results.append(log_w.cpu())
    return torch.cat(results)


def estimate_log_likelihood(model: VAE, x: Tensor, *, k: int = 1000, batch_size: int = 50, chunk: int = 50,
                            seed: int = 0, device: torch.device | str | None = None,
                            progress: bool = True) -> Tensor:
    """Importance-sampled estimate of log p_θ(x) for every row of x (N, D): the bound L_k of
    ``iwae_bound`` from k samples, (N,) on the CPU, in nats. The other arguments are those of
    ``sample_log_weights``."""
    return bound_from_log_weights(sample_log_weights(model, x, k=k, batch_size=batch_size, chunk=chunk,
                                                     seed=seed, device=device, progress=progress))


def pareto_shape(log_w: Tensor) -> Tensor:
    """The estimated Pareto shape of each row's largest importance weights: (N, k) log-weights,
    k draws per row, -> (N,).

    Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry, 2024) fits a
    generalized Pareto distribution to the ⌈min(k/5, 3√k)⌉ largest weights of each row (their
    excess over the next largest), by the empirical-Bayes estimate of Zhang & Stephens (2009)
    shrunk towards 0.5 as PSIS does. Its shape says how heavy the weights' tail is: the weights
    have finite variance when the shape is below 1/2 (the standard error of their mean means
    something), a finite mean when it is below 1, and Vehtari et al. trust an estimate from k
    draws when the shape is below min(1 − 1/log10 k, 0.7). Rows with a tied or zero tail get
    inf."""
    check_tensor(log_w, "log_w")
    if log_w.ndim != 2 or log_w.shape[1] < 20:
        raise ValueError(f"log_w must be (N, k) with k >= 20 samples per row, got shape "
                         f"{tuple(log_w.shape)}.")
    if not torch.isfinite(log_w).all():
        raise ValueError("log_w has nan or inf entries; they come from a diverged model or bad data.")
    samples = log_w.shape[1]
    m = math.ceil(min(0.2 * samples, 3 * math.sqrt(samples)))
    top = log_w.double().topk(m + 1, dim=1).values.flip(1)  # ascending; column 0 is the cut-off
    top = top - top[:, -1:]  # scale out the largest weight: the shape does not change
    tail = torch.exp(top[:, 1:]) - torch.exp(top[:, :1])  # excesses over the cut-off, ascending
    khat = _generalized_pareto_shape(tail)
    return torch.where((tail[:, 0] > 0) & torch.isfinite(khat), khat, math.inf).to(log_w.dtype)


def _generalized_pareto_shape(x: Tensor) -> Tensor:
    """Zhang & Stephens' (2009) posterior-mean estimate of the shape of a generalized Pareto
    distribution, for each row of ascending positive excesses x (N, M), with PSIS's weak prior
    that pulls the shape towards 0.5 (as if 10 more points had shape 0.5)."""
    n = x.shape[1]
    grid = 30 + int(math.sqrt(n))
    j = torch.arange(1, grid + 1, dtype=x.dtype)
    quartile = x[:, int(n / 4 + 0.5) - 1 : int(n / 4 + 0.5)]
    theta = 1 / x[:, -1:] + (1 - torch.sqrt(grid / (j - 0.5))) / (3 * quartile)  # (N, grid)
    k = torch.log1p(-theta[:, :, None] * x[:, None, :]).mean(2)  # (N, grid)
    profile = n * (torch.log(-theta / k) - k - 1)  # log-likelihood of each grid point
    weights = torch.softmax(profile, dim=1)
    theta_hat = (weights * theta).sum(1, keepdim=True)
    k_hat = torch.log1p(-theta_hat * x).mean(1)
    return (n * k_hat + 10 * 0.5) / (n + 10)


def gradient_snr(model: VAE, loss: Callable[..., Tensor], x: Tensor, *, repeats: int = 100,
                 seed: int = 0) -> dict[str, float]:
    """The signal-to-noise ratio of a stochastic gradient, for the encoder and for the decoder
    (Rainforth et al., 2018, "Tighter variational bounds are not necessarily better").

    For each image of x (B, D) on its own, ``repeats`` independent gradients of
    ``loss(model, image, generator)`` (e.g. ``iwae_loss(k)``) are drawn; for each parameter
    component, SNR = |mean| / standard deviation over the repeats. Returns the mean SNR over the
    components of ``model.encoder`` ("encoder") and of ``model.decoder`` ("decoder"), averaged over
    the images. Components whose gradient does not vary (a first-layer weight of a pixel that is 0
    in the image) have no SNR and are left out. Draws from a generator seeded with ``seed``."""
    check_model_and_data(model, x, VAE)
    check_positive_int(repeats, "repeats")
    if repeats < 2:
        raise ValueError(f"repeats must be at least 2 to have a standard deviation, got {repeats}.")
    parts = {"encoder": list(model.encoder.parameters()), "decoder": list(model.decoder.parameters())}
    params = [p for group in parts.values() for p in group]
    split = len(parts["encoder"])
    generator = seeded_generator(seed, model_device(model))
    per_image: dict[str, list[Tensor]] = {"encoder": [], "decoder": []}
    for image in x.split(1):
        draws = [torch.autograd.grad(loss(model, image, generator), params) for _ in range(repeats)]
        for name, chosen in (("encoder", slice(None, split)), ("decoder", slice(split, None))):
            grads = torch.stack([torch.cat([g.flatten() for g in draw[chosen]]) for draw in draws])
            mean, sd = grads.mean(0), grads.std(0)
            varies = sd > 0
            per_image[name].append((mean[varies].abs() / sd[varies]).mean())
    return {name: torch.stack(values).mean().item() for name, values in per_image.items()}
