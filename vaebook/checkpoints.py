"""Save a trained model with its configuration, and rebuild it from the file.

A checkpoint is one ``torch.save`` file holding the model's class name, the arguments that
rebuild it and its weights. It is written to a temporary file and moved into place, so an
interrupted save never leaves a half-written checkpoint, and it is readable by everyone the
umask allows (0644 under the usual 022), so a cache shared by a class works. It is read with
``weights_only=True``, which refuses arbitrary pickled code, and every way a file can fail to be
a checkpoint (unreadable, corrupt, foreign, malformed, weights that do not fit or are not finite)
raises ``CheckpointError``; a file that exists but cannot be opened raises ``PermissionError``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import torch
from torch import nn

from vaebook.models import MODELS

FORMAT = "vaebook-checkpoint-1"


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read, or does not fit the model asked for."""


def save_model(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``model`` (an Autoencoder or a VAE) to ``path`` with mode 0666 & ~umask; returns
    the path. Raises ``OSError`` (e.g. ``PermissionError``) when the folder cannot be written."""
    name = type(model).__name__
    if MODELS.get(name) is not type(model):
        raise TypeError(f"can only save {sorted(MODELS)}, got {name}.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    checkpoint = {"format": FORMAT, "class": name, "config": model.config, "state_dict": state}
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # Created like any new file, 0666 less the umask (mkstemp's 0600 would hide it from the others).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_model(path: str | os.PathLike, expected_class: type[nn.Module] | None = None) -> nn.Module:
    """Rebuild the model saved at ``path`` (in eval mode, on the CPU).

    Raises ``FileNotFoundError`` if there is no file, ``PermissionError`` if it cannot be read
    (the file may be fine: ask its owner, or ``chmod a+r`` it), and ``CheckpointError`` if it is
    corrupt, is no vaebook checkpoint, is malformed, holds weights that do not fit or are not
    finite, or holds another class than ``expected_class``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train the model and save it with "
                                f"vaebook.checkpoints.save_model.")
    checkpoint = _read(path)
    name, config, state = _parts(checkpoint, path)
    if expected_class is not None and name != expected_class.__name__:
        raise CheckpointError(f"{path} holds a {name}, not a {expected_class.__name__}.")
    try:
        model = MODELS[name](**config)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"the weights in {path} do not fit a {name} with config {config}: "
                              f"{err}") from err
    bad = [key for key, value in state.items()
           if value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (nan or inf) in {bad}: the model it saved "
                              f"had diverged. Train it again (with a lower learning rate).")
    return model.eval()


def _read(path: Path) -> object:
    try:
        with open(path, "rb") as f:
            return torch.load(f, map_location="cpu", weights_only=True)
    except PermissionError as err:
        raise PermissionError(f"{path} exists but cannot be read by this user ({err.strerror}); the file "
                              f"itself may be fine: ask its owner to make it readable "
                              f"(chmod a+r), or point VAEBOOK_CACHE at a folder of your own.") from err
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a damaged file
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt or truncated: {err}). "
                              f"Delete it and train the model again.") from err


def _parts(checkpoint: object, path: Path) -> tuple[str, dict, dict]:
    """(class name, config, state_dict) of a checkpoint, or ``CheckpointError`` naming the flaw."""
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file; it was not written by "
                              f"vaebook.checkpoints.save_model.")
    name, config, state = (checkpoint.get(key) for key in ("class", "config", "state_dict"))
    if not isinstance(name, str) or name not in MODELS:
        raise CheckpointError(f"{path} names the class {name!r}, not one of {sorted(MODELS)}.")
    if not isinstance(config, dict) or not all(isinstance(key, str) for key in config):
        raise CheckpointError(f"{path} has no valid config (a dict of constructor arguments), "
                              f"got {config!r}.")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} has no valid state_dict (a dict of tensors).")
    return name, config, state
