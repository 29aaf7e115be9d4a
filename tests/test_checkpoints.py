from __future__ import annotations

import pytest
import torch

from vaebook.checkpoints import CheckpointError, load_model, save_model
from vaebook.models import VAE, Autoencoder


def test_round_trip_rebuilds_the_same_model(tmp_path):
    model = VAE(hidden=(32, 16), latent_dim=3, encoder_hidden=(24,))
    path = save_model(model, tmp_path / "sub" / "vae.pt")
    loaded = load_model(path, expected_class=VAE)
    assert loaded.config == model.config and not loaded.training
    x = torch.rand(4, 784)
    torch.testing.assert_close(loaded.encode(x), model.encode(x))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["vae.pt"]  # no temporary left


def test_missing_corrupt_foreign_and_mismatched_files_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_model(tmp_path / "absent.pt")
    path = save_model(Autoencoder(hidden=(8,)), tmp_path / "ae.pt")
    with pytest.raises(CheckpointError, match="holds a Autoencoder, not a VAE"):
        load_model(path, expected_class=VAE)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not written by vaebook"):
        load_model(foreign)
    bad = tmp_path / "bad.pt"
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["config"]["latent_dim"] = 5
    torch.save(checkpoint, bad)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_model(bad)


def test_only_book_models_are_saved(tmp_path):
    with pytest.raises(TypeError, match="can only save"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")
