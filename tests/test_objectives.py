from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vaebook.models import VAE, Autoencoder
from vaebook.objectives import (
    bce_loss,
    denoising_bce_loss,
    elbo,
    kl_standard_normal,
    log_bernoulli,
    log_normal_diag,
    log_standard_normal,
    mse_loss,
    reparameterize,
    vae_loss,
)

torch.manual_seed(0)
MU, LOGVAR, Z = torch.randn(6, 4), torch.randn(6, 4), torch.randn(6, 4)


def test_log_bernoulli_matches_torch_distributions():
    x, logits = torch.bernoulli(torch.full((6, 10), 0.4)), 3 * torch.randn(6, 10)
    expected = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(log_bernoulli(x, logits), expected)


def test_log_bernoulli_broadcasts_over_samples():
    x, logits = torch.bernoulli(torch.full((6, 10), 0.4)), torch.randn(3, 6, 10)
    assert log_bernoulli(x, logits).shape == (3, 6)
    torch.testing.assert_close(log_bernoulli(x, logits)[1], log_bernoulli(x, logits[1]))


def test_log_bernoulli_refuses_pixels_outside_the_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        log_bernoulli(torch.full((2, 3), 255.0), torch.zeros(2, 3))


def test_log_normal_diag_and_standard_normal_match_torch_distributions():
    expected = Independent(Normal(MU, torch.exp(0.5 * LOGVAR)), 1).log_prob(Z)
    torch.testing.assert_close(log_normal_diag(Z, MU, LOGVAR), expected)
    standard = Independent(Normal(torch.zeros(4), torch.ones(4)), 1).log_prob(Z)
    torch.testing.assert_close(log_standard_normal(Z), standard)


def test_kl_standard_normal_matches_torch_distributions():
    q = Independent(Normal(MU, torch.exp(0.5 * LOGVAR)), 1)
    p = Independent(Normal(torch.zeros_like(MU), torch.ones_like(MU)), 1)
    torch.testing.assert_close(kl_standard_normal(MU, LOGVAR), kl_divergence(q, p))
    with pytest.raises(ValueError, match="same shape"):
        kl_standard_normal(MU, LOGVAR[:, :2])


def test_reparameterize_has_the_right_moments_and_gradients():
    mu = torch.tensor([[1.0, -2.0]], requires_grad=True)
    logvar = torch.log(torch.tensor([[0.25, 4.0]])).requires_grad_()
    z = reparameterize(mu, logvar, n_samples=200_000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 1, 2)
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([[0.5, 2.0]]), atol=0.02, rtol=0)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
    with pytest.raises(ValueError, match="n_samples"):
        reparameterize(mu, logvar, n_samples=0)


def test_elbo_is_a_lower_bound_shape_and_loss_sign():
    model = VAE(hidden=(16,), latent_dim=2)
    x = torch.bernoulli(torch.full((5, 784), 0.3))
    assert elbo(model, x, n_samples=3).shape == (5,)
    torch.manual_seed(1)
    loss = vae_loss(model, x)
    torch.manual_seed(1)
    assert loss.item() == pytest.approx(-elbo(model, x).mean().item())
    assert loss.item() > 0


def test_autoencoder_losses_sum_over_pixels():
    model = Autoencoder(hidden=(16,))
    x = torch.rand(4, 784)
    x_hat = torch.sigmoid(model(x))
    assert mse_loss(model, x).item() == pytest.approx(((x_hat - x) ** 2).sum(1).mean().item(), rel=1e-5)
    bce = torch.nn.functional.binary_cross_entropy(x_hat, x, reduction="sum") / 4
    assert bce_loss(model, x).item() == pytest.approx(bce.item(), rel=1e-4)
    assert denoising_bce_loss(model, x, 0.0).item() == pytest.approx(bce_loss(model, x).item())
    torch.manual_seed(0)
    noisy = x + 0.5 * torch.randn(4, 784)
    torch.manual_seed(0)
    expected = -log_bernoulli(x, model(noisy.clamp(0, 1))).mean()
    assert denoising_bce_loss(model, x, 0.5).item() == pytest.approx(expected.item())


def test_elbo_estimates_of_both_forms_converge_to_the_closed_form():
    from vaebook.exact import LinearGaussian
    from vaebook.objectives import elbo_estimate, elbo_estimate_kl

    model = LinearGaussian.random(data_dim=4, latent_dim=2, seed=0)
    x = model.sample(1, seed=1)[0]
    q = torch.distributions.MultivariateNormal(torch.tensor([0.3, -0.2], dtype=torch.float64),
                                               0.5 * torch.eye(2, dtype=torch.float64))
    exact = model.elbo(x, q).item()
    torch.manual_seed(0)
    joint = elbo_estimate(lambda z: model.log_joint(x, z), q, n_samples=200_000)
    kl_form = elbo_estimate_kl(lambda z: model.log_likelihood(x, z), q, model.prior(), n_samples=200_000)
    assert joint.item() == pytest.approx(exact, abs=0.02)
    assert kl_form.item() == pytest.approx(exact, abs=0.02)
    assert elbo_estimate(lambda z: model.log_joint(x, z), q, 10, n_estimates=7).shape == (7,)
    with pytest.raises(ValueError, match="one value per sample"):
        elbo_estimate(lambda z: z, q, 10)
    with pytest.raises(ValueError, match="n_samples"):
        elbo_estimate_kl(lambda z: model.log_likelihood(x, z), q, model.prior(), 0)
