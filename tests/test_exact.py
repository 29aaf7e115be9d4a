from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from vaebook.exact import LinearGaussian

MODEL = LinearGaussian.random(data_dim=5, latent_dim=2, noise_var=0.5, seed=0)
X = MODEL.sample(1, seed=1)[0]


def _random_q(seed=2):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(2, 2, generator=g, dtype=torch.float64)
    return MultivariateNormal(torch.randn(2, generator=g, dtype=torch.float64),
                              A @ A.T + 0.1 * torch.eye(2, dtype=torch.float64))


def test_posterior_agrees_with_bayes_rule_on_a_grid():
    # log p(z | x) = log p(x, z) − log p(x) at any z
    z = torch.randn(10, 2, dtype=torch.float64)
    expected = MODEL.log_joint(X, z) - MODEL.evidence().log_prob(X)
    torch.testing.assert_close(MODEL.posterior(X).log_prob(z), expected)


def test_evidence_matches_a_monte_carlo_average_of_the_likelihood():
    z = torch.randn(400_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    log_mc = torch.logsumexp(MODEL.log_likelihood(X, z), 0) - torch.log(torch.tensor(4e5))
    assert log_mc.item() == pytest.approx(MODEL.evidence().log_prob(X).item(), abs=0.02)


def test_gap_between_evidence_and_elbo_is_the_kl_to_the_posterior():
    q = _random_q()
    gap = MODEL.evidence().log_prob(X) - MODEL.elbo(X, q)
    torch.testing.assert_close(gap, kl_divergence(q, MODEL.posterior(X)))
    assert MODEL.elbo(X, MODEL.posterior(X)).item() == pytest.approx(MODEL.evidence().log_prob(X).item())


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="noise_var must be positive"):
        LinearGaussian(torch.zeros(3, 2), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"W must be \(D, K\)"):
        LinearGaussian(torch.zeros(3, 2), torch.zeros(4), 1.0)
