"""Log-densities and the Gaussian KL against torch.distributions, and their input checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, ContinuousBernoulli, Independent, Normal, kl_divergence

from vaebook.densities import (
    continuous_bernoulli_mean,
    kl_standard_normal,
    log_bernoulli,
    log_continuous_bernoulli,
    log_continuous_bernoulli_normalizer,
    log_normal_diag,
    log_standard_normal,
)

g = torch.Generator().manual_seed(0)
MU, LOGVAR, Z = (torch.randn(6, 4, generator=g) for _ in range(3))


def test_log_bernoulli_matches_torch_distributions():
    x, logits = torch.bernoulli(torch.full((6, 10), 0.4), generator=g), 3 * torch.randn(6, 10, generator=g)
    expected = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(log_bernoulli(x, logits), expected)


def test_log_bernoulli_broadcasts_over_samples():
    x, logits = torch.bernoulli(torch.full((6, 10), 0.4), generator=g), torch.randn(3, 6, 10, generator=g)
    assert log_bernoulli(x, logits).shape == (3, 6)
    torch.testing.assert_close(log_bernoulli(x, logits)[1], log_bernoulli(x, logits[1]))


@pytest.mark.parametrize("bad", [255.0, -0.5, float("nan")])
def test_log_bernoulli_refuses_pixels_outside_the_unit_interval_and_nan(bad):
    x = torch.zeros(2, 3)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"x .*(\[0, 1\]|non-finite)"):
        log_bernoulli(x, torch.zeros(2, 3))


def test_log_bernoulli_names_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"x \(2, 784\), logits \(2, 783\)"):
        log_bernoulli(torch.zeros(2, 784), torch.zeros(2, 783))


def test_log_normal_diag_and_standard_normal_match_torch_distributions():
    expected = Independent(Normal(MU, torch.exp(0.5 * LOGVAR)), 1).log_prob(Z)
    torch.testing.assert_close(log_normal_diag(Z, MU, LOGVAR), expected)
    standard = Independent(Normal(torch.zeros(4), torch.ones(4)), 1).log_prob(Z)
    torch.testing.assert_close(log_standard_normal(Z), standard)
    bad = LOGVAR.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="logvar has 1 non-finite"):
        log_normal_diag(Z, MU, bad)
    with pytest.raises(ValueError, match="last dimension"):
        log_standard_normal(torch.tensor(1.0))


def test_kl_standard_normal_matches_torch_distributions():
    q = Independent(Normal(MU, torch.exp(0.5 * LOGVAR)), 1)
    p = Independent(Normal(torch.zeros_like(MU), torch.ones_like(MU)), 1)
    torch.testing.assert_close(kl_standard_normal(MU, LOGVAR), kl_divergence(q, p))
    with pytest.raises(ValueError, match="same shape"):
        kl_standard_normal(MU, LOGVAR[:, :1])


def test_log_continuous_bernoulli_matches_torch_distributions():
    # float64, |logit| <= 15: where torch's own clamping of probabilities does not bite
    logits = torch.linspace(-15, 15, 3000, dtype=torch.float64).reshape(3, 1000)
    x = torch.rand(3, 1000, generator=g, dtype=torch.float64)
    x[0, :5] = torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0], dtype=torch.float64)  # the ends of [0, 1]
    expected = Independent(ContinuousBernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(log_continuous_bernoulli(x, logits), expected, rtol=1e-9, atol=1e-6)


def test_continuous_bernoulli_normalizer_makes_a_density_and_is_accurate_in_float32():
    # the Bernoulli formula integrates to tanh(ℓ/2)/ℓ over [0, 1] (1/2 at ℓ = 0); C(ℓ) is its inverse
    logits = torch.tensor([-30.0, -4.0, -0.3, 0.0, 1e-3, 0.02, 7.0], dtype=torch.float64)
    grid = torch.linspace(0, 1, 200_001, dtype=torch.float64)[:, None, None]
    density = log_continuous_bernoulli(grid, logits[:, None]).exp()  # (G, 7)
    torch.testing.assert_close(torch.trapezoid(density, grid[:, 0, 0], dim=0),
                               torch.ones(7, dtype=torch.float64), rtol=0, atol=1e-8)
    unnormalized = torch.trapezoid(log_bernoulli(grid, logits[:, None]).exp(), grid[:, 0, 0], dim=0)
    closed = torch.where(logits == 0, 0.5, torch.tanh(logits / 2) / logits)
    torch.testing.assert_close(unnormalized, closed, rtol=0, atol=1e-8)
    assert log_continuous_bernoulli_normalizer(torch.zeros(1)).item() == pytest.approx(math.log(2))
    # float32 across the switch to the Taylor series at |ℓ| = 0.01 agrees with float64
    around = torch.tensor([-0.011, -0.0099, 0.0, 0.0099, 0.0101, 0.5, 20.0], dtype=torch.float64)
    torch.testing.assert_close(log_continuous_bernoulli_normalizer(around.float()).double(),
                               log_continuous_bernoulli_normalizer(around), rtol=0, atol=1e-6)


def test_continuous_bernoulli_gradients_are_finite_at_zero_and_inputs_are_checked():
    logits = torch.tensor([[0.0, 1e-4, -3.0]], requires_grad=True)
    log_continuous_bernoulli(torch.full((1, 3), 0.2), logits).sum().backward()
    assert torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match=r"x must hold values in \[0, 1\]"):
        log_continuous_bernoulli(torch.full((1, 3), 1.5), logits.detach())
    with pytest.raises(ValueError, match="logits has 1 non-finite"):
        log_continuous_bernoulli_normalizer(torch.tensor([[0.0, float("nan")]]))


def test_continuous_bernoulli_mean_is_the_integral_of_x_times_the_density():
    logits = torch.tensor([-60.0, -5.0, -0.51, -0.49, 0.0, 0.011, 12.0], dtype=torch.float64)
    grid = torch.linspace(0, 1, 400_001, dtype=torch.float64)[:, None, None]
    density = log_continuous_bernoulli(grid, logits[:, None]).exp()  # (G, 7)
    expected = torch.trapezoid(grid[:, :, 0] * density, grid[:, 0, 0], dim=0)
    torch.testing.assert_close(continuous_bernoulli_mean(logits), expected, rtol=0, atol=1e-8)
    moderate = torch.linspace(-8, 8, 101, dtype=torch.float64)
    torch.testing.assert_close(continuous_bernoulli_mean(moderate),
                               ContinuousBernoulli(logits=moderate).mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(continuous_bernoulli_mean(logits.float()).double(),
                               continuous_bernoulli_mean(logits), rtol=0, atol=1e-6)
