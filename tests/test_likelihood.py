"""The importance-sampled log-likelihood against an exact answer: a VAE with a one-dimensional
latent, whose log p(x) = log ∫ p(x | z) N(z; 0, 1) dz a fine quadrature grid computes exactly
(the ``tiny_vae`` fixture)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from vaebook import likelihood
from vaebook.checks import checked
from vaebook.likelihood import (
    bound_from_log_weights,
    estimate_log_likelihood,
    iwae_bound,
    log_importance_weights,
    pareto_shape,
    sample_log_weights,
)
from vaebook.losses import elbo


def test_large_k_estimate_matches_the_exact_log_likelihood(tiny_vae):
    model, x, exact, *_ = tiny_vae
    estimate = estimate_log_likelihood(model, x, k=20_000, batch_size=2, chunk=3_000, progress=False)
    assert estimate.shape == (4,)
    torch.testing.assert_close(estimate, exact, atol=0.01, rtol=0)


def test_log_weights_have_one_row_per_image(tiny_vae):
    # Row b must hold image b's weights: with four different images, each row's mean log-weight
    # is that image's ELBO, which differs between images by more than the noise.
    model, x, *_ = tiny_vae
    with torch.no_grad():
        log_w = log_importance_weights(model, x, 20_000, torch.Generator().manual_seed(0))
        elbos = elbo(model, x, 20_000, torch.Generator().manual_seed(1))
    assert log_w.shape == (4, 20_000)
    torch.testing.assert_close(log_w.mean(1), elbos, atol=0.05, rtol=0)
    assert (elbos.max() - elbos.min()).item() > 0.5
    with torch.no_grad():
        one = log_importance_weights(model, x[2:3], 20_000, torch.Generator().manual_seed(0))
    assert one.shape == (1, 20_000)
    torch.testing.assert_close(one.mean(1), elbos[2:3], atol=0.05, rtol=0)


def test_bounds_are_ordered_in_expectation(tiny_vae):
    model, x, exact, *_ = tiny_vae
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        l1 = torch.stack([iwae_bound(model, x, 1, g) for _ in range(2000)]).mean(0)
        l10 = torch.stack([iwae_bound(model, x, 10, g) for _ in range(2000)]).mean(0)
        elbo_mean = elbo(model, x, 20_000, g)
    assert torch.all(l1 < l10) and torch.all(l10 <= exact + 1e-3)
    torch.testing.assert_close(l1, elbo_mean, atol=0.1, rtol=0)  # L_1 is the ELBO


def test_estimate_is_seeded_and_chunking_keeps_its_distribution(tiny_vae):
    model, x, *_ = tiny_vae
    a = estimate_log_likelihood(model, x, k=500, chunk=500, seed=5, progress=False)
    b = estimate_log_likelihood(model, x, k=500, chunk=500, seed=5, progress=False)
    c = estimate_log_likelihood(model, x, k=500, chunk=7, seed=5, progress=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(a, c, atol=0.05, rtol=0)


def test_bound_from_log_weights_is_the_log_of_the_mean_weight():
    log_w = torch.log(torch.tensor([[1.0, 3.0, 8.0], [2.0, 2.0, 2.0], [0.0, 4.0, 2.0]], dtype=torch.float64))
    expected = torch.log(torch.tensor([4.0, 2.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(bound_from_log_weights(log_w), expected)  # a zero weight is allowed
    torch.testing.assert_close(bound_from_log_weights(log_w[:, :1]), log_w[:, 0])  # L_1: one weight
    with pytest.raises(ValueError, match=r"log_w must be \(N, k\)"):
        bound_from_log_weights(log_w[0])
    with pytest.raises(ValueError, match="nan or \\+inf"):
        bound_from_log_weights(torch.tensor([[0.0, float("nan")]]))


def test_one_set_of_log_weights_gives_the_estimate_and_every_smaller_bound(tiny_vae):
    model, x, exact, *_ = tiny_vae
    log_w = sample_log_weights(model, x, k=4000, chunk=700, seed=7, progress=False)
    assert log_w.shape == (4, 4000)
    torch.testing.assert_close(bound_from_log_weights(log_w),
                               estimate_log_likelihood(model, x, k=4000, chunk=700, seed=7, progress=False))
    # The columns are independent samples: groups of ten give E[L_10], between the ELBO and log p(x).
    l1 = log_w.mean(1)
    l10 = bound_from_log_weights(log_w.reshape(4 * 400, 10)).reshape(4, 400).mean(1)
    assert torch.all(l1 < l10) and torch.all(l10 <= exact + 0.02)


def test_sampling_restores_the_models_mode_even_on_an_error(tiny_vae, monkeypatch):
    model, x, *_ = tiny_vae
    model.train()
    try:
        sample_log_weights(model, x, k=3, progress=False)
        assert model.training

        def boom(*args):
            assert not model.training  # sampling runs in eval mode
            raise RuntimeError("boom")

        monkeypatch.setattr(likelihood, "log_importance_weights", checked(lambda **_: None)(boom))
        with pytest.raises(RuntimeError, match="boom"):
            sample_log_weights(model, x, k=3, progress=False)
        assert model.training
    finally:
        model.eval()


def test_bad_arguments_are_refused(tiny_vae):
    model, x, *_ = tiny_vae
    with pytest.raises(ValueError, match="6 features per row"):
        iwae_bound(model, torch.zeros(2, 5, dtype=torch.float64), 3)
    with pytest.raises(TypeError, match="model must be a VAE"):
        sample_log_weights(torch.nn.Linear(6, 6), x, progress=False)


def test_pareto_shape_matches_arviz_psislw():
    # Log-weights built from generalized-Pareto quantiles of shape 0.3 and 0.7 (perturbed and out
    # of order). The reference values are ArviZ 0.23.4's ``psislw(log_w, reff=1.0)`` k-hats for
    # exactly this input; vaebook's vectorized fit agreed with it to 1e-14 on random inputs too.
    s = 400
    u = (np.arange(s) + 0.5) / s
    rows = [np.log(((1 - u) ** -c - 1) / c * (1 + 0.3 * np.sin(np.arange(s)))) for c in (0.3, 0.7)]
    khat = pareto_shape(torch.tensor(np.array(rows)))
    torch.testing.assert_close(khat, torch.tensor([0.32693479, 0.68196372], dtype=torch.float64),
                               atol=1e-7, rtol=0)


@pytest.mark.parametrize("shape", [0.2, 0.5, 0.9])
def test_pareto_shape_recovers_the_shape_of_pareto_weights(shape):
    # Weights drawn from a generalized Pareto of known shape: the mean k-hat over 100 rows of 1,000
    # weights is within 3 standard errors of the truth, allowing for the prior's pull towards 0.5
    # (10 pseudo-points against the 95 of the tail: at most 0.1 * |shape - 0.5|).
    w = stats.genpareto.rvs(shape, size=(100, 1000), random_state=np.random.default_rng(0))
    khat = pareto_shape(torch.tensor(np.log(w)))
    se = khat.std().item() / math.sqrt(len(khat))
    assert abs(khat.mean().item() - shape) < 3 * se + 0.1 * abs(shape - 0.5)


def test_pareto_shape_tells_light_from_heavy_tails():
    # Normal log-weights (log-normal weights, sd 0.5) have a light tail; weights 1/U^2 have a
    # Pareto tail of shape 2 and an infinite mean.
    rng = torch.Generator().manual_seed(0)
    light = pareto_shape(0.5 * torch.randn(100, 1000, generator=rng))
    heavy = pareto_shape(-2 * torch.log(torch.rand(100, 1000, generator=rng)))
    assert light.max() < 0.5 and heavy.min() > 1


def test_pareto_shape_refuses_bad_log_weights():
    with pytest.raises(ValueError, match=r"\blog_w\b.*k >= 20"):
        pareto_shape(torch.zeros(3, 10))
    with pytest.raises(ValueError, match=r"\blog_w\b.*nan or inf"):
        pareto_shape(torch.tensor([[0.0] * 30 + [math.nan]]))
    assert pareto_shape(torch.zeros(2, 30)).isinf().all()  # every weight equal: no tail to fit


class _NoisyLinear(torch.nn.Module):
    """A stand-in VAE whose gradient is known: loss = Σ (1 + 0.5 ε) · encoder weights + Σ (1 +
    0.25 ε') · decoder weights, so every encoder component's SNR is 2 and every decoder one's 4."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = torch.nn.Linear(3, 2), torch.nn.Linear(2, 3)


def test_gradient_snr_recovers_a_known_signal_to_noise_ratio(monkeypatch):
    monkeypatch.setattr(likelihood, "check_model_and_data", lambda *args, **kwargs: None)
    model = _NoisyLinear()

    def loss(model, x, generator):
        noise = torch.randn(2, generator=generator)
        return ((1 + 0.5 * noise[0]) * sum(p.sum() for p in model.encoder.parameters())
                + (1 + 0.25 * noise[1]) * sum(p.sum() for p in model.decoder.parameters()))

    snr = likelihood.gradient_snr(model, loss, torch.zeros(2, 3), repeats=4000, seed=0)
    assert snr["encoder"] == pytest.approx(2, rel=0.05)
    assert snr["decoder"] == pytest.approx(4, rel=0.05)


def test_gradient_snr_needs_two_repeats():
    model = likelihood.VAE(data_dim=4, hidden=(3,), latent_dim=2)
    with pytest.raises(ValueError, match="repeats must be at least 2"):
        likelihood.gradient_snr(model, likelihood.iwae_loss(2), torch.rand(2, 4), repeats=1)
