from __future__ import annotations

import pytest
import torch

from vaebook.corruption import gaussian_noise, masking_noise, mse, psnr, salt_and_pepper

X = torch.full((400, 784), 0.5)


def _seeded(process, level):
    return process(X, level, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("process", [gaussian_noise, masking_noise, salt_and_pepper])
def test_processes_are_seeded_stay_in_range_and_do_nothing_at_level_zero(process):
    a, b = _seeded(process, 0.3), _seeded(process, 0.3)
    assert torch.equal(a, b) and a.shape == X.shape
    assert 0 <= a.min() and a.max() <= 1
    assert torch.equal(_seeded(process, 0.0), X)


@pytest.mark.parametrize("process", [gaussian_noise, masking_noise, salt_and_pepper])
def test_processes_refuse_levels_and_pixels_out_of_range(process):
    with pytest.raises(ValueError, match=r"must be a finite real number in \[0, 1\]"):
        process(X, 1.5)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        process(X * 255, 0.1)


def test_masking_and_salt_and_pepper_hit_the_stated_fraction():
    masked = _seeded(masking_noise, 0.25)
    assert (masked == 0).float().mean().item() == pytest.approx(0.25, abs=0.005)
    noisy = _seeded(salt_and_pepper, 0.2)
    assert (noisy == 1).float().mean().item() == pytest.approx(0.1, abs=0.005)
    assert (noisy == 0).float().mean().item() == pytest.approx(0.1, abs=0.005)


def test_gaussian_noise_has_the_stated_spread_away_from_the_edges():
    noisy = _seeded(gaussian_noise, 0.1)
    assert (noisy - X).std().item() == pytest.approx(0.1, abs=0.002)


def test_mse_and_psnr_known_values():
    x, x_hat = torch.zeros(2, 4), torch.tensor([[0.1] * 4, [0.01] * 4])
    torch.testing.assert_close(mse(x, x_hat), torch.tensor([0.01, 0.0001]))
    torch.testing.assert_close(psnr(x, x_hat), torch.tensor([20.0, 40.0]))
    with pytest.raises(ValueError, match="x and x_hat must have the same shape"):
        psnr(x, x_hat[:1])
