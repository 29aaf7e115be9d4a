"""The aggregate posterior and the ELBO-surgery split against torch.distributions and known answers."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

from vaebook.aggregate import kl_split, log_aggregate_posterior, marginal_kl, sample_aggregate_posterior
from vaebook.distributions import MixturePrior

g = torch.Generator().manual_seed(0)


def test_log_aggregate_posterior_is_the_mixture_log_density_of_torch_distributions():
    mu, logvar, z = 2 * torch.randn(50, 3, generator=g), torch.randn(50, 3, generator=g), torch.randn(600, 3)
    mixture = MixtureSameFamily(Categorical(logits=torch.zeros(50, dtype=torch.float64)),
                                Independent(Normal(mu.double(), torch.exp(0.5 * logvar.double())), 1))
    expected = mixture.log_prob(z.double())
    got = log_aggregate_posterior(z, mu, logvar)  # 600 rows: more than one chunk of 256
    assert got.dtype == torch.float64 and got.shape == (600,)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-9)


def test_identical_posteriors_carry_no_information_and_diverge_from_the_prior_in_closed_form():
    mu, logvar = torch.full((100, 4), 0.7), torch.full((100, 4), -1.0)
    split = kl_split(mu, logvar, n_samples=200, seed=1)
    assert abs(split.mutual_information) < 1e-9 and split.mutual_information_se < 1e-9
    # the reference is torch.distributions' KL, not vaebook's kl_standard_normal that kl_split uses
    q = Normal(torch.tensor(0.7, dtype=torch.float64), math.exp(-0.5))
    expected = 4 * kl_divergence(q, Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)).item()
    assert split.average_kl == pytest.approx(expected) and split.marginal_kl == pytest.approx(expected)


def test_gaussian_encoder_family_matches_its_closed_forms():
    # x_n ~ N(0, I_K), q(z | x_n) = N(α x_n, σ² I): the aggregate tends to N(0, (α² + σ²) I), so
    # I_q = K/2 log(1 + α²/σ²) and KL(q(z) || p(z)) = K/2 (v − 1 − log v) with v = α² + σ².
    n, k, alpha, var = 20_000, 2, 0.8, 0.5
    x = torch.randn(n, k, generator=g, dtype=torch.float64)
    split = kl_split(alpha * x, torch.full((n, k), math.log(var), dtype=torch.float64), n_samples=4000)
    v = alpha**2 + var
    information, divergence = k / 2 * math.log(1 + alpha**2 / var), k / 2 * (v - 1 - math.log(v))
    assert abs(split.mutual_information - information) < 4 * split.mutual_information_se + 0.01
    assert abs(split.marginal_kl - divergence) < 4 * split.marginal_kl_se + 0.02
    assert split.average_kl == pytest.approx(information + divergence, abs=0.03)


def test_separated_posteriors_reach_the_ceiling_log_n():
    mu = 100 * torch.arange(30, dtype=torch.float32)[:, None].repeat(1, 2)
    split = kl_split(mu, torch.full((30, 2), -2.0), n_samples=300)
    assert split.log_n == pytest.approx(math.log(30))
    assert split.mutual_information == pytest.approx(math.log(30), abs=1e-6)


def test_samples_have_the_mixture_moments():
    mu, logvar = torch.randn(40, 3, generator=g), torch.randn(40, 3, generator=g)
    z, index = sample_aggregate_posterior(mu, logvar, 200_000, torch.Generator().manual_seed(2))
    assert z.shape == (200_000, 3) and index.shape == (200_000,) and index.max() < 40
    torch.testing.assert_close(z.mean(0), mu.mean(0), atol=0.02, rtol=0)
    variance = mu.var(0, unbiased=False) + logvar.exp().mean(0)
    torch.testing.assert_close(z.var(0), variance, atol=0.03, rtol=0.02)


def test_bad_input_is_refused_with_the_argument_named():
    mu, logvar = torch.zeros(5, 2), torch.zeros(5, 2)
    with pytest.raises(ValueError, match="same shape"):
        kl_split(mu, logvar[:, :1])
    with pytest.raises(ValueError, match="n_samples"):
        kl_split(mu, logvar, n_samples=0)
    with pytest.raises(ValueError, match="z must have 2 features"):
        log_aggregate_posterior(torch.zeros(3, 4), mu, logvar)
    bad = logvar.clone()
    bad[1, 1] = math.inf
    with pytest.raises(ValueError, match="logvar has 1 non-finite"):
        sample_aggregate_posterior(mu, bad, 3)
    with pytest.raises(TypeError, match="mu must be a torch.Tensor"):
        kl_split(mu.numpy(), logvar)
    with pytest.raises(ValueError, match="seed"):
        kl_split(mu, logvar, seed=-1)


def test_marginal_kl_of_identical_posteriors_is_torch_distributions_kl_to_any_gaussian_prior():
    # N copies of one Gaussian: the aggregate posterior is that Gaussian, and the divergence is
    # the closed-form KL, here to a one-component mixture prior with a shifted mean
    mu, logvar = torch.full((30, 3), 0.4), torch.full((30, 3), -0.5)
    mean = torch.tensor([[1.0, -0.5, 0.0]])
    prior = MixturePrior(torch.ones(1), mean, torch.eye(3)[None])
    got, se = marginal_kl(mu, logvar, prior.log_prob, n_samples=20_000, seed=3)
    q = Independent(Normal(mu[0].double(), torch.exp(0.5 * logvar[0].double())), 1)
    p = Independent(Normal(mean[0].double(), torch.ones(3, dtype=torch.float64)), 1)
    expected = kl_divergence(q, p).item()
    assert abs(got - expected) < 4 * se and se < 0.02


def test_marginal_kl_with_the_standard_normal_prior_agrees_with_kl_split():
    gen = torch.Generator().manual_seed(5)
    mu, logvar = torch.randn(200, 2, generator=gen), torch.randn(200, 2, generator=gen) - 1
    split = kl_split(mu, logvar, n_samples=20_000, seed=0)
    standard = Independent(Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)), 1)
    got, se = marginal_kl(mu, logvar, standard.log_prob, n_samples=20_000, seed=1)
    assert abs(got - split.marginal_kl) < 4 * math.hypot(se, split.marginal_kl_se)


def test_marginal_kl_refuses_a_prior_that_is_not_a_function():
    with pytest.raises(TypeError, match="log_prior must be a function"):
        marginal_kl(torch.zeros(3, 2), torch.zeros(3, 2), "normal")
