from __future__ import annotations

import os
import stat

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


def test_checkpoints_are_readable_by_everyone_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_model(Autoencoder(hidden=(8,)), tmp_path / "ae.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_checkpoint_is_a_permission_problem_not_corruption(tmp_path):
    path = save_model(Autoencoder(hidden=(8,)), tmp_path / "ae.pt")
    path.chmod(0)
    with pytest.raises(PermissionError, match="cannot be read by this user") as error:
        load_model(path)
    assert "Delete" not in str(error.value)


def test_permission_errors_are_told_apart_from_corruption(tmp_path, monkeypatch):
    # (also as root, who reads any file: the error that open() raises is what matters)
    path = save_model(Autoencoder(hidden=(8,)), tmp_path / "ae.pt")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", denied)
    with pytest.raises(PermissionError, match="may be fine.*chmod a\\+r") as error:
        load_model(path)
    assert "Delete" not in str(error.value)


@pytest.mark.parametrize("damage", [
    lambda c: c.pop("class"), lambda c: c.update({"class": "Linear"}), lambda c: c.pop("config"),
    lambda c: c.update({"config": [1, 2]}), lambda c: c.update({"config": {"hidden": 400}}),
    lambda c: c.update({"config": {"bogus": 1}}), lambda c: c.pop("state_dict"),
    lambda c: c.update({"state_dict": {"w": 3}}), lambda c: c["state_dict"].popitem(),
], ids=["no class", "foreign class", "no config", "config not a dict", "bad config", "unknown argument",
        "no weights", "weights not tensors", "missing weight"])
def test_every_malformed_checkpoint_is_a_checkpoint_error(tmp_path, damage):
    path = save_model(VAE(hidden=(8,), latent_dim=2), tmp_path / "vae.pt")
    checkpoint = torch.load(path, weights_only=True)
    damage(checkpoint)
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError):
        load_model(path)


def test_nan_weights_are_refused(tmp_path):
    model = VAE(hidden=(8,), latent_dim=2)
    with torch.no_grad():
        model.decoder[0].weight.fill_(float("nan"))
    path = save_model(model, tmp_path / "vae.pt")
    with pytest.raises(CheckpointError, match="non-finite weights.*decoder.0.weight"):
        load_model(path)


def test_only_book_models_are_saved(tmp_path):
    with pytest.raises(TypeError, match="can only save"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")
