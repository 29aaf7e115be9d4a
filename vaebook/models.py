"""The book's networks: multilayer perceptrons, the plain autoencoder, the Gaussian VAE with its
reparameterized draw, the digit classifier, the VAE conditioned on a class label, two VAEs with
discrete codes (categorical latents, and a vector-quantized code), and the registry of model
classes by name.

A VAE owns its prior p(z) and its likelihood p_θ(x | z) (``vaebook.distributions``); its decoder
outputs the likelihood's parameters, logits (pre-sigmoid values) for the Bernoulli and the
continuous Bernoulli: losses are computed from logits, which is numerically stabler than a
sigmoid followed by a log. The models' methods check the structure of
their input (type, dtype, shape, device), which costs nothing on the device; the values (finite,
in [0, 1]) are checked where data enters: the losses, ``train``, ``evaluate`` and the likelihood
estimates (a NaN given straight to ``encode`` gives NaN codes).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaebook.checks import (
    check_batch,
    check_broadcastable,
    check_finite,
    check_labels,
    check_positive_int,
    check_real,
    check_same_device,
    check_unit_interval,
    checked,
)
from vaebook.densities import log_normal_diag
from vaebook.discrete import VectorQuantizer
from vaebook.distributions import (
    BernoulliLikelihood,
    Likelihood,
    Prior,
    StandardNormalPrior,
    likelihood_from_config,
    prior_from_config,
)
from vaebook.flows import planar_flow, planar_parameter_count


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them and none after the last."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer widths, got {sizes!r}.")
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output width, got {list(sizes)}.")
    for size in sizes:
        check_positive_int(size, "every layer width")
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(int(width_in), int(width_out)), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _widths(hidden: object, name: str) -> list[int]:
    """Hidden widths as a list of integers >= 1, or a ``TypeError``/``ValueError`` naming them."""
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"{name} must be a sequence of layer widths such as (400,), got {hidden!r}.")
    return [check_positive_int(width, f"every width in {name}") for width in hidden]


def _config(data_dim: object, hidden: object, **sizes: object) -> dict:
    """A model's constructor arguments, validated, as the plain values a checkpoint stores:
    ``data_dim`` and every size in ``sizes`` an integer >= 1, ``hidden`` a list of widths."""
    return {"data_dim": check_positive_int(data_dim, "data_dim"), "hidden": _widths(hidden, "hidden"),
            **{name: check_positive_int(size, name) for name, size in sizes.items()}}


def model_device(model: nn.Module) -> torch.device:
    """The device that holds the model's parameters (the CPU for a model without any)."""
    first = next(model.parameters(), None)
    return torch.device("cpu") if first is None else first.device


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's parameters (the default dtype for a model without any)."""
    first = next(model.parameters(), None)
    return torch.get_default_dtype() if first is None else first.dtype


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode inside the block; its own mode is restored afterwards, even when
    the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def check_input(model: nn.Module, x: object, name: str = "x", dim: int | None = None,
                values: bool = False) -> Tensor:
    """Check data for ``model``: a (B, D) float tensor with the model's D (or ``dim``), dtype and
    device; with ``values``, finite and in [0, 1] too (one read of the data)."""
    x = check_batch(x, name, model.data_dim if dim is None else dim)
    if x.dtype != model_dtype(model):
        raise TypeError(f"{name} has dtype {x.dtype} but the model's weights are {model_dtype(model)}; "
                        f"use {name}.to({model_dtype(model)}) (or convert the model).")
    check_same_device(x, model_device(model), name)
    if values:
        check_unit_interval(x, name)
    return x


class Autoencoder(nn.Module):
    """Deterministic autoencoder: z = h_φ(x) in R^K, x̂ = sigmoid(g_θ(z)) (chapter 1's notation).

    ``data_dim``-``hidden``-``latent_dim`` encoder, the mirror image as decoder.
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (512, 128), latent_dim: int = 2):
        super().__init__()
        self.config = _config(data_dim, hidden, latent_dim=latent_dim)
        self.data_dim, hidden, self.latent_dim = self.config.values()
        self.encoder = mlp([self.data_dim, *hidden, self.latent_dim])
        self.decoder = mlp([self.latent_dim, *reversed(hidden), self.data_dim])

    def encode(self, x: Tensor) -> Tensor:
        """x: (B, D) -> z: (B, K)."""
        return self.encoder(check_input(self, x))

    def decode_logits(self, z: Tensor) -> Tensor:
        """z: (B, K) -> logits of x̂: (B, D)."""
        return self.decoder(check_input(self, z, "z", self.latent_dim))

    def decode(self, z: Tensor) -> Tensor:
        """z: (B, K) -> x̂ = sigmoid(logits): (B, D), in (0, 1)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, D) -> logits of the reconstruction: (B, D)."""
        return self.decoder(self.encode(x))


def _check_gaussian(mu: object, logvar: object, n_samples: int | None, **_) -> None:
    check_broadcastable({"mu": mu, "logvar": logvar})
    check_finite(mu, "mu")
    check_finite(logvar, "logvar")
    if n_samples is not None:
        check_positive_int(n_samples, "n_samples")


@checked(_check_gaussian)
def reparameterize(mu: Tensor, logvar: Tensor, n_samples: int | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """z = μ + σ ⊙ ε with ε ~ N(0, I), σ = exp(½ log σ²): differentiable in μ and log σ².

    μ, log σ²: broadcastable, e.g. (B, K) each. Returns their broadcast shape, or (S, ...) when
    ``n_samples`` = S is given; ε has that full shape, so no two draws share noise.
    """
    shape = torch.broadcast_shapes(mu.shape, logvar.shape)
    if n_samples is not None:
        shape = (n_samples, *shape)
    eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


class VAE(nn.Module):
    """Gaussian-encoder VAE: q_φ(z | x) = N(μ_φ(x), diag σ²_φ(x)), a prior p(z) and a likelihood
    p_θ(x | z) whose parameters the decoder outputs.

    The encoder's last layer outputs μ and log σ² side by side (2K numbers). The decoder has the
    hidden widths ``hidden`` in mirror order (K → ... → D); the encoder has the same widths, or
    ``encoder_hidden`` when given (a smaller encoder costs less and changes log p_θ(x) little).
    ``prior`` is a ``distributions.Prior`` (default N(0, I)) and ``likelihood`` a
    ``distributions.Likelihood`` (default Bernoulli on logits), or the ``config`` dict of either,
    as a checkpoint stores it. Both are submodules: they move, train and save with the model.

    With ``flow_layers`` = T > 0 the posterior is richer: the encoder also outputs the parameters
    of T planar layers for each image (``vaebook.flows``), and q_φ(z | x) is the Gaussian pushed
    through them. ``encode`` still returns the Gaussian's (μ, log σ²); ``draw_posterior`` draws
    from the whole q and gives its log-density.
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (400,), latent_dim: int = 20,
                 encoder_hidden: Sequence[int] | None = None, prior: Prior | dict | None = None,
                 likelihood: Likelihood | dict | None = None, flow_layers: int = 0):
        super().__init__()
        hidden = _widths(hidden, "hidden")
        encoder_widths = hidden if encoder_hidden is None else _widths(encoder_hidden, "encoder_hidden")
        self.data_dim = check_positive_int(data_dim, "data_dim")
        self.latent_dim = check_positive_int(latent_dim, "latent_dim")
        self._sizes = {"data_dim": self.data_dim, "hidden": hidden, "latent_dim": self.latent_dim,
                       "encoder_hidden": None if encoder_hidden is None else encoder_widths}
        self.flow_layers = 0 if flow_layers == 0 else check_positive_int(flow_layers, "flow_layers")
        flow_width = 0
        if self.flow_layers:  # recorded only when used: older checkpoints' configs stay valid
            self._sizes["flow_layers"] = self.flow_layers
            flow_width = planar_parameter_count(self.latent_dim, self.flow_layers)
        self.encoder = mlp([self.data_dim, *encoder_widths, 2 * self.latent_dim + flow_width])
        self.decoder = mlp([self.latent_dim, *reversed(hidden), self.data_dim])
        self.prior, self.likelihood = _generative_parts(prior, likelihood, self.latent_dim)
        self.prior.to(model_dtype(self))  # as the networks are: a module's parts share its dtype
        self.likelihood.to(model_dtype(self))

    @property
    def config(self) -> dict:
        """The constructor's arguments as plain values, the prior's and likelihood's as their
        configs: what rebuilds the model from a checkpoint (a fresh copy each time)."""
        parts = {"prior": self.prior.config, "likelihood": self.likelihood.config}
        return {**copy.deepcopy(self._sizes), **parts}

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, D) -> (μ, log σ²), each (B, K): the Gaussian q (before the flow, if any)."""
        return self.encode_posterior(x)[:2]

    def encode_posterior(self, x: Tensor) -> tuple[Tensor, ...]:
        """x: (B, D) -> all of q_φ(z | x) for each image: (μ, log σ²), each (B, K), and with a
        flow its parameters too, (B, T (2K + 1)). What ``draw_posterior`` takes as ``posterior``."""
        out = self.encoder(check_input(self, x))
        k = self.latent_dim
        parts = (out[:, :k], out[:, k:2 * k])
        return (*parts, out[:, 2 * k:]) if self.flow_layers else parts

    def draw_posterior(self, x: Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
                       posterior: tuple[Tensor, ...] | None = None
                       ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """S = ``n_samples`` reparameterized draws z_s ~ q(z | x) and their log q(z_s | x),
        (S, B, K) and (S, B), with the Gaussian's (μ, log σ²), (B, K) each. q is the encoder's
        (through its flow, if any), or the given per-image ``posterior``, shaped as
        ``encode_posterior`` returns it (refined per image by ``vi.refine_posterior``)."""
        parts = self.encode_posterior(x) if posterior is None else tuple(posterior)
        if len(parts) != 2 + bool(self.flow_layers):
            raise ValueError(f"posterior must be (mu, logvar){', flow parameters' * bool(self.flow_layers)} "
                             f"for this model, as encode_posterior returns it; got {len(parts)} parts.")
        mu, logvar = parts[:2]
        z = reparameterize(mu, logvar, n_samples, generator)
        log_q = log_normal_diag(z, mu, logvar)
        if self.flow_layers:
            z, log_det = planar_flow(z, parts[2])
            log_q = log_q - log_det
        return z, log_q, mu, logvar

    def decode_logits(self, z: Tensor) -> Tensor:
        """z: (..., K) -> the decoder's output, the likelihood's parameters for each z (logits
        for the Bernoulli likelihoods): (..., D)."""
        _check_codes(self, z)
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """z: (..., K) -> the likelihood's means E[x | z] (sigmoid(logits) for the Bernoulli):
        (..., D)."""
        return self.likelihood.mean(self.decode_logits(z))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, D) -> (decoder output for z, μ, log σ²): (B, D), (B, K), (B, K), for one
        reparameterized z ~ q_φ(z | x) per row (through the flow, if any), drawn from
        ``generator``."""
        z, _, mu, logvar = self.draw_posterior(x, 1, generator)
        return self.decoder(z[0]), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode n draws from the prior, z ~ p(z): the likelihood's means, (n, D)."""
        return self.likelihood.mean(self.decoder(self.prior.sample(n, generator)))

    def with_parts(self, *, prior: Prior | None = None, likelihood: Likelihood | None = None) -> VAE:
        """A copy of this model with another prior and/or likelihood, the networks copied too (so
        training one model leaves the other as it was): to score a prior fitted after training,
        or the same decoder under another likelihood."""
        parts = _generative_parts(prior or self.prior, likelihood or self.likelihood, self.latent_dim)
        other = copy.deepcopy(self)
        other.prior, other.likelihood = (copy.deepcopy(part).to(model_device(self), model_dtype(self))
                                         for part in parts)
        return other


def _check_codes(model: nn.Module, z: object) -> None:
    """z is a tensor of codes for ``model``: (..., K) with the model's dtype and device."""
    if not isinstance(z, Tensor) or z.ndim == 0 or z.shape[-1] != model.latent_dim:
        got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(f"z must be a tensor with {model.latent_dim} values in its last "
                         f"dimension, got {got}.")
    check_input(model, z.reshape(-1, model.latent_dim), "z", model.latent_dim)


def _generative_parts(prior: object, likelihood: object, latent_dim: int) -> tuple[Prior, Likelihood]:
    """The prior and likelihood a VAE was given (objects, configs or None for the defaults)."""
    if prior is None:
        prior = StandardNormalPrior(latent_dim)
    elif isinstance(prior, dict):
        prior = prior_from_config(prior)
    if not isinstance(prior, Prior):
        raise TypeError(f"prior must be a vaebook.distributions.Prior or its config, got "
                        f"{type(prior).__name__}.")
    if prior.latent_dim != latent_dim:
        raise ValueError(f"the prior is on R^{prior.latent_dim} but latent_dim is {latent_dim}.")
    if likelihood is None:
        likelihood = BernoulliLikelihood()
    elif isinstance(likelihood, dict):
        likelihood = likelihood_from_config(likelihood)
    if not isinstance(likelihood, Likelihood):
        raise TypeError(f"likelihood must be a vaebook.distributions.Likelihood or its config, got "
                        f"{type(likelihood).__name__}.")
    return prior, likelihood


class Classifier(nn.Module):
    """An MLP that reads an image: x: (B, D) -> logits of the ``classes`` classes, (B, C), with
    p(y | x) = softmax(logits). The book's digit classifier judges generated images."""

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (256,), classes: int = 10):
        super().__init__()
        self.config = _config(data_dim, hidden, classes=classes)
        self.data_dim, hidden, self.classes = self.config.values()
        self.net = mlp([self.data_dim, *hidden, self.classes])

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, D) -> class logits (B, C)."""
        return self.net(check_input(self, x))

    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """p(y | x) for every class: (B, D) -> (B, C), rows summing to 1."""
        return torch.softmax(self(x), dim=-1)


class ConditionalVAE(nn.Module):
    """A VAE conditioned on a class label y (Sohn, Lee & Yan, 2015; Kingma et al., 2014's M2 with
    y observed): q_φ(z | x, y) = N(μ_φ(x, e_y), diag σ²_φ(x, e_y)), p_θ(x | z, y) from the decoder's
    output g_θ(z, e_y), and a prior p(z) that does not depend on y (default N(0, I)). The one-hot
    vector e_y of the label is a conditioning input: it is appended to the input of both networks.
    Widths as in ``VAE`` (encoder = decoder mirrored); ``prior`` and ``likelihood`` as in ``VAE``.
    ``labels`` are (B,) class indices in [0, classes), int64, one per row.
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (400,), latent_dim: int = 20,
                 classes: int = 10, prior: Prior | dict | None = None,
                 likelihood: Likelihood | dict | None = None):
        super().__init__()
        self._sizes = _config(data_dim, hidden, latent_dim=latent_dim, classes=classes)
        self.data_dim, hidden, self.latent_dim, self.classes = self._sizes.values()
        self.encoder = mlp([self.data_dim + self.classes, *hidden, 2 * self.latent_dim])
        self.decoder = mlp([self.latent_dim + self.classes, *reversed(hidden), self.data_dim])
        self.prior, self.likelihood = _generative_parts(prior, likelihood, self.latent_dim)
        self.prior.to(model_dtype(self))
        self.likelihood.to(model_dtype(self))

    config = VAE.config
    flow_layers = 0  # q is Gaussian: no flow

    def one_hot(self, labels: Tensor, n: int) -> Tensor:
        """e_y for each of n labels, checked: (n,) int64 in [0, classes) on the model's device ->
        (n, classes) in the model's dtype."""
        check_labels(labels, n, self.classes)
        check_same_device(labels, model_device(self), "labels")
        return F.one_hot(labels, self.classes).to(model_dtype(self))

    def encode(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, D), labels: (B,) -> (μ, log σ²) of q_φ(z | x, y), each (B, K)."""
        x = check_input(self, x)
        mu, logvar = self.encoder(torch.cat([x, self.one_hot(labels, len(x))], dim=-1)).chunk(2, dim=-1)
        return mu, logvar

    def draw_posterior(self, x: Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
                       posterior: tuple[Tensor, Tensor] | None = None, *, labels: Tensor
                       ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """As ``VAE.draw_posterior``, for q_φ(z | x, y) with the labels y: S = ``n_samples``
        reparameterized draws (S, B, K), their log q (S, B), and (μ, log σ²), (B, K) each; q is
        the encoder's, or the given per-image ``posterior`` (μ, log σ²)."""
        mu, logvar = self.encode(x, labels) if posterior is None else posterior
        z = reparameterize(mu, logvar, n_samples, generator)
        return z, log_normal_diag(z, mu, logvar), mu, logvar

    def decode_logits(self, z: Tensor, labels: Tensor) -> Tensor:
        """z: (..., B, K), labels: (B,) -> the decoder's output for (z, y): (..., B, D)."""
        _check_codes(self, z)
        if z.ndim < 2:
            raise ValueError(f"z must be (..., B, K), one row per label, got shape {tuple(z.shape)}.")
        e = self.one_hot(labels, z.shape[-2])
        return self.decoder(torch.cat([z, e.expand(*z.shape[:-1], self.classes)], dim=-1))

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """z: (..., B, K), labels: (B,) -> the likelihood's means E[x | z, y]: (..., B, D)."""
        return self.likelihood.mean(self.decode_logits(z, labels))

    def forward(self, x: Tensor, labels: Tensor,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """x: (B, D), labels: (B,) -> (decoder output, μ, log σ²): (B, D), (B, K), (B, K), for one
        reparameterized z ~ q_φ(z | x, y) per row, drawn from ``generator``."""
        mu, logvar = self.encode(x, labels)
        return self.decode_logits(reparameterize(mu, logvar, None, generator), labels), mu, logvar

    @torch.no_grad()
    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One image of each requested class: decode z ~ p(z) with label y. labels: (n,) ->
        the likelihood's means (n, D)."""
        if not isinstance(labels, Tensor):
            raise TypeError(f"labels must be a torch.Tensor of class indices, got "
                            f"{type(labels).__name__}.")
        if labels.ndim != 1 or len(labels) == 0:
            raise ValueError(f"labels must have shape (n,) with n >= 1, one class per image, got "
                             f"{tuple(labels.shape)}.")
        return self.decode(self.prior.sample(len(labels), generator), labels)


class _GridCodes(nn.Module):
    """What ``CategoricalVAE`` and ``VQVAE`` share: a code that is a grid of J = ``n_latents``
    cells of ``cell_size`` numbers each (C one-hot values, or a K-vector), an encoder from x to the
    J·cell_size numbers and a Bernoulli decoder on logits that reads them side by side. Each
    subclass sets ``n_latents``, ``cell_size``, ``encoder`` and ``decoder`` in its ``__init__``."""

    n_latents: int
    cell_size: int

    def encode(self, x: Tensor) -> Tensor:
        """x: (B, D) -> the encoder's output as a grid, (B, J, cell_size): the logits ℓ of
        q_φ(z | x) for a ``CategoricalVAE``, the vectors z_e before rounding for a ``VQVAE``."""
        return self.encoder(check_input(self, x)).unflatten(-1, (self.n_latents, self.cell_size))

    def decode_logits(self, z: Tensor) -> Tensor:
        """z: (..., J, cell_size), codes (one-hot or relaxed values, or code vectors) -> the
        Bernoulli logits of x: (..., D)."""
        shape = (self.n_latents, self.cell_size)
        if not isinstance(z, Tensor) or z.ndim < 2 or tuple(z.shape[-2:]) != shape:
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (..., {shape[0]}, {shape[1]}), got {got}.")
        check_input(self, z.reshape(-1, shape[0] * shape[1]), "z", shape[0] * shape[1])
        return self.decoder(z.flatten(-2))

    def decode(self, z: Tensor) -> Tensor:
        """z: (..., J, cell_size) -> the Bernoulli means sigmoid(logits): (..., D)."""
        return torch.sigmoid(self.decode_logits(z))


class CategoricalVAE(_GridCodes):
    """A VAE with J = ``n_latents`` categorical latents of C = ``n_categories`` values each
    (Jang, Gu & Poole, 2017): q_φ(z | x) = Π_j Cat(z_j; softmax(ℓ_φ(x)_j)), the uniform prior
    p(z_j = c) = 1/C, and a Bernoulli decoder on logits that reads the J one-hot (or relaxed)
    vectors side by side, J·C numbers. Encoder ``data_dim``-``hidden``-J·C, decoder the mirror
    image. Train it with ``losses.gumbel_softmax_loss`` or ``losses.straight_through_loss``;
    score it with ``losses.categorical_elbo``. The code carries at most J log C nats.
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (256,), n_latents: int = 20,
                 n_categories: int = 10):
        super().__init__()
        self.config = _config(data_dim, hidden, n_latents=n_latents, n_categories=n_categories)
        self.data_dim, hidden, self.n_latents, self.n_categories = self.config.values()
        self.cell_size = self.n_categories
        width = self.n_latents * self.n_categories
        self.encoder = mlp([self.data_dim, *hidden, width])
        self.decoder = mlp([width, *reversed(hidden), self.data_dim])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode n draws from the uniform prior: the Bernoulli means, (n, D)."""
        n = check_positive_int(n, "n")
        device = model_device(self)
        values = torch.randint(self.n_categories, (n, self.n_latents), generator=generator, device=device)
        return self.decode(F.one_hot(values, self.n_categories).to(model_dtype(self)))


class VQVAE(_GridCodes):
    """A VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, 2017) for flat images: the encoder outputs J =
    ``n_latents`` vectors z_e of K = ``code_dim`` numbers, each rounded to the nearest of the
    ``n_codes`` = M vectors of a codebook (``discrete.VectorQuantizer``, straight-through), and a
    Bernoulli decoder on logits reads the J rounded vectors z_q side by side. Encoder
    ``data_dim``-``hidden``-J·K, decoder the mirror image. ``commitment_weight`` (0.25 in the
    paper) weighs the commitment loss in ``losses.vq_vae_loss``. Under a uniform prior on the codes
    an image costs J log₂ M bits (``losses.vq_rate_distortion``).
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (256,), n_latents: int = 8,
                 code_dim: int = 16, n_codes: int = 64, commitment_weight: float = 0.25):
        super().__init__()
        sizes = _config(data_dim, hidden, n_latents=n_latents, code_dim=code_dim, n_codes=n_codes)
        weight = check_real(commitment_weight, "commitment_weight", 0.0, include_low=True)
        self.config = {**sizes, "commitment_weight": weight}
        self.data_dim, hidden, self.n_latents, self.code_dim, self.n_codes = sizes.values()
        self.commitment_weight = weight
        self.cell_size = self.code_dim
        width = self.n_latents * self.code_dim
        self.encoder = mlp([self.data_dim, *hidden, width])
        self.quantizer = VectorQuantizer(self.n_codes, self.code_dim)
        self.decoder = mlp([width, *reversed(hidden), self.data_dim])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x: (B, D) -> (logits of x given z_q (B, D), code indices (B, J), codebook loss (B,),
        commitment loss (B,)), the two losses summed over the J positions (``discrete.quantize``)."""
        z_q, indices, codebook_loss, commitment_loss = self.quantizer(self.encode(x))
        return self.decoder(z_q.flatten(-2)), indices, codebook_loss.sum(-1), commitment_loss.sum(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode n draws of J codes, each uniform over the codebook: the Bernoulli means, (n, D).
        (The paper fits a PixelCNN prior over the codes instead; uniform codes look worse.)"""
        n = check_positive_int(n, "n")
        device = model_device(self)
        indices = torch.randint(self.n_codes, (n, self.n_latents), generator=generator, device=device)
        return self.decode(self.quantizer.codebook[indices])


MODELS: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (Autoencoder, VAE, Classifier,
                                                                    ConditionalVAE, CategoricalVAE, VQVAE)}


@torch.no_grad()
def init_output_bias(model: Autoencoder | VAE | CategoricalVAE | VQVAE, x: Tensor) -> None:
    """Set the decoder's last bias to the log-odds of the mean pixel, logit(mean_n x_nd), clipped
    to [1e-3, 1 − 1e-3]: the untrained decoder then outputs the average image instead of 0.5
    everywhere, and training does not spend its first steps learning it. x: (N, D) in [0, 1], with
    the model's dtype and device."""
    if not isinstance(model, (Autoencoder, VAE, CategoricalVAE, VQVAE)):
        raise TypeError(f"model must be an Autoencoder, a VAE, a CategoricalVAE or a VQVAE, got "
                        f"{type(model).__name__}.")
    x = check_input(model, x, "x", values=True)
    last = model.decoder[-1]
    p = x.mean(0).clamp(1e-3, 1 - 1e-3).to(last.bias)
    last.bias.copy_(torch.log(p) - torch.log1p(-p))
