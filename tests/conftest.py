"""Shared fixtures. Tests that need the real MNIST files read them from vaebook's data folder
(set VAEBOOK_DATA to a folder holding MNIST/raw/); without it they skip, except under CI, where
missing data is an error."""

from __future__ import annotations

import os

import pytest

from vaebook.data import MNIST_SHA256, data_dir


@pytest.fixture(scope="session")
def mnist_root():
    root = data_dir()
    if not all((root / "MNIST" / "raw" / name).is_file() for name in MNIST_SHA256):
        message = f"MNIST not found under {root}; set VAEBOOK_DATA"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return root

