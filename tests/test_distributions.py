"""The priors and likelihoods, each against torch.distributions, scikit-learn or quadrature, and
the one ELBO and L_k with a prior that has no closed-form KL."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture
from torch.distributions import (
    Bernoulli,
    ContinuousBernoulli,
    MultivariateNormal,
    Normal,
    kl_divergence,
)

from vaebook.densities import log_bernoulli
from vaebook.distributions import (
    BernoulliLikelihood,
    ContinuousBernoulliLikelihood,
    GaussianLikelihood,
    MixturePrior,
    StandardNormalPrior,
    likelihood_from_config,
    prior_from_config,
)
from vaebook.likelihood import bound_from_log_weights, pareto_shape, sample_log_weights
from vaebook.losses import elbo, vae_loss
from vaebook.models import VAE, ConditionalVAE

G = torch.Generator


def _mixture_data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal([2.0, 0.0, -1.0], 0.5, (300, 3)),
                           rng.normal([-2.0, 1.0, 0.0], [1.0, 0.3, 0.7], (200, 3))])


def test_standard_normal_prior_matches_torch():
    prior = StandardNormalPrior(3)
    z = torch.randn(5, 3, generator=G().manual_seed(0))
    torch.testing.assert_close(prior.log_prob(z), Normal(0.0, 1.0).log_prob(z).sum(-1))
    assert torch.equal(prior.sample(4, G().manual_seed(1)), torch.randn(4, 3, generator=G().manual_seed(1)))
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    q = Normal(mu, (0.5 * logvar).exp())
    torch.testing.assert_close(prior.kl(mu, logvar), kl_divergence(q, Normal(0.0, 1.0)).sum(-1))
    assert prior.double().sample(2).dtype == torch.float64  # draws follow the prior's dtype


def test_mixture_prior_has_the_density_of_the_sklearn_mixture():
    mixture = GaussianMixture(2, covariance_type="full", random_state=0).fit(_mixture_data())
    prior = MixturePrior.from_sklearn(mixture).double()
    z = torch.as_tensor(_mixture_data()[::7])
    torch.testing.assert_close(prior.log_prob(z), torch.as_tensor(mixture.score_samples(z.numpy())),
                               atol=1e-5, rtol=0)
    assert prior.kl(torch.zeros(1, 3), torch.zeros(1, 3)) is None  # no closed form


def test_mixture_prior_draws_have_its_mean_and_covariance():
    weights = torch.tensor([0.3, 0.7])
    means = torch.tensor([[2.0, 0.0], [-1.0, 1.0]])
    covariances = torch.stack([torch.tensor([[1.0, 0.5], [0.5, 2.0]]), torch.eye(2) * 0.25])
    draws = MixturePrior(weights, means, covariances).sample(200_000, G().manual_seed(0))
    mean = weights @ means
    centred = means - mean
    covariance = (weights[:, None, None] * (covariances + centred[:, :, None] * centred[:, None, :])).sum(0)
    torch.testing.assert_close(draws.mean(0), mean, atol=0.015, rtol=0)  # SE ≈ 0.003
    torch.testing.assert_close(draws.T.cov(), covariance, atol=0.03, rtol=0)
    again = MixturePrior(weights, means, covariances).sample(10, G().manual_seed(0))
    assert torch.equal(again, MixturePrior(weights, means, covariances).sample(10, G().manual_seed(0)))


def test_a_learnable_mixture_prior_trains_and_keeps_its_covariances_valid():
    prior = MixturePrior.initial(2, 3, G().manual_seed(0))
    assert {name for name, _ in prior.named_parameters()} == {"logits", "means", "raw_scale_tril"}
    z = torch.randn(64, 2, generator=G().manual_seed(1)) * 3
    (-prior.log_prob(z).mean()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in prior.parameters())
    with torch.no_grad():
        prior.raw_scale_tril.add_(torch.randn(3, 2, 2))  # any raw value is a valid factor
    covariances = prior.scale_tril @ prior.scale_tril.mT
    assert torch.all(torch.linalg.eigvalsh(covariances) > 0)
    assert MixturePrior(torch.full((3,), 1 / 3), prior.means.detach(), covariances.detach()).scale_tril \
        .sub(prior.scale_tril).abs().max() < 1e-5  # the Cholesky factor round-trips


@pytest.mark.parametrize("args, message", [
    ((torch.tensor([0.5, 0.6]), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2)), "sum to 1"),
    ((torch.tensor([1.0, 0.0]), torch.zeros(2, 2), torch.eye(2).expand(2, 2, 2)), "positive"),
    ((torch.tensor([1.0]), torch.zeros(1, 2), torch.tensor([[[1.0, 5.0], [0.0, 1.0]]])), "symmetric"),
    ((torch.tensor([1.0]), torch.zeros(1, 2), -torch.eye(2)[None]), "positive definite"),
    ((torch.tensor([1.0]), torch.zeros(2), torch.eye(2)[None]), "shapes"),
    ((torch.tensor([1.0]), torch.full((1, 2), math.nan), torch.eye(2)[None]), "means"),
])
def test_mixture_prior_refuses_bad_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        MixturePrior(*args)


def test_from_sklearn_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="covariance_type"):
        MixturePrior.from_sklearn(GaussianMixture(2, covariance_type="diag").fit(_mixture_data()))


@pytest.mark.parametrize("likelihood, reference", [
    (BernoulliLikelihood(), lambda p: Bernoulli(logits=p, validate_args=False)),
    (ContinuousBernoulliLikelihood(), lambda p: ContinuousBernoulli(logits=p)),
    (GaussianLikelihood(0.3), lambda p: Normal(p, 0.3)),
])
def test_likelihoods_match_torch_distributions(likelihood, reference):
    params = torch.randn(4, 6, generator=G().manual_seed(0)) * 3
    x = torch.rand(4, 6, generator=G().manual_seed(1))
    torch.testing.assert_close(likelihood.log_prob(x, params), reference(params).log_prob(x).sum(-1),
                               atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(likelihood.mean(params), reference(params).mean, atol=1e-5, rtol=1e-5)
    draws = likelihood.sample(params.expand(20_000, 4, 6), G().manual_seed(2))
    assert draws.shape == (20_000, 4, 6)
    # 20,000 draws: the sample mean and variance are within 5 standard errors of the law's
    law = reference(params)
    assert torch.all((draws.mean(0) - law.mean).abs() < 5 * law.stddev / math.sqrt(20_000) + 1e-6)
    fourth = ((draws - law.mean) ** 4).mean(0)  # the variance's standard error from the 4th moment
    variance_se = ((fourth - law.variance**2).clamp(min=0) / 20_000).sqrt()
    assert torch.all((draws.var(0) - law.variance).abs() < 5 * variance_se + 1e-6)
    if isinstance(likelihood, BernoulliLikelihood):
        assert set(draws.unique().tolist()) <= {0.0, 1.0}


def test_configs_rebuild_each_prior_and_likelihood():
    for likelihood in (BernoulliLikelihood(), ContinuousBernoulliLikelihood(), GaussianLikelihood(0.2, True)):
        rebuilt = likelihood_from_config(likelihood.config)
        assert type(rebuilt) is type(likelihood) and rebuilt.config == likelihood.config
    mixture = MixturePrior.initial(3, 4, G().manual_seed(0), learnable=False)
    empty = prior_from_config(mixture.config)
    empty.load_state_dict(mixture.state_dict())
    z = torch.randn(5, 3)
    torch.testing.assert_close(empty.log_prob(z), mixture.log_prob(z))
    with pytest.raises(ValueError, match="a prior config needs a kind"):
        prior_from_config({"kind": "vamp"})
    with pytest.raises(ValueError, match="components"):
        prior_from_config({"kind": "mixture", "latent_dim": 2})  # a malformed checkpoint
    with pytest.raises(ValueError, match="std"):
        GaussianLikelihood(0.0)


def test_a_vae_saves_and_loads_its_prior_and_likelihood(tmp_path):
    from vaebook.checkpoints import load_model, save_model

    model = VAE(hidden=(8,), latent_dim=2, likelihood=GaussianLikelihood(0.5, learnable=True),
                prior=MixturePrior.initial(2, 3, G().manual_seed(0)))
    with torch.no_grad():
        model.likelihood.log_var.fill_(-1.0)
    loaded = load_model(save_model(model, tmp_path / "m.pt"))
    assert loaded.config == model.config
    assert loaded.config["prior"] == {"kind": "mixture", "latent_dim": 2, "components": 3, "learnable": True}
    torch.testing.assert_close(loaded.likelihood.log_var, torch.tensor(-1.0))
    torch.testing.assert_close(loaded.prior.means, model.prior.means)


def test_vae_refuses_a_prior_of_another_dimension_or_kind():
    with pytest.raises(ValueError, match="latent_dim is 3"):
        VAE(latent_dim=3, prior=StandardNormalPrior(2))
    with pytest.raises(TypeError, match="prior must be"):
        VAE(latent_dim=3, prior=Normal(0.0, 1.0))
    with pytest.raises(TypeError, match="likelihood must be"):
        VAE(latent_dim=3, likelihood="bernoulli")


def test_the_monte_carlo_kl_agrees_with_the_closed_form():
    # A one-component "mixture" with mean m and covariance S has no closed form in vaebook; the
    # ELBO's Monte Carlo KL must agree with torch.distributions' KL(N(μ, σ²) || N(m, S)).
    model = VAE(data_dim=6, hidden=(8,), latent_dim=2).double()
    m, s = torch.tensor([[0.5, -1.0]]), torch.tensor([[[2.0, 0.3], [0.3, 0.5]]])
    gaussian = model.with_parts(prior=MixturePrior(torch.ones(1), m, s))
    x = torch.rand(3, 6, dtype=torch.float64, generator=G().manual_seed(0))
    with torch.no_grad():
        n = 200_000
        mc = elbo(gaussian, x, n, G().manual_seed(1))
        closed = elbo(model, x, n, G().manual_seed(1))  # same draws: same reconstruction term
        mu, logvar = model.encode(x)
        q = MultivariateNormal(mu, torch.diag_embed(logvar.exp()))
        p = MultivariateNormal(m.double(), s.double())
        p0 = MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64))
        expected = kl_divergence(q, p0.expand((3,))) - kl_divergence(q, p.expand((3,)))
    torch.testing.assert_close(mc - closed, expected, atol=0.03, rtol=0)


def test_beta_weights_the_kl_alone():
    model = VAE(hidden=(8,), latent_dim=2).double()  # float64: a small difference of large terms
    x = torch.rand(4, 784, generator=G().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
        unweighted = elbo(model, x, 1, G().manual_seed(1), beta=0.0)
        difference = unweighted - elbo(model, x, 1, G().manual_seed(1), beta=4.0)
    torch.testing.assert_close(difference, 4 * kl)
    with pytest.raises(ValueError, match="beta"):
        elbo(model, x, beta=-1.0)
    with pytest.raises(TypeError, match="ConditionalVAE"):
        elbo(model, x, labels=torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="labels"):
        elbo(ConditionalVAE(hidden=(8,), latent_dim=2), x.float(), labels=None)


def test_a_mixture_prior_through_l_k_and_the_elbo_matches_quadrature(tiny_vae):
    # The tiny VAE (one latent dimension) with a two-component prior p̂: log p_θ(x) = log ∫
    # p_θ(x | z) p̂(z) dz and the ELBO ∫ q(z)[log p_θ(x | z) + log p̂(z) − log q(z)] dz by
    # quadrature on a fine grid, against L_k and the ELBO's Monte Carlo KL. The components are
    # narrower than the encoder's q (σ² ≈ 1), so the weights are bounded and L_k converges.
    model, x, _, grid, _ = tiny_vae
    weights, means, variances = torch.tensor([0.4, 0.6]), torch.tensor([-0.8, 0.6]), torch.tensor([0.5, 0.8])
    scored = model.with_parts(prior=MixturePrior(weights, means[:, None], variances[:, None, None])).double()
    components = Normal(means.double(), variances.double().sqrt())
    log_prior = torch.logsumexp(torch.log(weights.double()) + components.log_prob(grid), -1)  # (G,)
    dz = (grid[1, 0] - grid[0, 0]).item()
    with torch.no_grad():
        log_lik = log_bernoulli(x, model.decode_logits(grid.unsqueeze(1)))  # (G, B)
        mu, logvar = model.encode(x)
    exact = torch.logsumexp(log_lik + log_prior[:, None], 0) + math.log(dz)
    log_q = Normal(mu[:, 0], (0.5 * logvar[:, 0]).exp()).log_prob(grid)  # (G, B)
    exact_elbo = (log_q.exp() * (log_lik + log_prior[:, None] - log_q)).sum(0) * dz
    log_w = sample_log_weights(scored, x, k=20_000, batch_size=2, chunk=5_000, progress=False)
    assert torch.all(pareto_shape(log_w) < 0.5)  # finite variance: the standard error means something
    torch.testing.assert_close(bound_from_log_weights(log_w), exact, atol=0.02, rtol=0)
    with torch.no_grad():
        mc_elbo = elbo(scored, x, 100_000, G().manual_seed(3))
    torch.testing.assert_close(mc_elbo, exact_elbo, atol=0.03, rtol=0)
    assert torch.all(exact_elbo < exact)


def test_a_learned_prior_trains_with_the_model():
    from vaebook.training import train

    x = (torch.rand(64, 784, generator=G().manual_seed(0)) < 0.3).float()
    model = VAE(hidden=(16,), latent_dim=2, prior=MixturePrior.initial(2, 3, G().manual_seed(1)))
    before = {name: p.detach().clone() for name, p in model.prior.named_parameters()}
    train(model, vae_loss, x, epochs=2, batch_size=16, progress=False)
    after = dict(model.prior.named_parameters())
    for name in ("logits", "means"):
        assert not torch.equal(after[name], before[name]), name
    diagonal = after["raw_scale_tril"].diagonal(dim1=-2, dim2=-1)  # the used part of the factor
    assert not torch.equal(diagonal, before["raw_scale_tril"].diagonal(dim1=-2, dim2=-1))


def test_continuous_bernoulli_draws_follow_saturated_logits():
    # torch goes through a probability clamped to its dtype's eps (its mean at ℓ = 40 is that of
    # ℓ ≈ 36, even in float64); the mean in closed form is 1/(1 − e^{−ℓ}) − 1/ℓ, and 1/2 at ℓ = 0
    logits = [-30.0, -1e-6, 0.0, 2.5, 40.0]
    params = torch.tensor(logits).expand(100_000, 5)
    draws = ContinuousBernoulliLikelihood().sample(params, G().manual_seed(0))
    mean = torch.tensor([0.5 if abs(a) < 1e-4 else 1 / (1 - math.exp(-a)) - 1 / a for a in logits],
                        dtype=torch.float64)
    se = draws.double().std(0) / math.sqrt(100_000)
    assert torch.all((draws.double().mean(0) - mean).abs() < 5 * se)
    assert draws.min() >= 0 and draws.max() <= 1


def test_configs_are_copies_and_parts_follow_the_model():
    a, b = VAE(hidden=(8,), latent_dim=2), VAE(hidden=(8,), latent_dim=2)
    a.config["likelihood"]["kind"] = "gaussian"
    a.config["hidden"].append(3)
    assert a.config == b.config and b.config["likelihood"] == {"kind": "bernoulli"}
    mixture = MixturePrior(torch.ones(1, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64),
                           torch.eye(2, dtype=torch.float64)[None])
    model = VAE(hidden=(8,), latent_dim=2, prior=mixture)
    assert model.prior.means.dtype == torch.float32 and model.sample(3).dtype == torch.float32
    assert model.double().sample(3).dtype == torch.float64
    config = GaussianLikelihood(np.float32(0.25)).config
    assert config == {"kind": "gaussian", "std": 0.25, "learnable": False}
    assert type(config["std"]) is float  # a numpy scalar would not load with weights_only


def test_a_checkpoint_without_prior_or_likelihood_loads_with_the_defaults(tmp_path):
    from vaebook.checkpoints import FORMAT, load_model

    model = VAE(hidden=(8,), latent_dim=2)
    old = {key: value for key, value in model.config.items() if key not in ("prior", "likelihood")}
    torch.save({"format": FORMAT, "class": "VAE", "config": old, "state_dict": model.state_dict()},
               tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert isinstance(loaded.prior, StandardNormalPrior)
    assert isinstance(loaded.likelihood, BernoulliLikelihood)
    x = torch.rand(3, 784)
    torch.testing.assert_close(loaded.encode(x), model.encode(x))
