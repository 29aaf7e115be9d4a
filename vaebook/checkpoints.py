"""Save a trained model with its configuration, and rebuild it from the file.

A checkpoint is one ``torch.save`` file holding the model's class name, the arguments that
rebuild it and its weights. It is written to a temporary file and moved into place, so an
interrupted save never leaves a half-written checkpoint; it is read with ``weights_only=True``,
which refuses arbitrary pickled code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from vaebook.models import VAE, Autoencoder

FORMAT = "vaebook-checkpoint-1"
MODEL_CLASSES = {cls.__name__: cls for cls in (Autoencoder, VAE)}


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read, or does not fit the model asked for."""


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model`` (an Autoencoder or a VAE) to ``path``; returns the path."""
    name = type(model).__name__
    if name not in MODEL_CLASSES:
        raise TypeError(f"can only save {sorted(MODEL_CLASSES)}, got {name}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {"format": FORMAT, "class": name, "config": model.config, "state_dict": state}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | os.PathLike, expected_class: type[nn.Module] | None = None) -> nn.Module:
    """Rebuild the model saved at ``path`` (in eval mode, on the CPU).

    Raises ``FileNotFoundError`` if there is no file, and ``CheckpointError`` if the file is
    corrupt, is no vaebook checkpoint, or holds another class than ``expected_class``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model and save it with save_model.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated: {err}). "
                              f"Delete it and train the model again.") from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file; it was not written by vaebook.save_model.")
    name = checkpoint["class"]
    if expected_class is not None and name != expected_class.__name__:
        raise CheckpointError(f"{path} holds a {name}, not a {expected_class.__name__}.")
    model = MODEL_CLASSES[name](**checkpoint["config"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"the weights in {path} do not fit a {name} with config "
                              f"{checkpoint['config']}: {err}") from err
    return model.eval()
