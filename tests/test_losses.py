"""The ELBO against exact answers, the losses against their definitions, and model/loss checks."""

from __future__ import annotations

import math

import pytest
import torch

from vaebook.distributions import ContinuousBernoulliLikelihood, MixturePrior
from vaebook.losses import (
    bce_loss,
    beta_vae_loss,
    categorical_elbo,
    conditional_vae_loss,
    denoising_bce_loss,
    elbo,
    free_bits_loss,
    gumbel_softmax_loss,
    mse_loss,
    rate_distortion,
    straight_through_loss,
    vae_loss,
    vq_rate_distortion,
    vq_vae_loss,
)
from vaebook.models import VAE, VQVAE, Autoencoder, CategoricalVAE, ConditionalVAE


def test_elbo_is_log_evidence_minus_the_kl_to_the_true_posterior(tiny_vae):
    # L(q) = log p(x) − KL(q || p(z | x)), with the KL computed on the quadrature grid: a wrong
    # sign, a missing term or a mis-scaled σ in the ELBO breaks the equality, not just the bound.
    model, x, log_evidence, grid, log_posterior = tiny_vae
    with torch.no_grad():
        encoder = model.encode(x)
    # the encoder's q, and one moved away from the posterior, so that the KL is large
    for mu, logvar in (encoder, (encoder[0] + 1, encoder[1] - 1)):
        with torch.no_grad():
            estimate = elbo(model, x, 400_000, torch.Generator().manual_seed(0), posterior=(mu, logvar))
        log_q = -0.5 * (math.log(2 * math.pi) + logvar.T + (grid - mu.T) ** 2 / logvar.exp().T)  # (G, B)
        kl = (log_q.exp() * (log_q - log_posterior)).sum(0) * (grid[1, 0] - grid[0, 0])
        torch.testing.assert_close(estimate, log_evidence - kl, atol=0.01, rtol=0)
    assert torch.all(kl > 0.3)  # the moved q is far from the posterior: the test has teeth


def test_elbo_with_a_given_posterior_is_the_same_function(tiny_vae):
    model, x, *_ = tiny_vae
    with torch.no_grad():
        mu, logvar = model.encode(x)
        encoder = elbo(model, x, 50, torch.Generator().manual_seed(3))
        given = elbo(model, x, 50, torch.Generator().manual_seed(3), posterior=(mu, logvar))
        moved = elbo(model, x, 50, torch.Generator().manual_seed(3), posterior=(mu + 1, logvar))
    assert torch.equal(encoder, given) and not torch.equal(encoder, moved)
    with pytest.raises(ValueError, match="posterior's mu must have one row per image"):
        elbo(model, x, posterior=(mu[:2], logvar[:2]))
    with pytest.raises(TypeError, match="posterior must be a tuple"):
        elbo(model, x, posterior=mu)


def test_vae_loss_is_minus_the_mean_elbo_computed_by_torch_distributions():
    # The same draw ε, then the ELBO from torch.distributions alone (no vaebook density): the
    # Bernoulli log-likelihood of the decoded z minus the closed-form KL to N(0, I).
    model = VAE(hidden=(16,), latent_dim=2)
    x = torch.bernoulli(torch.full((5, 784), 0.3), generator=torch.Generator().manual_seed(0))
    loss = vae_loss(model, x, torch.Generator().manual_seed(1))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        z = mu + q.scale * torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
        log_likelihood = torch.distributions.Bernoulli(logits=model.decode_logits(z)).log_prob(x).sum(1)
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    assert loss.item() == pytest.approx(-(log_likelihood - kl).mean().item(), rel=1e-5)


def test_autoencoder_losses_sum_over_pixels_and_denoising_draws_from_the_generator():
    model = Autoencoder(hidden=(16,))
    x = torch.rand(4, 784, generator=torch.Generator().manual_seed(0))
    x_hat = torch.sigmoid(model(x))
    # references from torch.nn.functional, summed over all pixels of the 4 images and divided by 4
    mse = torch.nn.functional.mse_loss(x_hat, x, reduction="sum") / 4
    assert mse_loss(model, x).item() == pytest.approx(mse.item(), rel=1e-5)
    bce = torch.nn.functional.binary_cross_entropy(x_hat, x, reduction="sum") / 4
    assert bce_loss(model, x).item() == pytest.approx(bce.item(), rel=1e-4)
    assert denoising_bce_loss(0.0)(model, x).item() == pytest.approx(bce_loss(model, x).item())
    noisy = (x + 0.5 * torch.randn(4, 784, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(model(noisy)), x, reduction="sum") / 4
    got = denoising_bce_loss(0.5)(model, x, torch.Generator().manual_seed(2))
    assert got.item() == pytest.approx(expected.item(), rel=1e-4)
    with pytest.raises(ValueError, match="noise_std"):
        denoising_bce_loss(1.5)


@pytest.mark.parametrize("loss, model", [(vae_loss, Autoencoder(hidden=(8,), latent_dim=2)),
                                         (elbo, Autoencoder(hidden=(8,), latent_dim=2)),
                                         (bce_loss, VAE(hidden=(8,), latent_dim=2)),
                                         (mse_loss, VAE(hidden=(8,), latent_dim=2))])
def test_a_model_of_the_wrong_class_is_refused_even_with_two_rows(loss, model):
    # (2, K) codes could be unpacked as (μ, log σ²): the class is checked, not guessed from shapes.
    with pytest.raises(TypeError, match="model must be a (VAE|Autoencoder)"):
        loss(model, torch.rand(2, 784))


def test_losses_refuse_bad_data_with_the_argument_named():
    model = VAE(hidden=(8,), latent_dim=2)
    with pytest.raises(TypeError, match="x has dtype torch.float64 but the model's weights are torch.float"):
        vae_loss(model, torch.rand(3, 784, dtype=torch.float64))
    with pytest.raises(ValueError, match="x is empty"):
        vae_loss(model, torch.rand(0, 784))
    with pytest.raises(ValueError, match="784 features per row"):
        vae_loss(model, torch.rand(3, 783))
    with pytest.raises(TypeError, match="torch.as_tensor"):
        vae_loss(model, [[0.5] * 784])
    x = torch.rand(3, 784)
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"\[0, 1\].*1 nan"):
        vae_loss(model, x)
    with pytest.raises(ValueError, match="x is on meta but the model is on cpu.*to\\("):
        vae_loss(model, torch.rand(3, 784, device="meta"))


def _classification_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_cross_entropy_is_minus_the_log_probability_of_the_true_class():
    from vaebook.losses import cross_entropy_loss
    from vaebook.models import Classifier

    model = Classifier(hidden=(16,))
    x, y = _classification_data()
    log_p = torch.log_softmax(model(x), -1)
    expected = -log_p[torch.arange(len(y)), y].mean()
    torch.testing.assert_close(cross_entropy_loss(model, x, labels=y), expected)


@pytest.mark.parametrize("labels, error", [
    (torch.zeros(64), TypeError),                     # floats, not class indices
    (torch.full((64,), 10), ValueError),              # class 10 of 0..9
    (torch.zeros(63, dtype=torch.long), ValueError),  # one label short
    ([0] * 64, TypeError),                            # not a tensor
])
def test_cross_entropy_refuses_bad_labels(labels, error):
    from vaebook.losses import cross_entropy_loss
    from vaebook.models import Classifier

    x, _ = _classification_data()
    with pytest.raises(error, match="labels"):
        cross_entropy_loss(Classifier(hidden=(16,)), x, labels=labels)


def test_cross_entropy_refuses_a_model_that_is_no_classifier():
    from vaebook.losses import cross_entropy_loss

    x, y = _classification_data()
    with pytest.raises(TypeError, match="Classifier"):
        cross_entropy_loss(VAE(hidden=(8,), latent_dim=2), x, labels=y)


def test_continuous_bernoulli_loss_is_the_elbo_with_the_normalized_likelihood():
    # The same draw ε, then the ELBO from torch.distributions alone (no vaebook density): the
    # continuous Bernoulli log-density of x minus the closed-form KL to N(0, I).
    model = VAE(hidden=(16,), latent_dim=2, likelihood=ContinuousBernoulliLikelihood())
    x = torch.rand(5, 784, generator=torch.Generator().manual_seed(0))  # grey pixels
    loss = vae_loss(model, x, torch.Generator().manual_seed(1))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        eps = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
        logits = model.decode_logits(mu + q.scale * eps)
        fit = torch.distributions.ContinuousBernoulli(logits=logits).log_prob(x).sum(1)
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
        # the same draw under vae_loss misses exactly the normalizer, Σ_d log C(ℓ_d)
        bernoulli_fit = torch.distributions.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(1)
    # Near λ = 1/2 each pixel's log-density is log C(ℓ) ≈ 0.69 plus a small term: the loss is a
    # sum of 784 float32 terms, some 540 nats. Summed in another order (ATen's AVX2 and AVX-512
    # kernels do) such a sum moves by up to about sqrt(784) * 6e-8 * 540 = 1e-3, so compare
    # absolutely, at that level; a missing or wrong term costs whole nats.
    assert loss.item() == pytest.approx(-(fit - kl).mean().item(), abs=1e-3)
    same_networks = VAE(hidden=(16,), latent_dim=2)  # the default likelihood, Bernoulli
    same_networks.load_state_dict(model.state_dict())
    bernoulli = vae_loss(same_networks, x, torch.Generator().manual_seed(1))
    assert (bernoulli - loss).item() == pytest.approx((fit - bernoulli_fit).mean().item(), rel=1e-4)


def test_conditional_vae_loss_is_minus_the_conditional_elbo():
    model = ConditionalVAE(hidden=(16,), latent_dim=2)
    x, y = _classification_data(8)
    x = torch.bernoulli(x, generator=torch.Generator().manual_seed(3))
    loss = conditional_vae_loss(model, x, torch.Generator().manual_seed(1), labels=y)
    # the same draw ε, then the conditional ELBO from torch.distributions (no vaebook density)
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
        q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
        eps = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
        logits = model.decode_logits(mu + q.scale * eps, y)
        fit = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(1)
        kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    # An untrained decoder's logits are near 0, so each pixel costs about log 2 and the loss is a
    # sum of 784 float32 terms, some 540 nats. Summed in another order (ATen's AVX2 and AVX-512
    # kernels do; a fresh-clone CI saw 1.2e-4) such a sum moves by up to about
    # sqrt(784) * 6e-8 * 540 = 1e-3, so compare absolutely, at that level; a wrong term costs nats.
    assert loss.item() == pytest.approx(-(fit - kl).mean().item(), abs=1e-3)


CVAE = ConditionalVAE(hidden=(8,), latent_dim=2)


@pytest.mark.parametrize("model, labels, error, message", [
    (CVAE, torch.full((8,), 10), ValueError, r"labels must lie in \[0, 10\)"),
    (CVAE, torch.zeros(7, dtype=torch.long), ValueError, "labels"),
    (VAE(hidden=(8,), latent_dim=2), torch.zeros(8, dtype=torch.long), TypeError, "ConditionalVAE"),
])
def test_conditional_vae_loss_refuses_bad_labels_and_models(model, labels, error, message):
    x, _ = _classification_data(8)
    with pytest.raises(error, match=message):
        conditional_vae_loss(model, x, labels=labels)


def test_conditional_vae_trains_with_labels():
    from vaebook.training import train

    x, y = _classification_data(64)
    model = ConditionalVAE(hidden=(16,), latent_dim=2)
    history = train(model, conditional_vae_loss, x, labels=y, epochs=2, batch_size=16, progress=False)
    assert len(history.train) == 2 and all(math.isfinite(v) for v in history.train)


# --- rate and distortion, free bits ----------------------------------------------------------------

def _binary_images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 784), 0.3), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("flow_layers", [0, 2])
def test_rate_plus_distortion_is_minus_the_elbo_in_bits(flow_layers):
    # The same three draws per image (the same generator state) in both; with a flow the KL is the
    # Monte Carlo estimate from those draws, in both.
    model, x = VAE(hidden=(16,), latent_dim=3, flow_layers=flow_layers), _binary_images()
    rate, distortion = rate_distortion(model, x, 3, torch.Generator().manual_seed(1))
    bound = elbo(model, x, 3, torch.Generator().manual_seed(1))
    assert rate.shape == distortion.shape == (6,)
    torch.testing.assert_close(rate + distortion, -bound / math.log(2))
    assert (distortion > 0).all()


def test_rate_is_torchs_kl_in_bits():
    model, x = VAE(hidden=(16,), latent_dim=3), _binary_images()
    rate, _ = rate_distortion(model, x)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    kl = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(rate, kl / math.log(2))


def test_rate_distortion_refuses_bad_input():
    with pytest.raises(TypeError, match="model must be a VAE"):
        rate_distortion(Autoencoder(hidden=(8,)), _binary_images())
    with pytest.raises(ValueError, match="n_samples"):
        rate_distortion(VAE(hidden=(8,), latent_dim=2), _binary_images(), 0)


def test_free_bits_with_no_allowance_is_the_vae_loss_and_never_below_it():
    model, x = VAE(hidden=(16,), latent_dim=4), _binary_images(8)
    plain = vae_loss(model, x, torch.Generator().manual_seed(2))
    torch.testing.assert_close(free_bits_loss(0.0)(model, x, torch.Generator().manual_seed(2)), plain)
    for allowance in (0.01, 0.5, 3.0):
        assert free_bits_loss(allowance)(model, x, torch.Generator().manual_seed(2)) >= plain


def test_free_bits_send_no_kl_gradient_to_units_below_the_allowance():
    # The loss minus the reconstruction alone (β = 0, same draw) is Σ_j max(λ, KL_j): its gradient
    # on the encoder's output rows of unit j (μ_j and log σ_j²) is 0 where KL_j < λ, and that of
    # the minibatch-mean KL_j from torch.distributions elsewhere.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model, x = VAE(hidden=(16,), latent_dim=4), _binary_images(8)
    with torch.no_grad():
        model.encoder[-1].bias[:4] = torch.tensor([0.0, 0.5, 1.5, 3.0])  # spread the units' KLs
        mu, logvar = model.encode(x)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    kl_units = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean(0)
    allowance = kl_units.sort().values[1:3].mean().item()  # two units below it, two above
    below = kl_units < allowance
    assert below.sum() == 2
    difference = (free_bits_loss(allowance)(model, x, torch.Generator().manual_seed(3))
                  - beta_vae_loss(0.0)(model, x, torch.Generator().manual_seed(3)))
    (got,) = torch.autograd.grad(difference, model.encoder[-1].weight)

    def kl_of_unit(j):
        mu, logvar = model.encode(x)
        q = torch.distributions.Normal(mu[:, j], (0.5 * logvar[:, j]).exp())
        return torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).mean()

    for j in range(4):
        rows = got[[j, 4 + j]]
        if below[j]:
            assert torch.equal(rows, torch.zeros_like(rows)), j
        else:
            (expected,) = torch.autograd.grad(kl_of_unit(j), model.encoder[-1].weight)
            torch.testing.assert_close(rows, expected[[j, 4 + j]])
            assert rows.abs().max() > 0


def test_free_bits_refuse_what_has_no_per_unit_kl():
    x = _binary_images()
    with pytest.raises(ValueError, match="nats_per_unit"):
        free_bits_loss(-1.0)
    with pytest.raises(TypeError, match="standard normal prior and no flow"):
        free_bits_loss(0.5)(VAE(hidden=(8,), latent_dim=2, flow_layers=1), x)
    mixture = VAE(hidden=(8,), latent_dim=2, prior=MixturePrior.initial(2, 3))
    with pytest.raises(TypeError, match="MixturePrior prior"):
        free_bits_loss(0.5)(mixture, x)
    with pytest.raises(TypeError, match="model must be a VAE"):
        free_bits_loss(0.5)(Autoencoder(hidden=(8,)), x)


# --- VAEs with discrete codes --------------------------------------------------------------------

F64 = torch.float64


def _tiny_categorical():
    """A float64 CategoricalVAE with J = 2 latents of C = 3 values on 5 pixels, and 3 binary images."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CategoricalVAE(data_dim=5, hidden=(8,), n_latents=2, n_categories=3).double()
    x = torch.bernoulli(torch.full((3, 5), 0.4, dtype=F64), generator=torch.Generator().manual_seed(1))
    return model, x


def test_categorical_elbo_agrees_with_enumeration():
    # All 9 configurations: the exact ELBO by enumerated_elbo, with log p(x | z) from
    # torch.distributions; the estimate from 100,000 one-hot draws lies within 4 standard errors,
    # the standard deviation of log p(x | z) under q computed exactly from the same enumeration.
    from vaebook.discrete import enumerated_elbo, one_hot_configurations

    model, x = _tiny_categorical()
    z = one_hot_configurations(2, 3, F64)
    with torch.no_grad():
        logits = model.encode(x)
        fit = torch.distributions.Bernoulli(logits=model.decode_logits(z).unsqueeze(1)).log_prob(x).sum(-1)
        exact = enumerated_elbo(lambda configs: fit - 2 * math.log(3), logits)  # (9, B): uniform prior
        q = torch.einsum("njc,bjc->nb", z, torch.log_softmax(logits, -1)).exp()
        spread = (q * (fit - (q * fit).sum(0)) ** 2).sum(0).sqrt()
        estimate = categorical_elbo(model, x, 100_000, torch.Generator().manual_seed(2))
    assert estimate.shape == (3,)
    assert ((estimate - exact).abs() < 4 * spread / math.sqrt(100_000)).all(), (estimate, exact)


def test_categorical_rate_and_distortion_split_its_elbo():
    model, x = _tiny_categorical()
    rate, distortion = rate_distortion(model, x, 4, torch.Generator().manual_seed(3))
    bound = categorical_elbo(model, x, 4, torch.Generator().manual_seed(3))
    torch.testing.assert_close(rate + distortion, -bound / math.log(2))
    q = torch.distributions.Categorical(logits=model.encode(x))
    uniform = torch.distributions.Categorical(logits=torch.zeros(3, dtype=F64))
    torch.testing.assert_close(rate, torch.distributions.kl_divergence(q, uniform).sum(-1) / math.log(2))


@pytest.mark.parametrize("hard", [False, True])
def test_relaxed_losses_are_their_definitions(hard):
    # The Gumbel noise rebuilt from the same uniforms, G = −log(−log U); the KL and the likelihood
    # from torch.distributions. Straight-through decodes the one-hot argmax, and the decoder's
    # gradient is then the one at that one-hot code.
    model, x = _tiny_categorical()
    temperature = 0.7
    loss = (straight_through_loss if hard else gumbel_softmax_loss)(temperature)
    value = loss(model, x, torch.Generator().manual_seed(4))
    (got,) = torch.autograd.grad(value, model.decoder[0].weight)
    u = torch.rand(1, 3, 2, 3, generator=torch.Generator().manual_seed(4), dtype=F64)[0]
    logits = model.encode(x)
    scores = logits + -torch.log(-torch.log(u))
    y = torch.softmax(scores / temperature, -1)
    if hard:
        y = torch.nn.functional.one_hot(scores.argmax(-1), 3).to(F64)
    q = torch.distributions.Categorical(logits=logits)
    uniform = torch.distributions.Categorical(logits=torch.zeros(3, dtype=F64))
    kl = torch.distributions.kl_divergence(q, uniform)
    fit = torch.distributions.Bernoulli(logits=model.decode_logits(y)).log_prob(x).sum(-1)
    expected = (kl.sum(-1) - fit).mean()
    torch.testing.assert_close(value, expected)
    (by_hand,) = torch.autograd.grad(expected, model.decoder[0].weight)
    torch.testing.assert_close(got, by_hand)


def _tiny_vq():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VQVAE(data_dim=6, hidden=(8,), n_latents=3, code_dim=2, n_codes=4, commitment_weight=0.7)
        model.double()
        model.quantizer.codebook.data = torch.randn(4, 2, dtype=F64)  # codes near the encoder's outputs
    x = torch.bernoulli(torch.full((5, 6), 0.4, dtype=F64), generator=torch.Generator().manual_seed(1))
    return model, x


def test_vq_vae_loss_gradients_are_straight_through_plus_commitment_and_codebook():
    # By hand, with the nearest codes found by brute force: the encoder gets the decoder's gradient
    # at z_q copied to z_e plus w · 2 (z_e − e_m) / B from the commitment term; the codebook gets
    # 2 Σ (e_m − z_e) / B over the vectors assigned to each code, and nothing from the decoder.
    model, x = _tiny_vq()
    loss = vq_vae_loss(model, x)
    encoder_params = list(model.encoder.parameters())
    got = torch.autograd.grad(loss, [*encoder_params, model.quantizer.codebook])
    codebook = model.quantizer.codebook.detach()
    z_e = model.encode(x)
    flat = z_e.detach().reshape(-1, 2)
    nearest = torch.tensor([min(range(4), key=lambda m, v=v: ((v - codebook[m]) ** 2).sum().item())
                            for v in flat]).reshape(5, 3)
    z_q = codebook[nearest].clone().requires_grad_()
    fit = torch.distributions.Bernoulli(logits=model.decode_logits(z_q)).log_prob(x).sum(-1)
    (at_z_q,) = torch.autograd.grad(-fit.mean(), z_q)
    to_z_e = at_z_q + 0.7 * 2 * (z_e.detach() - codebook[nearest]) / 5
    expected_encoder = torch.autograd.grad(z_e, encoder_params, grad_outputs=to_z_e)
    expected_codebook = torch.zeros(4, 2, dtype=F64).index_add_(
        0, nearest.reshape(-1), 2 * (codebook[nearest] - z_e.detach()).reshape(-1, 2) / 5)
    for a, b in zip(got, [*expected_encoder, expected_codebook], strict=True):
        torch.testing.assert_close(a, b)
    assert expected_codebook.abs().max() > 0


def test_vq_rates_and_distortion_by_hand():
    # Rates from the codes' counts at each position, by Counter; distortion from torch.distributions.
    from collections import Counter

    model, x = _tiny_vq()
    with torch.no_grad():
        uniform, empirical, distortion = vq_rate_distortion(model, x)
        logits, indices, _, _ = model(x)
    assert torch.equal(uniform, torch.full((5,), 3 * 2.0, dtype=F64))  # J log₂ M = 3 · 2 bits
    columns = [Counter(indices[:, j].tolist()) for j in range(3)]
    by_hand = [-sum(math.log2(columns[j][m] / 5) for j, m in enumerate(row)) for row in indices.tolist()]
    torch.testing.assert_close(empirical, torch.tensor(by_hand, dtype=F64))
    entropy = sum(-k / 5 * math.log2(k / 5) for column in columns for k in column.values())
    assert empirical.mean().item() == pytest.approx(entropy) and entropy <= 6
    fit = torch.distributions.Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(distortion, -fit / math.log(2))


def test_discrete_losses_refuse_the_wrong_model_and_settings():
    x = torch.rand(2, 784)
    with pytest.raises(TypeError, match="model must be a CategoricalVAE"):
        gumbel_softmax_loss(1.0)(VAE(hidden=(8,), latent_dim=2), x)
    with pytest.raises(TypeError, match="model must be a CategoricalVAE"):
        categorical_elbo(VQVAE(hidden=(8,)), x)
    with pytest.raises(TypeError, match="model must be a VQVAE"):
        vq_vae_loss(CategoricalVAE(hidden=(8,)), x)
    with pytest.raises(TypeError, match="model must be a VQVAE"):
        vq_rate_distortion(VAE(hidden=(8,), latent_dim=2), x)
    with pytest.raises(ValueError, match="temperature"):
        straight_through_loss(0.0)
    with pytest.raises(ValueError, match="n_samples"):
        categorical_elbo(CategoricalVAE(hidden=(8,)), x, 0)
