"""Shared fixtures. Tests that need the real MNIST files read them from vaebook's data folder
(set VAEBOOK_DATA to a folder holding MNIST/raw/); without it they skip, except under CI, where
missing data is an error."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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



@pytest.fixture(scope="session")
def pin_install():
    """tools/pin_install.py as a module: the release (repository, ref) and the files that name it."""
    path = Path(__file__).resolve().parent.parent / "tools" / "pin_install.py"
    spec = importlib.util.spec_from_file_location("pin_install", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
