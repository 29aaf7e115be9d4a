"""Log-densities and the Gaussian KL against torch.distributions, and their input checks."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vaebook.densities import kl_standard_normal, log_bernoulli, log_normal_diag, log_standard_normal

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
