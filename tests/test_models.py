from __future__ import annotations

import pytest
import torch
from torch import nn

from vaebook.models import VAE, Autoencoder, init_output_bias, mlp


def test_mlp_layers_and_widths():
    net = mlp([784, 100, 2])
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(3, 784)).shape == (3, 2)


@pytest.mark.parametrize("sizes", [[784], [784, 0, 2], [784, 2.5]])
def test_mlp_refuses_bad_widths(sizes):
    with pytest.raises(ValueError):
        mlp(sizes)


def test_autoencoder_shapes_and_output_range():
    model = Autoencoder(hidden=(32,), latent_dim=2)
    x = torch.rand(5, 784)
    z = model.encode(x)
    assert z.shape == (5, 2)
    assert model(x).shape == (5, 784)
    x_hat = model.decode(z)
    assert x_hat.shape == (5, 784) and 0 <= x_hat.min() and x_hat.max() <= 1


def test_vae_shapes():
    model = VAE(hidden=(32,), latent_dim=3)
    mu, logvar = model.encode(torch.rand(4, 784))
    assert mu.shape == logvar.shape == (4, 3)
    assert model.decode_logits(torch.zeros(7, 4, 3)).shape == (7, 4, 784)


def test_vae_encoder_can_be_smaller_than_its_decoder():
    model = VAE(hidden=(32, 16), latent_dim=3, encoder_hidden=(8,))
    def widths(net):
        return [layer.out_features for layer in net if isinstance(layer, torch.nn.Linear)]

    assert widths(model.encoder) == [8, 6] and widths(model.decoder) == [16, 32, 784]
    assert model.config["encoder_hidden"] == [8] and VAE(hidden=(32,)).config["encoder_hidden"] is None


def test_models_explain_wrong_shapes():
    with pytest.raises(ValueError, match=r"784 features per row"):
        Autoencoder().encode(torch.rand(5, 28, 28).reshape(5, 28 * 28)[:, :100])
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        Autoencoder().encode(torch.rand(5, 28, 28))
    with pytest.raises(TypeError, match="floating-point"):
        VAE().encode(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(ValueError, match="last dimension"):
        VAE(latent_dim=3).decode(torch.zeros(2, 4))


def test_vae_samples_from_the_prior_are_seeded_means():
    model = VAE(hidden=(16,), latent_dim=2)
    a = model.sample(5, torch.Generator().manual_seed(0))
    b = model.sample(5, torch.Generator().manual_seed(0))
    assert a.shape == (5, 784) and torch.equal(a, b) and 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        model.sample(0)


def test_init_output_bias_makes_the_untrained_decoder_output_the_mean_image():
    torch.manual_seed(0)
    x = torch.rand(50, 784) ** 3
    model = VAE(hidden=(16,), latent_dim=2)
    init_output_bias(model, x)
    torch.nn.init.zeros_(model.decoder[-1].weight)  # isolate the bias: the output is sigmoid(bias)
    assert torch.allclose(model.decode(torch.zeros(1, 2))[0], x.mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        init_output_bias(Autoencoder(hidden=(8,)), x * 2)
