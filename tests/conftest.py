"""Shared fixtures. Tests that need the real MNIST files read them from vaebook's data folder
(set VAEBOOK_DATA to a folder holding MNIST/raw/); without it they skip, except under CI, where
missing data is an error."""

from __future__ import annotations

import importlib.util
import math
import os
from pathlib import Path

import pytest
import torch

from vaebook.data import MNIST_SHA256, data_dir
from vaebook.densities import log_bernoulli
from vaebook.models import VAE


@pytest.fixture(scope="session")
def mnist_root():
    root = data_dir()
    if not all((root / "MNIST" / "raw" / name).is_file() for name in MNIST_SHA256):
        message = f"MNIST not found under {root}; set VAEBOOK_DATA"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def tiny_vae():
    """A float64 VAE with a one-dimensional latent, four binary images, and what a fine quadrature
    grid computes exactly: log p_θ(x) = log ∫ p_θ(x | z) N(z; 0, 1) dz, (4,), and the log of the
    true posterior p_θ(z | x) on the grid, (G, 4), with the grid (G, 1)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VAE(data_dim=6, hidden=(16,), latent_dim=1).double().eval()
    x = torch.bernoulli(torch.full((4, 6), 0.5, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(1))
    grid = torch.linspace(-12, 12, 40_001, dtype=torch.float64).unsqueeze(-1)  # (G, 1)
    with torch.no_grad():
        log_lik = log_bernoulli(x, model.decode_logits(grid.unsqueeze(1)))  # (G, B)
    log_joint = log_lik - 0.5 * (grid**2 + math.log(2 * math.pi))
    log_evidence = torch.logsumexp(log_joint, 0) + math.log(grid[1, 0] - grid[0, 0])
    return model, x, log_evidence, grid, log_joint - log_evidence


@pytest.fixture(scope="session")
def pin_install():
    """tools/pin_install.py as a module: the release (repository, ref) and the files that name it."""
    path = Path(__file__).resolve().parent.parent / "tools" / "pin_install.py"
    spec = importlib.util.spec_from_file_location("pin_install", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
