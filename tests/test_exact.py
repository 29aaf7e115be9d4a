from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from vaebook.exact import BayesianLinearRegression, LinearGaussian, SigmoidBeliefNet

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


def test_offset_c_is_the_mean_of_x_and_enters_the_posterior_through_x_minus_c():
    # x | z ~ N(W z + c, τ² I): p(x) has mean c, and shifting x and c together moves nothing
    c = torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0], dtype=torch.float64)
    model = LinearGaussian(MODEL.W, c=c, noise_var=MODEL.noise_var)
    torch.testing.assert_close(model.evidence().mean, c)
    torch.testing.assert_close(model.posterior(X - MODEL.c + c).mean, MODEL.posterior(X).mean)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match=r"noise_var must be a finite real number in \(0, inf\)"):
        LinearGaussian(torch.zeros(3, 2), torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match=r"W must be \(D, K\)"):
        LinearGaussian(torch.zeros(3, 2), torch.zeros(4), 1.0)


def test_linear_regression_posterior_is_the_normalized_joint():
    model = BayesianLinearRegression.random(30, torch.tensor([1.0, -1.0], dtype=torch.float64),
                                            noise_std=0.7, prior_std=2.0, correlation=0.5, seed=0)
    w = torch.randn(50, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    log_ratio = model.log_joint(w) - model.posterior().log_prob(w)  # = log p(y | X) for every w
    assert torch.allclose(log_ratio, log_ratio[0].expand(50), atol=1e-9)
    # each of the K = 2 columns holds the likelihood once: summed, it counts once too often
    assert torch.allclose(model.local_log_joint(w).sum(1) - model.log_likelihood(w), model.log_joint(w))


def test_linear_regression_mean_field_optimum_maximizes_the_elbo():
    model = BayesianLinearRegression.random(30, torch.tensor([1.0, -1.0, 0.3], dtype=torch.float64),
                                            correlation=0.8, seed=0)
    mean, std = model.mean_field_optimum()
    posterior = model.posterior()

    def kl(m, s):  # ELBO = log p(y) − KL(q || posterior): maximizing it minimizes this
        q = MultivariateNormal(m, torch.diag(s**2))
        return kl_divergence(q, posterior).item()

    best = kl(mean, std)
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        assert kl(mean + 0.05 * torch.randn(3, generator=g, dtype=torch.float64), std) > best
        assert kl(mean, std * (1 + 0.05 * torch.rand(3, generator=g, dtype=torch.float64))) > best
    assert (std < posterior.stddev).all()  # mean-field underestimates spread under correlation


def test_sigmoid_belief_net_enumeration():
    sbn = SigmoidBeliefNet.random(8, 4, seed=0)
    z = sbn.configurations()
    assert z.shape == (16, 4) and len({tuple(r.tolist()) for r in z}) == 16
    # Bayes' rule by hand, one configuration at a time, with math instead of torch's Bernoulli
    joint = {}
    for config in itertools.product((0, 1), repeat=4):
        logit = (sbn.W @ torch.tensor(config, dtype=torch.float64) + sbn.c).tolist()
        log_lik = sum(xd * -math.log1p(math.exp(-a)) + (1 - xd) * -math.log1p(math.exp(a))
                      for xd, a in zip(sbn.x.tolist(), logit, strict=True))
        joint[config] = math.exp(log_lik) * 0.5**4  # prior logits 0: each cause on with probability ½
    evidence = sum(joint.values())
    expected = [sum(p for config, p in joint.items() if config[k]) / evidence for k in range(4)]
    torch.testing.assert_close(sbn.posterior_marginals(), torch.tensor(expected, dtype=torch.float64))
    assert sbn.log_evidence().item() == pytest.approx(math.log(evidence))
    # the ELBO of a factorized q by enumeration agrees with a Monte Carlo estimate, and is below log p(x)
    probs = torch.tensor([0.2, 0.7, 0.5, 0.9], dtype=torch.float64)
    samples = torch.bernoulli(probs.expand(200_000, 4), generator=torch.Generator().manual_seed(0))
    log_q = torch.distributions.Bernoulli(probs=probs).log_prob(samples).sum(1)
    mc = sbn.log_joint(samples) - log_q
    assert abs(sbn.mean_field_elbo(probs).item() - mc.mean().item()) < 4 * mc.std().item() / 200_000**0.5
    assert sbn.mean_field_elbo(probs) < sbn.log_evidence()
    assert torch.allclose(sbn.local_log_joint(z).sum(1) - 3 * sbn.log_likelihood(z), sbn.log_joint(z))
    with pytest.raises(ValueError, match="too many"):
        SigmoidBeliefNet.random(4, 17)


def test_evidence_and_posteriors_match_scipy_with_dense_matrices():
    # the low-rank evidence and the precision-parameterized posteriors against scipy's dense
    # Gaussian, with the covariances written out and inverted by numpy
    import numpy as np
    from scipy.stats import multivariate_normal

    W, c, tau2 = MODEL.W.numpy(), MODEL.c.numpy(), MODEL.noise_var
    dense = multivariate_normal(c, W @ W.T + tau2 * torch.eye(5, dtype=torch.float64).numpy())
    assert MODEL.evidence().log_prob(X).item() == pytest.approx(dense.logpdf(X.numpy()), abs=1e-10)
    cov = np.linalg.inv(np.eye(2) + W.T @ W / tau2)
    posterior = MODEL.posterior(X)
    np.testing.assert_allclose(posterior.covariance_matrix.numpy(), cov, atol=1e-12)
    np.testing.assert_allclose(posterior.mean.numpy(), cov @ W.T @ (X.numpy() - c) / tau2, atol=1e-12)
    blr = BayesianLinearRegression.random(40, torch.tensor([1.0, -2.0], dtype=torch.float64), seed=3)
    X_, y_ = blr.X.numpy(), blr.y.numpy()
    cov = np.linalg.inv(np.eye(2) + X_.T @ X_)
    np.testing.assert_allclose(blr.posterior().covariance_matrix.numpy(), cov, atol=1e-12)
    np.testing.assert_allclose(blr.posterior().mean.numpy(), cov @ X_.T @ y_, atol=1e-12)
