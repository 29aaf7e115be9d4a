"""The importance-sampled log-likelihood against an exact answer: a VAE with a one-dimensional
latent, whose log p(x) = log ∫ p(x | z) N(z; 0, 1) dz a fine quadrature grid computes exactly."""

from __future__ import annotations

import math

import pytest
import torch

from vaebook.models import VAE
from vaebook.objectives import bound_from_log_weights, elbo, iwae_bound, log_bernoulli
from vaebook.training import estimate_log_likelihood, sample_log_weights


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = VAE(data_dim=6, hidden=(16,), latent_dim=1).double()
    x = torch.bernoulli(torch.full((4, 6), 0.5, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(1))
    grid = torch.linspace(-12, 12, 40_001, dtype=torch.float64).unsqueeze(-1)  # (G, 1)
    with torch.no_grad():
        log_lik = log_bernoulli(x, model.decode_logits(grid.unsqueeze(1)))  # (G, B)
    log_prior = -0.5 * (grid**2 + math.log(2 * math.pi))  # (G, 1)
    exact = torch.logsumexp(log_lik + log_prior, 0) + math.log(grid[1, 0] - grid[0, 0])
    return model, x, exact


def test_large_k_estimate_matches_the_exact_log_likelihood(tiny):
    model, x, exact = tiny
    estimate = estimate_log_likelihood(model, x, k=20_000, batch_size=2, chunk=3_000, progress=False)
    assert estimate.shape == (4,)
    torch.testing.assert_close(estimate, exact, atol=0.01, rtol=0)


def test_bounds_are_ordered_in_expectation(tiny):
    model, x, exact = tiny
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        l1 = torch.stack([iwae_bound(model, x, 1, g) for _ in range(2000)]).mean(0)
        l10 = torch.stack([iwae_bound(model, x, 10, g) for _ in range(2000)]).mean(0)
        torch.manual_seed(3)
        elbo_mean = torch.stack([elbo(model, x) for _ in range(2000)]).mean(0)
    assert torch.all(l1 < l10) and torch.all(l10 <= exact + 1e-3)
    torch.testing.assert_close(l1, elbo_mean, atol=0.1, rtol=0)  # L_1 is the ELBO


def test_estimate_is_seeded_and_chunking_keeps_its_distribution(tiny):
    model, x, _ = tiny
    a = estimate_log_likelihood(model, x, k=500, chunk=500, seed=5, progress=False)
    b = estimate_log_likelihood(model, x, k=500, chunk=500, seed=5, progress=False)
    c = estimate_log_likelihood(model, x, k=500, chunk=7, seed=5, progress=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(a, c, atol=0.05, rtol=0)


def test_bound_from_log_weights_is_the_log_of_the_mean_weight():
    log_w = torch.log(torch.tensor([[1.0, 3.0, 8.0], [2.0, 2.0, 2.0]], dtype=torch.float64))
    expected = torch.log(torch.tensor([4.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(bound_from_log_weights(log_w), expected)
    torch.testing.assert_close(bound_from_log_weights(log_w[:, :1]), log_w[:, 0])  # L_1: one weight
    with pytest.raises(ValueError, match=r"log_w must be \(N, k\)"):
        bound_from_log_weights(log_w[0])


def test_one_set_of_log_weights_gives_the_estimate_and_every_smaller_bound(tiny):
    model, x, exact = tiny
    log_w = sample_log_weights(model, x, k=4000, chunk=700, seed=7, progress=False)
    assert log_w.shape == (4, 4000)
    torch.testing.assert_close(bound_from_log_weights(log_w),
                               estimate_log_likelihood(model, x, k=4000, chunk=700, seed=7, progress=False))
    # The columns are independent samples: the mean log-weight is E[L_1], the ELBO, and groups
    # of ten give E[L_10], between it and log p(x).
    l1 = log_w.mean(1)
    l10 = bound_from_log_weights(log_w.reshape(4 * 400, 10)).reshape(4, 400).mean(1)
    torch.manual_seed(3)
    with torch.no_grad():
        elbo_mean = torch.stack([elbo(model, x) for _ in range(2000)]).mean(0)
    torch.testing.assert_close(l1, elbo_mean, atol=0.1, rtol=0)
    assert torch.all(l1 < l10) and torch.all(l10 <= exact + 0.02)


def test_bad_arguments_are_refused(tiny):
    model, x, _ = tiny
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        estimate_log_likelihood(model, x, k=0, progress=False)
    with pytest.raises(ValueError, match="6 features per row"):
        iwae_bound(model, torch.zeros(2, 5, dtype=torch.float64), 3)
