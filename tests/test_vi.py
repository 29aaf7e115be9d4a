"""Black-box VI: unbiased gradients against exact ones, convergence to known answers, bad input."""

import pytest
import torch
from torch.distributions import Beta, Normal, kl_divergence

from vaebook import vi
from vaebook.exact import BayesianLinearRegression, SigmoidBeliefNet
from vaebook.losses import elbo
from vaebook.models import VAE

F64 = torch.float64
COIN_POSTERIOR = torch.tensor([16.0, 14.0], dtype=F64)  # Beta(10, 10) prior, 6 heads in 10 flips


def coin_log_joint(theta):
    t = theta[:, 0]
    return Beta(torch.tensor(10.0, dtype=F64), torch.tensor(10.0, dtype=F64)).log_prob(t) \
        + 6 * t.log() + 4 * torch.log1p(-t)


def gaussian_target(z):
    """log N(z; (1, -2), diag(0.5², 2²)) up to nothing: its ELBO is −KL(q || target)."""
    return TARGET.log_prob(z).sum(-1)


TARGET = Normal(torch.tensor([1.0, -2.0], dtype=F64), torch.tensor([0.5, 2.0], dtype=F64))


def exact_gradient(family, elbo_fn):
    params = list(family.params.values())
    return dict(zip(family.params, torch.autograd.grad(elbo_fn(family), params), strict=True))


def assert_unbiased(grads, exact):
    for name, g in grads.items():
        mean, se = g.mean(0), g.std(0) / len(g) ** 0.5
        assert ((mean - exact[name]).abs() <= 4 * se + 1e-9).all(), (name, mean, exact[name], se)


def gaussian_family():
    return vi.GaussianMeanField(torch.tensor([0.3, 0.0], dtype=F64), torch.tensor([-1.0, 0.4], dtype=F64))


@pytest.mark.parametrize("control_variate, local", [(False, False), (True, False), (True, True)])
def test_score_gradient_is_unbiased_for_a_gaussian(control_variate, local):
    torch.manual_seed(0)
    family = gaussian_family()
    local_log_joint = (lambda z: TARGET.log_prob(z)) if local else None
    grads, _ = vi.elbo_gradient(family, gaussian_target, 200_000, control_variate=control_variate,
                                local_log_joint=local_log_joint)
    exact = exact_gradient(family, lambda f: -kl_divergence(f.distribution(), TARGET).sum())
    assert_unbiased(grads, exact)


def test_pathwise_gradient_is_unbiased_and_quieter():
    torch.manual_seed(0)
    family = gaussian_family()
    grads, terms = vi.elbo_gradient(family, gaussian_target, 50_000, method="pathwise")
    exact = exact_gradient(family, lambda f: -kl_divergence(f.distribution(), TARGET).sum())
    assert_unbiased(grads, exact)
    exact_elbo = -kl_divergence(family.distribution(), TARGET).sum().item()
    assert terms.mean().item() == pytest.approx(exact_elbo, abs=0.02)
    score, _ = vi.elbo_gradient(family, gaussian_target, 50_000, control_variate=False)
    assert vi.gradient_variance(grads) < vi.gradient_variance(score)


def test_score_gradient_is_unbiased_for_a_beta():
    torch.manual_seed(0)
    family = vi.BetaMeanField(torch.tensor([2.0], dtype=F64), torch.tensor([5.0], dtype=F64))
    posterior = Beta(COIN_POSTERIOR[:1], COIN_POSTERIOR[1:])
    exact = exact_gradient(family, lambda f: -kl_divergence(f.distribution(), posterior).sum())
    for method in vi.METHODS:  # torch reparameterizes a Beta: the pathwise route applies too
        grads, _ = vi.elbo_gradient(family, coin_log_joint, 200_000, method=method)
        assert_unbiased(grads, exact)


def test_score_gradient_is_unbiased_for_a_categorical():
    torch.manual_seed(0)
    sbn = SigmoidBeliefNet.random(6, 3, seed=1)
    family = vi.CategoricalMeanField(torch.tensor([[0.0, 0.5], [0.3, -0.2], [0.0, 1.0]], dtype=F64))
    grads, _ = vi.elbo_gradient(family, sbn.log_joint, 100_000, local_log_joint=sbn.local_log_joint)
    exact = exact_gradient(family, lambda f: sbn.mean_field_elbo(f.params["logits"].softmax(-1)[:, 1]))
    assert_unbiased(grads, exact)


def test_control_variate_reduces_variance_and_vanishes_at_the_exact_posterior():
    torch.manual_seed(0)
    start = vi.BetaMeanField(torch.tensor([2.0], dtype=F64), torch.tensor([5.0], dtype=F64))
    plain, _ = vi.elbo_gradient(start, coin_log_joint, 1000, control_variate=False)
    controlled, _ = vi.elbo_gradient(start, coin_log_joint, 1000)
    assert vi.gradient_variance(controlled) < 0.5 * vi.gradient_variance(plain)  # measured: 0.28
    # At q = p(θ | x), log p(x, θ) − log q(θ) = log p(x) for every θ: the baseline removes it all.
    exact = vi.BetaMeanField(COIN_POSTERIOR[:1], COIN_POSTERIOR[1:])
    at_optimum, _ = vi.elbo_gradient(exact, coin_log_joint, 100)
    assert vi.gradient_variance(at_optimum) < 1e-20


def test_bbvi_fits_the_beta_bernoulli_posterior():
    family = vi.BetaMeanField(torch.ones(1, dtype=F64), torch.ones(1, dtype=F64))
    result = vi.fit(family, coin_log_joint, steps=1500, n_samples=10, lr=0.05, seed=0)
    trace = torch.cat([result.trace["a1"], result.trace["a0"]], 1)
    assert trace.shape == (1501, 2)
    assert torch.allclose(trace[-1], COIN_POSTERIOR, rtol=1e-3)
    assert vi.steps_to_reach(trace, COIN_POSTERIOR, 0.05) < 1500
    assert len(result.elbo) == 1500


def test_adagrad_fits_the_beta_bernoulli_posterior_too():
    family = vi.BetaMeanField(torch.ones(1, dtype=F64), torch.ones(1, dtype=F64))
    result = vi.fit(family, coin_log_joint, steps=1500, n_samples=10, lr=0.5, optimizer="adagrad", seed=0)
    trace = torch.cat([result.trace["a1"], result.trace["a0"]], 1)
    assert torch.allclose(trace[-1], COIN_POSTERIOR, rtol=0.05)
    adam = vi.BetaMeanField(torch.ones(1, dtype=F64), torch.ones(1, dtype=F64))
    vi.fit(adam, coin_log_joint, steps=20, n_samples=10, lr=0.5, seed=0)
    assert not torch.equal(adam.readable()["a1"], result.trace["a1"][20])  # another optimizer ran


def test_fit_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    runs = []
    for _ in range(2):
        family = vi.BetaMeanField(torch.ones(1, dtype=F64), torch.ones(1, dtype=F64))
        runs.append(vi.fit(family, coin_log_joint, steps=20, seed=3).trace["a1"])
    assert torch.equal(runs[0], runs[1])
    assert torch.equal(torch.rand(1), before)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_fit_honours_its_seed_on_the_device_of_the_family(device, monkeypatch):
    made_on = []
    real = vi.seeded_generator
    monkeypatch.setattr(vi, "seeded_generator", lambda seed, dev="cpu": made_on.append(
        torch.device(dev)) or real(seed, dev))
    runs = []
    for seed in (3, 3, 4):
        family = vi.GaussianMeanField(torch.zeros(2, dtype=F64, device=device),
                                      torch.zeros(2, dtype=F64, device=device))
        runs.append(vi.fit(family, lambda z: -0.5 * ((z - 1) ** 2).sum(-1), steps=5, seed=seed,
                           method="pathwise").trace["mean"])
    assert all(d.type == torch.device(device).type for d in made_on)
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.fixture(scope="module")
def regression():
    return BayesianLinearRegression.random(40, torch.tensor([1.0, -2.0, 0.5], dtype=F64),
                                           correlation=0.8, seed=0)


@pytest.mark.parametrize("method", vi.METHODS)
def test_both_routes_reach_the_mean_field_optimum_of_linear_regression(regression, method):
    mean, std = regression.mean_field_optimum()
    family = vi.GaussianMeanField(torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64))
    local = regression.local_log_joint if method == "score" else None
    vi.fit(family, regression.log_joint, steps=2000, n_samples=20 if method == "score" else 5,
           method=method, local_log_joint=local, lr=0.05, cosine_schedule=True, seed=0)
    fitted = family.readable()
    assert ((fitted["mean"] - mean) / std).abs().max() < 0.1
    assert (fitted["std"] / std - 1).abs().max() < 0.1


def test_bbvi_reaches_the_best_mean_field_elbo_of_a_sigmoid_belief_net():
    sbn = SigmoidBeliefNet.random(12, 5, seed=0)
    logits = torch.zeros(5, dtype=F64, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.05)
    for _ in range(1000):  # the deterministic optimum, by enumeration
        optimizer.zero_grad()
        (-sbn.mean_field_elbo(logits.sigmoid())).backward()
        optimizer.step()
    best = sbn.mean_field_elbo(logits.sigmoid()).item()
    family = vi.CategoricalMeanField(torch.zeros(5, 2, dtype=F64))
    vi.fit(family, sbn.log_joint, steps=1000, n_samples=10, local_log_joint=sbn.local_log_joint,
           lr=0.05, cosine_schedule=True, seed=0)
    reached = sbn.mean_field_elbo(family.readable()["probs"][:, 1]).item()
    assert best - 0.02 < reached <= best + 1e-9
    assert best < sbn.log_evidence().item()


def test_family_samples_come_from_the_generator_and_have_the_law_of_q():
    family = vi.BetaMeanField(torch.tensor([2.0, 5.0], dtype=F64), torch.tensor([3.0, 1.0], dtype=F64))
    a = family.sample(50_000, torch.Generator().manual_seed(0))
    assert torch.equal(a, family.sample(50_000, torch.Generator().manual_seed(0))) and a.shape == (50_000, 2)
    torch.testing.assert_close(a.mean(0), torch.tensor([0.4, 5 / 6], dtype=F64), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        family.sample(0)


def test_steps_to_reach():
    trace = torch.tensor([[0.0], [1.0], [2.0], [1.0], [1.04]])
    assert vi.steps_to_reach(trace, torch.tensor([1.0]), 0.05) == 3
    assert vi.steps_to_reach(trace[:3], torch.tensor([1.0]), 0.05) is None
    assert vi.steps_to_reach(trace[1:2], torch.tensor([1.0]), 0.05) == 0


def test_bad_input_gives_clear_errors():
    family = gaussian_family()
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        vi.elbo_gradient(family, lambda z: z, 10)
    with pytest.raises(ValueError, match="non-finite"):
        vi.elbo_gradient(family, lambda z: torch.full((len(z),), float("nan"), dtype=F64), 10)
    with pytest.raises(ValueError, match="local"):
        vi.elbo_gradient(family, gaussian_target, 10, local_log_joint=gaussian_target)
    with pytest.raises(ValueError, match="positive"):
        vi.BetaMeanField(torch.tensor([-1.0]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="non-finite"):
        vi.GaussianMeanField(torch.tensor([float("inf")]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="shape"):
        vi.GaussianMeanField(torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="C >= 2"):
        vi.CategoricalMeanField(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="cannot be reparameterized"):
        vi.fit(vi.CategoricalMeanField(torch.zeros(3, 2)), lambda z: z.sum(1).float(), steps=1,
               method="pathwise")
    with pytest.raises(ValueError, match="not differentiable"):
        vi.elbo_gradient(family, lambda z: (z > 0).sum(1).to(F64), 10, method="pathwise")
    with pytest.raises(ValueError, match="n_samples >= 2"):
        vi.elbo_gradient(family, gaussian_target, 1)
    with pytest.raises(ValueError, match="method"):
        vi.fit(family, gaussian_target, steps=1, method="magic")
    with pytest.raises(ValueError, match="optimizer"):
        vi.fit(family, gaussian_target, steps=1, optimizer="sgd-ish")
    with pytest.raises(FloatingPointError, match="lower lr"):
        vi.fit(family, lambda z: 1e300 * z.sum(1) ** 2, steps=50, lr=1e30)


@pytest.fixture()
def small_vae():
    torch.manual_seed(0)
    return VAE(data_dim=20, hidden=(16,), latent_dim=3).eval()


def test_refine_posterior_raises_each_elbo_and_leaves_the_decoder_alone(small_vae):
    x = torch.bernoulli(torch.full((8, 20), 0.3), generator=torch.Generator().manual_seed(0))
    weights = [p.detach().clone() for p in small_vae.parameters()]
    mu, logvar = vi.refine_posterior(small_vae, x, steps=200, lr=0.05, progress=False)
    with torch.no_grad():
        encoder = elbo(small_vae, x, 5000, torch.Generator().manual_seed(1))
        refined = elbo(small_vae, x, 5000, torch.Generator().manual_seed(1), posterior=(mu, logvar))
    assert (refined > encoder).all()
    assert all(torch.equal(a, b) for a, b in zip(weights, small_vae.parameters(), strict=True))
    assert all(p.grad is None for p in small_vae.parameters())


def test_a_diverging_refinement_raises(small_vae):
    x = torch.bernoulli(torch.full((4, 20), 0.3), generator=torch.Generator().manual_seed(0))
    with pytest.raises(FloatingPointError, match="refinement diverged.*lower lr"):
        vi.refine_posterior(small_vae, x, steps=30, lr=1e6, progress=False)


def test_refine_posterior_starts_from_init(small_vae):
    x = torch.bernoulli(torch.full((6, 20), 0.3), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        encoded = small_vae.encode(x)
    default = vi.refine_posterior(small_vae, x, steps=20, lr=0.05, progress=False)
    explicit = vi.refine_posterior(small_vae, x, init=encoded, steps=20, lr=0.05, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(default, explicit, strict=True))
    prior = (torch.zeros(6, 3), torch.zeros(6, 3))
    mu, logvar = vi.refine_posterior(small_vae, x, init=prior, steps=200, lr=0.05, progress=False)
    assert torch.equal(prior[0], torch.zeros(6, 3))  # init is left as it is
    with torch.no_grad():
        start = elbo(small_vae, x, 5000, torch.Generator().manual_seed(1), posterior=prior)
        refined = elbo(small_vae, x, 5000, torch.Generator().manual_seed(1), posterior=(mu, logvar))
    assert (refined > start).all()


def test_refine_posterior_refuses_a_bad_init(small_vae):
    x = torch.bernoulli(torch.full((4, 20), 0.3), generator=torch.Generator().manual_seed(0))
    good = torch.zeros(4, 3)
    bad = {TypeError: [good, (good,), [good, good]],
           ValueError: [(torch.zeros(5, 3), good), (good, torch.zeros(4, 2)),
                        (good, torch.full((4, 3), float("nan")))]}
    for error, inits in bad.items():
        for init in inits:
            with pytest.raises(error, match="init"):
                vi.refine_posterior(small_vae, x, init=init, steps=1, progress=False)
    with pytest.raises(TypeError, match="init's mu.*dtype"):
        vi.refine_posterior(small_vae, x, init=(good.double(), good), steps=1, progress=False)
