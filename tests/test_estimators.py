from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

from vaebook.estimators import pathwise_gradient, score_function_gradient

MU = torch.tensor([0.5, -1.0], dtype=torch.float64)
LOG_SIGMA = torch.log(torch.tensor([0.8, 1.5], dtype=torch.float64))


def square(z):
    return (z**2).sum(-1)


# E_q[Σ z_k²] = Σ μ_k² + σ_k²  =>  ∇_μ = 2μ,  ∇_{log σ} = 2σ²
TRUE_MU, TRUE_LOG_SIGMA = 2 * MU, 2 * torch.exp(2 * LOG_SIGMA)


def _assert_unbiased(samples, truth):
    # the mean of S iid estimates is within 4 standard errors of the truth, per coordinate
    mean, standard_error = samples.mean(0), samples.std(0) / len(samples) ** 0.5
    assert torch.all((mean - truth).abs() < 4 * standard_error), (mean, truth, standard_error)


@pytest.mark.parametrize("estimator", [
    lambda n, g: score_function_gradient(square, MU, LOG_SIGMA, n, generator=g),
    lambda n, g: score_function_gradient(square, MU, LOG_SIGMA, n, baseline="leave-one-out", generator=g),
    lambda n, g: pathwise_gradient(square, MU, LOG_SIGMA, n, generator=g),
], ids=["score", "score+baseline", "pathwise"])
def test_estimators_are_unbiased(estimator):
    grad_mu, grad_log_sigma = estimator(200_000, torch.Generator().manual_seed(0))
    assert grad_mu.shape == grad_log_sigma.shape == (200_000, 2)
    _assert_unbiased(grad_mu, TRUE_MU)
    _assert_unbiased(grad_log_sigma, TRUE_LOG_SIGMA)


def test_variance_ordering_pathwise_below_score_with_baseline_below_score():
    g = torch.Generator().manual_seed(1)
    plain = score_function_gradient(square, MU, LOG_SIGMA, 50_000, generator=g)[0].var(0)
    baseline = score_function_gradient(square, MU, LOG_SIGMA, 50_000, baseline="leave-one-out",
                                       generator=g)[0].var(0)
    pathwise = pathwise_gradient(square, MU, LOG_SIGMA, 50_000, generator=g)[0].var(0)
    assert torch.all(pathwise < baseline) and torch.all(baseline < plain)


def test_score_matches_autograd_of_the_log_density():
    g = torch.Generator().manual_seed(2)
    grad_mu, grad_log_sigma = score_function_gradient(lambda z: torch.ones(len(z), dtype=z.dtype),
                                                      MU, LOG_SIGMA, 1, generator=g)
    eps = torch.randn((1, 2), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    mu, log_sigma = MU.clone().requires_grad_(), LOG_SIGMA.clone().requires_grad_()
    z = (MU + LOG_SIGMA.exp() * eps).detach()
    Normal(mu, log_sigma.exp()).log_prob(z).sum().backward()
    torch.testing.assert_close(grad_mu[0], mu.grad)
    torch.testing.assert_close(grad_log_sigma[0], log_sigma.grad)


def test_pathwise_matches_rsample_and_autograd():
    mu, log_sigma = MU.clone().requires_grad_(), LOG_SIGMA.clone().requires_grad_()
    torch.manual_seed(3)
    square(Normal(mu, log_sigma.exp()).rsample((1,))).sum().backward()
    torch.manual_seed(3)
    grad_mu, grad_log_sigma = pathwise_gradient(square, MU, LOG_SIGMA, 1)
    torch.testing.assert_close(grad_mu[0], mu.grad)
    torch.testing.assert_close(grad_log_sigma[0], log_sigma.grad)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="n_samples must be an integer >= 1"):
        pathwise_gradient(square, MU, LOG_SIGMA, 0)
    with pytest.raises(ValueError, match=r"shape \(K,\)"):
        score_function_gradient(square, MU, LOG_SIGMA[:1], 10)
    with pytest.raises(ValueError, match="baseline must be one of"):
        score_function_gradient(square, MU, LOG_SIGMA, 10, baseline="mean")
    with pytest.raises(ValueError, match="needs n_samples >= 2"):
        score_function_gradient(square, MU, LOG_SIGMA, 1, baseline="leave-one-out")
    with pytest.raises(ValueError, match="one value per sample"):
        pathwise_gradient(lambda z: z, MU, LOG_SIGMA, 5)
    with pytest.raises(ValueError, match="not differentiable.*score_function_gradient"):
        pathwise_gradient(lambda z: (z > 0).sum(-1).double(), MU, LOG_SIGMA, 5)
