"""The ELBO and gradient estimators over torch.distributions, against exact answers."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Beta, MultivariateNormal, kl_divergence

from vaebook.estimators import (
    diagonal_gaussian,
    elbo_estimate,
    elbo_estimate_kl,
    pathwise_gradient,
    score_function_gradient,
)
from vaebook.exact import LinearGaussian

F64 = torch.float64
PARAMS = {"mu": torch.tensor([0.5, -1.0], dtype=F64),
          "logvar": 2 * torch.log(torch.tensor([0.8, 1.5], dtype=F64))}


def square(z, q):
    return (z**2).sum(-1)


# E_q[Σ z_k²] = Σ μ_k² + σ_k²  =>  ∇_μ = 2μ,  ∇_{log σ²} = σ²
TRUE = {"mu": 2 * PARAMS["mu"], "logvar": PARAMS["logvar"].exp()}


def _assert_unbiased(grads, truth):
    # the mean of S iid estimates is within 4 standard errors of the truth, per coordinate
    for name, samples in grads.items():
        mean, standard_error = samples.mean(0), samples.std(0) / len(samples) ** 0.5
        assert torch.all((mean - truth[name]).abs() < 4 * standard_error + 1e-12), (name, mean, truth[name])


@pytest.mark.parametrize("estimator", [
    lambda n, g: score_function_gradient(square, diagonal_gaussian, PARAMS, n, generator=g),
    lambda n, g: score_function_gradient(square, diagonal_gaussian, PARAMS, n, baseline="mean", generator=g),
    lambda n, g: score_function_gradient(square, diagonal_gaussian, PARAMS, n, baseline="optimal",
                                        generator=g),
    lambda n, g: pathwise_gradient(square, diagonal_gaussian, PARAMS, n, generator=g),
], ids=["score", "score+mean", "score+optimal", "pathwise"])
def test_estimators_are_unbiased(estimator):
    grads, values = estimator(200_000, torch.Generator().manual_seed(0))
    assert grads["mu"].shape == grads["logvar"].shape == (200_000, 2) and values.shape == (200_000,)
    _assert_unbiased(grads, TRUE)
    expected = (PARAMS["mu"] ** 2 + PARAMS["logvar"].exp()).sum().item()
    assert values.mean().item() == pytest.approx(expected, abs=0.05)


def test_variance_ordering_pathwise_below_score_with_baseline_below_score():
    g = torch.Generator().manual_seed(1)
    plain = score_function_gradient(square, diagonal_gaussian, PARAMS, 50_000, generator=g)[0]["mu"].var(0)
    mean = score_function_gradient(square, diagonal_gaussian, PARAMS, 50_000, baseline="mean",
                                   generator=g)[0]["mu"].var(0)
    pathwise = pathwise_gradient(square, diagonal_gaussian, PARAMS, 50_000, generator=g)[0]["mu"].var(0)
    assert torch.all(pathwise < mean) and torch.all(mean < plain)


def test_score_matches_the_closed_form_score_of_a_gaussian():
    g = torch.Generator().manual_seed(2)
    grads, _ = score_function_gradient(lambda z, q: torch.ones(len(z), dtype=z.dtype), diagonal_gaussian,
                                       PARAMS, 3, generator=g)
    eps = torch.randn((3, 2), generator=torch.Generator().manual_seed(2), dtype=F64)
    sigma = (0.5 * PARAMS["logvar"]).exp()
    z = PARAMS["mu"] + sigma * eps
    # ∇_μ log q = (z − μ)/σ², ∇_{log σ²} log q = ½((z − μ)²/σ² − 1)
    torch.testing.assert_close(grads["mu"], (z - PARAMS["mu"]) / sigma**2)
    torch.testing.assert_close(grads["logvar"], 0.5 * (eps**2 - 1))


def test_pathwise_matches_the_closed_form_derivative_and_works_for_a_beta():
    # The chain rule by hand, not autograd: z = μ + σ ε with σ = exp(½ log σ²), f = Σ z², so
    # ∂f/∂μ = 2z and ∂f/∂ log σ² = 2z · ½σε = z σ ε, for the generator's own ε.
    grads, values = pathwise_gradient(square, diagonal_gaussian, PARAMS, 20,
                                      generator=torch.Generator().manual_seed(3))
    eps = torch.randn((20, 2), generator=torch.Generator().manual_seed(3), dtype=F64)
    sigma = (0.5 * PARAMS["logvar"]).exp()
    z = PARAMS["mu"] + sigma * eps
    torch.testing.assert_close(values, (z**2).sum(1))
    torch.testing.assert_close(grads["mu"], 2 * z)
    torch.testing.assert_close(grads["logvar"], z * sigma * eps)
    # A Beta is reparameterized too: ∇ E[z] for z ~ Beta(α, β), E[z] = α / (α + β).

    def beta(p):
        return Beta(p["log_a"].exp(), p["log_b"].exp())

    params = {"log_a": torch.tensor([0.7], dtype=F64), "log_b": torch.tensor([1.2], dtype=F64)}
    grads, _ = pathwise_gradient(lambda z, q: z[:, 0], beta, params, 200_000,
                                 generator=torch.Generator().manual_seed(4))
    a, b = params["log_a"].exp(), params["log_b"].exp()
    _assert_unbiased(grads, {"log_a": a * b / (a + b) ** 2, "log_b": -a * b / (a + b) ** 2})


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        pathwise_gradient(square, diagonal_gaussian, PARAMS, 0)
    with pytest.raises(ValueError, match="baseline must be one of"):
        score_function_gradient(square, diagonal_gaussian, PARAMS, 10, baseline="leave-one-out")
    with pytest.raises(ValueError, match="n_samples >= 2"):
        score_function_gradient(square, diagonal_gaussian, PARAMS, 1, baseline="mean")
    with pytest.raises(ValueError, match="one value per sample"):
        pathwise_gradient(lambda z, q: z, diagonal_gaussian, PARAMS, 5)
    with pytest.raises(ValueError, match="not differentiable.*score function"):
        pathwise_gradient(lambda z, q: (z > 0).sum(-1).double(), diagonal_gaussian, PARAMS, 5)
    with pytest.raises(ValueError, match="parameter logvar has 1 non-finite"):
        pathwise_gradient(square, diagonal_gaussian, {**PARAMS, "logvar": torch.tensor([0.0, float("nan")])},
                          5)

    def bernoulli(p):
        return torch.distributions.Bernoulli(logits=p["l"])

    with pytest.raises(ValueError, match="cannot be reparameterized"):
        pathwise_gradient(square, bernoulli, {"l": torch.zeros(2)}, 5)


def test_elbo_estimates_of_both_forms_converge_to_the_closed_form():
    model = LinearGaussian.random(data_dim=4, latent_dim=2, seed=0)
    x = model.sample(1, seed=1)[0]
    q = MultivariateNormal(torch.tensor([0.3, -0.2], dtype=F64), 0.5 * torch.eye(2, dtype=F64))
    exact = model.elbo(x, q).item()
    g = torch.Generator().manual_seed(0)
    joint = elbo_estimate(lambda z: model.log_joint(x, z), q, n_samples=200_000, generator=g)
    kl_form = elbo_estimate_kl(lambda z: model.log_likelihood(x, z), q, model.prior(), 200_000, generator=g)
    assert joint.item() == pytest.approx(exact, abs=0.02)
    assert kl_form.item() == pytest.approx(exact, abs=0.02)
    assert kl_divergence(q, model.prior()).item() > 0.1  # the two forms differ in what they sample
    assert elbo_estimate(lambda z: model.log_joint(x, z), q, 10, n_estimates=7).shape == (7,)
    with pytest.raises(ValueError, match="one value per sample"):
        elbo_estimate(lambda z: z, q, 10)
    with pytest.raises(ValueError, match="n_samples"):
        elbo_estimate_kl(lambda z: model.log_likelihood(x, z), q, model.prior(), 0)
