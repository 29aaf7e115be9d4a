from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli

from vaebook.models import (
    MODELS,
    VAE,
    VQVAE,
    Autoencoder,
    CategoricalVAE,
    Classifier,
    ConditionalVAE,
    check_input,
    eval_mode,
    init_output_bias,
    mlp,
    model_device,
    model_dtype,
    reparameterize,
)


def test_mlp_layers_and_widths():
    net = mlp([784, 100, 2])
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net(torch.zeros(3, 784)).shape == (3, 2)


@pytest.mark.parametrize("sizes", [[784], [784, 0, 2], [784, 2.5], [784, True, 2]])
def test_mlp_refuses_bad_widths(sizes):
    with pytest.raises(ValueError):
        mlp(sizes)


def test_autoencoder_composes_its_encoder_and_decoder():
    model = Autoencoder(hidden=(32,), latent_dim=2)
    x = torch.rand(5, 784)
    z = model.encode(x)
    assert z.shape == (5, 2)
    torch.testing.assert_close(z, model.encoder(x))
    torch.testing.assert_close(model(x), model.decoder(z))
    # decode gives the Bernoulli means of the decoder's logits
    torch.testing.assert_close(model.decode(z), Bernoulli(logits=model.decode_logits(z)).mean)


def test_vae_forward_is_one_reparameterized_draw():
    model = VAE(hidden=(32,), latent_dim=3)
    x = torch.rand(4, 784)
    logits, mu, logvar = model(x, torch.Generator().manual_seed(0))
    encoded = model.encode(x)
    torch.testing.assert_close((mu, logvar), encoded)
    eps = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(logits, model.decode_logits(mu + (0.5 * logvar).exp() * eps))
    assert model.decode_logits(torch.zeros(7, 4, 3)).shape == (7, 4, 784)


def test_reparameterize_has_the_right_law_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).requires_grad_()
    z = reparameterize(mu, logvar, n_samples=200_000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 1, 2)
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([[0.5, 2.0]]), atol=0.02, rtol=0)
    # E[z²] = μ² + σ², so ∂/∂μ = 2μ and ∂/∂ log σ² = σ²
    (z**2).mean(0).sum().backward()
    torch.testing.assert_close(mu.grad, 2 * mu.detach(), atol=0.05, rtol=0)
    torch.testing.assert_close(logvar.grad, torch.tensor([[0.25, 4.0]]), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="n_samples"):
        reparameterize(mu, logvar, n_samples=0)


def test_reparameterize_draws_fresh_noise_under_broadcasting():
    z = reparameterize(torch.zeros(3), torch.zeros(5, 3), generator=torch.Generator().manual_seed(0))
    assert z.shape == (5, 3) and len(torch.unique(z[:, 0])) == 5
    with pytest.raises(ValueError, match="broadcast"):
        reparameterize(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="logvar has 1 non-finite"):
        reparameterize(torch.zeros(2), torch.tensor([0.0, float("nan")]))


def test_models_explain_wrong_shapes_and_configurations():
    with pytest.raises(ValueError, match=r"784 features per row"):
        Autoencoder().encode(torch.rand(5, 100))
    with pytest.raises(ValueError, match=r"shape \(B, D\)"):
        Autoencoder().encode(torch.rand(5, 28, 28))
    with pytest.raises(TypeError, match="floating-point"):
        VAE().encode(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(ValueError, match="last dimension"):
        VAE(latent_dim=3).decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="latent_dim must be an integer >= 1, got 2.5"):
        VAE(latent_dim=2.5)
    with pytest.raises(TypeError, match=r"hidden must be a sequence of layer widths .*, got 400"):
        VAE(hidden=400)
    with pytest.raises(TypeError, match="encoder_hidden"):
        VAE(encoder_hidden="400")


def test_vae_encoder_can_be_smaller_than_its_decoder():
    model = VAE(hidden=(32, 16), latent_dim=3, encoder_hidden=(8,))

    def widths(net):
        return [layer.out_features for layer in net if isinstance(layer, torch.nn.Linear)]

    assert widths(model.encoder) == [8, 6] and widths(model.decoder) == [16, 32, 784]
    assert model.config["encoder_hidden"] == [8] and VAE(hidden=(32,)).config["encoder_hidden"] is None


def test_vae_samples_decode_prior_draws():
    model = VAE(hidden=(16,), latent_dim=2)
    a = model.sample(5, torch.Generator().manual_seed(0))
    expected = model.decode(torch.randn(5, 2, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(a, expected)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        model.sample(0)


def test_init_output_bias_makes_the_untrained_decoder_output_the_mean_image():
    x = torch.rand(50, 784, generator=torch.Generator().manual_seed(0)) ** 3
    model = VAE(hidden=(16,), latent_dim=2)
    init_output_bias(model, x)
    torch.nn.init.zeros_(model.decoder[-1].weight)  # isolate the bias: the output is sigmoid(bias)
    assert torch.allclose(model.decode(torch.zeros(1, 2))[0], x.mean(0).clamp(1e-3, 1 - 1e-3), atol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        init_output_bias(Autoencoder(hidden=(8,)), x * 2)


def test_registry_device_dtype_input_check_and_eval_mode():
    assert MODELS == {"Autoencoder": Autoencoder, "VAE": VAE, "Classifier": Classifier,
                      "ConditionalVAE": ConditionalVAE, "CategoricalVAE": CategoricalVAE, "VQVAE": VQVAE}
    model = VAE(hidden=(8,), latent_dim=2).train()
    assert model_device(model) == torch.device("cpu") and model_dtype(model) == torch.float32
    assert model_dtype(model.double()) == torch.float64
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")
    x = torch.rand(3, 784, dtype=torch.float64)
    assert check_input(model, x, values=True) is x
    with pytest.raises(ValueError, match=r"x_test must hold values in \[0, 1\]"):
        check_input(model, 2 * x, "x_test", values=True)
    assert check_input(model, 2 * x, "x_test") is not None  # structure only
    model.float()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training
        raise RuntimeError
    assert model.training


def test_classifier_gives_class_probabilities_and_survives_a_checkpoint(tmp_path):
    from vaebook.checkpoints import load_model, save_model


    model = Classifier(hidden=(32,), classes=10)
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))
    p = model.probabilities(x)
    assert p.shape == (5, 10)
    # softmax by its defining properties, not by torch.softmax (the call probabilities makes):
    # the rows sum to 1 and p_c ∝ exp(logit_c), so log p_c − logit_c is one number per row
    torch.testing.assert_close(p.sum(1), torch.ones(5))
    with torch.no_grad():
        offset = p.log() - model(x)
    torch.testing.assert_close(offset, offset[:, :1].expand(5, 10), atol=1e-5, rtol=0)
    again = load_model(save_model(model, tmp_path / "c.pt"), expected_class=Classifier)
    torch.testing.assert_close(again.probabilities(x), p)
    with pytest.raises(ValueError, match="classes"):
        Classifier(classes=0)


def test_conditional_vae_feeds_the_one_hot_label_to_both_networks():
    model = ConditionalVAE(hidden=(16,), latent_dim=3, classes=4)
    x, labels = torch.rand(5, 784), torch.tensor([0, 1, 2, 3, 1])
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    mu, logvar = model.encode(x, labels)
    torch.testing.assert_close(torch.cat([mu, logvar], 1), model.encoder(torch.cat([x, one_hot], 1)))
    z = torch.randn(5, 3)
    torch.testing.assert_close(model.decode_logits(z, labels), model.decoder(torch.cat([z, one_hot], 1)))
    assert not torch.allclose(model.decode(z, labels), model.decode(z, (labels + 1) % 4))
    logits, mu2, logvar2 = model(x, labels, torch.Generator().manual_seed(0))
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(logits, model.decode_logits(mu + (0.5 * logvar).exp() * eps, labels))
    sampled = model.sample(labels, torch.Generator().manual_seed(1))
    prior = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(sampled, model.decode(prior, labels))
    stacked = model.decode_logits(z.expand(2, 5, 3), labels)  # (S, B, K) codes share the labels
    torch.testing.assert_close(stacked[1], model.decode_logits(z, labels))
    assert model.config == {"data_dim": 784, "hidden": [16], "latent_dim": 3, "classes": 4,
                            "prior": {"kind": "standard_normal", "latent_dim": 3},
                            "likelihood": {"kind": "bernoulli"}}


@pytest.mark.parametrize("labels, error, message", [
    (torch.tensor([0.0, 1.0]), TypeError, "torch.long"),
    (torch.tensor([0, 4]), ValueError, r"\[0, 4\)"),
    (torch.tensor([0, 1, 2]), ValueError, r"shape \(2,\)"),
    ([0, 1], TypeError, "torch.Tensor"),
])
def test_conditional_vae_refuses_bad_labels(labels, error, message):
    model = ConditionalVAE(hidden=(8,), latent_dim=2, classes=4)
    with pytest.raises(error, match=message):
        model.encode(torch.rand(2, 784), labels)
    with pytest.raises(error, match=message):
        model.decode(torch.zeros(2, 2), labels)


def test_conditional_vae_sample_needs_a_vector_of_labels():
    model = ConditionalVAE(hidden=(8,), latent_dim=2)
    with pytest.raises(TypeError, match="labels must be a torch.Tensor"):
        model.sample([1, 2])
    with pytest.raises(ValueError, match=r"shape \(n,\)"):
        model.sample(torch.zeros(2, 2, dtype=torch.long))
    assert model.sample(torch.arange(10)).shape == (10, 784)


def test_categorical_vae_reads_one_hot_codes_and_survives_a_checkpoint(tmp_path):
    from vaebook.checkpoints import load_model, save_model

    model = CategoricalVAE(data_dim=12, hidden=(8,), n_latents=3, n_categories=4)
    x = torch.rand(5, 12, generator=torch.Generator().manual_seed(0))
    logits = model.encode(x)
    assert logits.shape == (5, 3, 4)
    # the decoder reads the J one-hot vectors side by side: its first layer sees J·C numbers
    z = torch.nn.functional.one_hot(torch.tensor([[0, 3, 1]]), 4).float()
    torch.testing.assert_close(model.decode_logits(z), model.decoder(z.reshape(1, 12)))
    assert model.sample(6, torch.Generator().manual_seed(1)).shape == (6, 12)
    again = load_model(save_model(model, tmp_path / "c.pt"), expected_class=CategoricalVAE)
    torch.testing.assert_close(again.encode(x), logits.detach())
    with pytest.raises(ValueError, match=r"z must be a tensor of shape \(\.\.\., 3, 4\)"):
        model.decode_logits(torch.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="n_categories"):
        CategoricalVAE(n_categories=0)


def test_vq_vae_rounds_the_encoder_output_to_its_codebook_and_survives_a_checkpoint(tmp_path):
    from vaebook.checkpoints import load_model, save_model
    from vaebook.discrete import quantize

    model = VQVAE(data_dim=12, hidden=(8,), n_latents=3, code_dim=2, n_codes=5, commitment_weight=1.5)
    x = torch.rand(4, 12, generator=torch.Generator().manual_seed(0))
    logits, indices, codebook_loss, commitment_loss = model(x)
    z_q, expected, per_position, _ = quantize(model.encode(x), model.quantizer.codebook)
    assert indices.shape == (4, 3) and torch.equal(indices, expected)
    torch.testing.assert_close(logits, model.decode_logits(z_q))
    torch.testing.assert_close(codebook_loss, per_position.sum(-1))
    torch.testing.assert_close(commitment_loss, per_position.sum(-1))
    assert model.sample(3, torch.Generator().manual_seed(1)).shape == (3, 12)
    again = load_model(save_model(model, tmp_path / "v.pt"), expected_class=VQVAE)
    assert again.commitment_weight == 1.5
    assert torch.equal(again(x)[1], indices)
    with pytest.raises(ValueError, match="commitment_weight"):
        VQVAE(commitment_weight=-1.0)
