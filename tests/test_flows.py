"""Planar flows and the VAE whose posterior has one, against independent checks: autograd's
Jacobian for the log-determinant, and quadrature of log p(x) for the density they give."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from vaebook.checkpoints import load_model, save_model
from vaebook.flows import invertible_u, planar_flow, planar_parameter_count
from vaebook.likelihood import iwae_loss, log_importance_weights
from vaebook.losses import elbo, vae_loss
from vaebook.models import VAE
from vaebook.vi import refine_posterior

F64 = torch.float64


def random_params(k: int, layers: int, seed: int, scale: float = 1.5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(planar_parameter_count(k, layers), generator=g, dtype=F64)


def test_log_det_is_the_log_of_autograds_jacobian_determinant():
    for k, layers, seed in ((1, 1, 0), (3, 2, 1), (4, 5, 2)):
        params = random_params(k, layers, seed)
        for z in torch.randn(5, k, generator=torch.Generator().manual_seed(seed), dtype=F64):
            jacobian = torch.autograd.functional.jacobian(
                lambda v, params=params: planar_flow(v, params)[0], z)
            _, log_det = planar_flow(z, params)
            sign, expected = torch.linalg.slogdet(jacobian)
            assert sign > 0  # invertible and orientation-preserving
            torch.testing.assert_close(log_det, expected, rtol=0, atol=1e-10)


def test_u_hat_keeps_every_layer_invertible_however_u_points():
    w = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=F64)
    for u in (-10 * w, 10 * w, torch.zeros_like(w)):
        assert ((w * invertible_u(u, w)).sum(-1) > -1).all()
    # where wᵀu is already large, û hardly moves: softplus(a) − 1 ≈ a − 1
    u = 30 * w
    torch.testing.assert_close((w * invertible_u(u, w)).sum(-1), (w * u).sum(-1) - 1)


def test_the_flows_density_integrates_to_one():
    # E_q[p0(z) / q(z)] = ∫ p0 = 1 for any density p0: a wrong log-determinant biases it
    params = random_params(2, 3, seed=4)
    z0 = torch.randn(200_000, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    z, log_det = planar_flow(z0, params)
    log_q = Normal(0.0, 1.0).log_prob(z0).sum(-1) - log_det
    ratio = torch.exp(Normal(0.0, 2.0).log_prob(z).sum(-1) - log_q)
    assert abs(ratio.mean().item() - 1) < 4 * ratio.std().item() / math.sqrt(len(ratio))
    wrong = torch.exp(Normal(0.0, 2.0).log_prob(z).sum(-1) - log_q - 2 * log_det)  # the control
    assert abs(wrong.mean().item() - 1) > 4 * wrong.std().item() / math.sqrt(len(wrong))


def small_flow_vae(seed: int = 0, layers: int = 2) -> VAE:
    torch.manual_seed(seed)
    model = VAE(data_dim=6, hidden=(8,), latent_dim=1, flow_layers=layers).double()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)  # a wider posterior and a flow that bends it
    return model


def log_evidence_by_quadrature(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log ∫ p(x | z) p(z) dz on a fine grid over [-10, 10], for K = 1."""
    z = torch.linspace(-10, 10, 20_001, dtype=F64)[:, None]
    log_joint = (model.likelihood.log_prob(x[:, None, :], model.decode_logits(z)[None])
                 + model.prior.log_prob(z)[None])  # (B, grid)
    return torch.logsumexp(log_joint, 1) + math.log(z[1, 0] - z[0, 0])


def test_importance_weights_of_a_flow_posterior_are_unbiased_for_p_x():
    model = small_flow_vae()
    x = torch.bernoulli(torch.full((3, 6), 0.4, dtype=F64), generator=torch.Generator().manual_seed(1))
    truth = log_evidence_by_quadrature(model, x)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        log_w = log_importance_weights(model, x, 40_000, g).T  # (n, B)
    ratio = torch.exp(log_w - truth)  # w / p(x): mean 1 when q is a proper density
    se = ratio.std(0) / math.sqrt(len(ratio))
    assert ((ratio.mean(0) - 1).abs() < 4 * se).all()
    assert (log_w.mean(0) < truth).all()  # the ELBO is below log p(x)


def test_a_flow_vae_estimates_its_kl_by_monte_carlo_and_round_trips_a_checkpoint(tmp_path):
    model = small_flow_vae(layers=3)
    x = torch.rand(4, 6, dtype=F64)
    plain = VAE(data_dim=6, hidden=(8,), latent_dim=1).double()
    # the same Gaussian draws: the flow is what moves z, and log q follows it
    z, log_q, mu, logvar = model.draw_posterior(x, 5, torch.Generator().manual_seed(0))
    assert z.shape == (5, 4, 1) and log_q.shape == (5, 4)
    assert not torch.allclose(log_q, Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1))
    assert plain.flow_layers == 0 and "flow_layers" not in plain.config
    save_model(model, tmp_path / "flow.pt")
    again = load_model(tmp_path / "flow.pt").double()
    assert again.config["flow_layers"] == 3
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(elbo(model, x, 4, g1), elbo(again, x, 4, g2))
    with pytest.raises(TypeError, match="flow parameters"):
        elbo(model, x, 1, posterior=(mu, logvar))
    with pytest.raises(ValueError, match="flow_layers"):
        VAE(latent_dim=2, flow_layers=-1)


def test_iwae_loss_with_one_sample_is_the_elbo_on_average():
    torch.manual_seed(0)
    model = VAE(data_dim=6, hidden=(8,), latent_dim=2).double()
    x = torch.rand(5, 6, dtype=F64)
    g = torch.Generator().manual_seed(1)

    copies = x.repeat(500, 1)  # each call averages 500 independent draws per image

    def losses(loss, n):
        with torch.no_grad():
            values = torch.stack([loss(model, copies, g) for _ in range(n)])
        return values.mean(), values.std() / math.sqrt(n)

    one, one_se = losses(iwae_loss(1), 40)  # a Monte Carlo KL
    closed, closed_se = losses(vae_loss, 40)  # the closed-form KL
    assert abs(one - closed) < 4 * math.hypot(one_se, closed_se)
    five, five_se = losses(iwae_loss(5), 40)  # more samples, a tighter bound: a lower loss
    assert five < one - 4 * math.hypot(five_se, one_se)
    with pytest.raises(ValueError, match="k must be"):
        iwae_loss(0)
    with pytest.raises(TypeError, match="model"):
        iwae_loss(2)(torch.nn.Linear(6, 6), x)


def test_refining_a_flow_posterior_per_image_refines_the_flow_too():
    model = small_flow_vae(layers=2)
    x = torch.bernoulli(torch.full((4, 6), 0.4, dtype=F64), generator=torch.Generator().manual_seed(1))
    start = model.encode_posterior(x)
    refined = refine_posterior(model, x, steps=100, n_samples=20, lr=0.05, progress=False)
    assert len(refined) == 3 and not torch.equal(refined[2], start[2])

    def mean_elbo(posterior):
        g = torch.Generator().manual_seed(7)
        with torch.no_grad():
            return elbo(model, x, 20_000, g, posterior=posterior)

    assert (mean_elbo(refined) > mean_elbo(start)).all()
    assert (mean_elbo(refined) < log_evidence_by_quadrature(model, x)).all()
