"""The book's networks: multilayer perceptrons, the plain autoencoder and the Gaussian VAE.

Decoders output logits (pre-sigmoid values): losses are computed from logits, which is
numerically stabler than a sigmoid followed by a log.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vaebook.checks import check_batch, check_positive_int, check_unit_interval


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them and none after the last."""
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output width, got {list(sizes)}.")
    for size in sizes:
        check_positive_int(size, "every layer width")
    layers: list[nn.Module] = []
    for width_in, width_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(width_in, width_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class Autoencoder(nn.Module):
    """Deterministic autoencoder: z = f(x) in R^K, x̂ = sigmoid(g(z)).

    ``data_dim``-``hidden``-``latent_dim`` encoder, the mirror image as decoder.
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (512, 128), latent_dim: int = 2):
        super().__init__()
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.config = {"data_dim": data_dim, "hidden": list(hidden), "latent_dim": latent_dim}
        self.encoder = mlp([data_dim, *hidden, latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden), data_dim])

    def encode(self, x: Tensor) -> Tensor:
        """x: (B, D) -> z: (B, K)."""
        return self.encoder(check_batch(x, "x", self.data_dim))

    def decode_logits(self, z: Tensor) -> Tensor:
        """z: (B, K) -> logits of x̂: (B, D)."""
        return self.decoder(check_batch(z, "z", self.latent_dim))

    def decode(self, z: Tensor) -> Tensor:
        """z: (B, K) -> x̂ = sigmoid(logits): (B, D), in (0, 1)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, D) -> logits of the reconstruction: (B, D)."""
        return self.decode_logits(self.encode(x))


class VAE(nn.Module):
    """Gaussian-encoder VAE: q_φ(z | x) = N(μ_φ(x), diag σ²_φ(x)), p_θ(x | z) from logits g_θ(z).

    The encoder's last layer outputs μ and log σ² side by side (2K numbers). The decoder has the
    hidden widths ``hidden`` in mirror order (K → ... → D); the encoder has the same widths, or
    ``encoder_hidden`` when given (a smaller encoder costs less and changes log p_θ(x) little).
    """

    def __init__(self, data_dim: int = 784, hidden: Sequence[int] = (400,), latent_dim: int = 20,
                 encoder_hidden: Sequence[int] | None = None):
        super().__init__()
        self.data_dim, self.latent_dim = data_dim, latent_dim
        self.config = {"data_dim": data_dim, "hidden": list(hidden), "latent_dim": latent_dim,
                       "encoder_hidden": None if encoder_hidden is None else list(encoder_hidden)}
        encoder_widths = hidden if encoder_hidden is None else encoder_hidden
        self.encoder = mlp([data_dim, *encoder_widths, 2 * latent_dim])
        self.decoder = mlp([latent_dim, *reversed(hidden), data_dim])

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B, D) -> (μ, log σ²), each (B, K)."""
        mu, logvar = self.encoder(check_batch(x, "x", self.data_dim)).chunk(2, dim=-1)
        return mu, logvar

    def decode_logits(self, z: Tensor) -> Tensor:
        """z: (..., K) -> logits of p_θ(x | z): (..., D)."""
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"z must have {self.latent_dim} values in its last dimension, "
                             f"got shape {tuple(z.shape)}.")
        return self.decoder(z)

    def decode(self, z: Tensor) -> Tensor:
        """z: (..., K) -> Bernoulli means sigmoid(logits): (..., D)."""
        return torch.sigmoid(self.decode_logits(z))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode n draws from the prior, z ~ N(0, I): Bernoulli means (n, D)."""
        check_positive_int(n, "n")
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.decode(z)


@torch.no_grad()
def init_output_bias(model: Autoencoder | VAE, x: Tensor) -> None:
    """Set the decoder's last bias to the log-odds of the mean pixel, logit(mean_n x_nd), clipped
    to [1e-3, 1 − 1e-3]: the untrained decoder then outputs the average image instead of 0.5
    everywhere, and training does not spend its first steps learning it. x: (N, D) in [0, 1]."""
    x = check_unit_interval(check_batch(x, "x", model.data_dim))
    last = model.decoder[-1]
    p = x.mean(0).clamp(1e-3, 1 - 1e-3).to(last.bias)
    last.bias.copy_(torch.log(p) - torch.log1p(-p))
