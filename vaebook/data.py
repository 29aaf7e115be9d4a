"""The data: where it lives, MNIST as in-memory tensors checked against known SHA-256 sums,
binarization, mini-batches.

Where the data lives, in order: the ``root`` argument, the ``VAEBOOK_DATA`` environment
variable, then ``$XDG_CACHE_HOME/vaebook`` (``~/.cache/vaebook``); ``folder`` is that rule, which
``pretrained.cache_dir`` follows too. The raw IDX files sit in ``<root>/MNIST/raw/`` exactly as
torchvision leaves them, so a folder that torchvision filled works as is.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor

from vaebook.checks import (
    check_positive_int,
    check_same_length,
    check_tensor,
    check_unit_interval,
    checked,
    trusted,
)
from vaebook.randomness import seeded_generator

ENV_VAR = "VAEBOOK_DATA"
DOWNLOAD_TIMEOUT_S = 15

# The canonical MNIST files (LeCun, Cortes & Burges), uncompressed, as torchvision stores them.
MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLITS = ("train", "test")


class DataUnavailableError(RuntimeError):
    """MNIST is not on disk and could not be downloaded."""


class CorruptDataError(RuntimeError):
    """A data file on disk does not match its known SHA-256 sum."""


def folder(argument: str | os.PathLike | None, env_var: str, default: Callable[[], Path]) -> Path:
    """A folder named by ``argument`` if given, else by the environment variable ``env_var`` if
    set and not empty, else ``default()``; ``~`` is expanded."""
    if argument is not None:
        return Path(argument).expanduser()
    if os.environ.get(env_var):
        return Path(os.environ[env_var]).expanduser()
    return default()


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vaebook"


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root`` if given, else ``$VAEBOOK_DATA``, else the user cache."""
    return folder(root, ENV_VAR, _user_cache)


def load_mnist(
    split: str = "train", root: str | os.PathLike | None = None, download: bool = True
) -> tuple[Tensor, Tensor]:
    """Load one MNIST split into memory.

    Returns ``(x, y)``: ``x`` float32 of shape ``(N, 784)`` with pixels in [0, 1], ``y`` int64 of
    shape ``(N,)``; N = 60,000 for ``"train"``, 10,000 for ``"test"``. Files are checked against
    their SHA-256 sums first; missing files are downloaded through torchvision if ``download``.
    """
    from torchvision import datasets  # imported here: torchvision is slow to import

    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    root = data_dir(root)
    raw = root / "MNIST" / "raw"
    if not all((raw / name).is_file() for name in MNIST_SHA256):
        if not download:
            raise DataUnavailableError(_missing_message(raw, "download=False was given"))
        _download(raw)
    for name in MNIST_SHA256:
        verify_file(raw / name, MNIST_SHA256[name])
    mnist = datasets.MNIST(str(root), train=split == "train", download=False)
    x = mnist.data.reshape(len(mnist.data), -1).float().div_(255)
    return x, mnist.targets.long()


def verify_file(path: Path, expected_sha256: str) -> None:
    """Raise ``CorruptDataError`` unless ``path`` has the expected SHA-256 sum.

    The whole file is hashed at every call (about 0.1 s for MNIST's 55 MB of training images), so
    nothing cached can hide a file that changed on disk.
    """
    with open(path, "rb") as f:
        actual = hashlib.file_digest(f, "sha256").hexdigest()
    if actual != expected_sha256:
        raise CorruptDataError(
            f"{path} is corrupt or truncated: its SHA-256 is {actual}, expected {expected_sha256} "
            f"({path.stat().st_size:,} bytes on disk). Delete the file and load again to download a "
            f"fresh copy, or copy the canonical file there."
        )


def _download(raw: Path) -> None:
    """Download the four files through torchvision into a temporary folder, check them, then
    move them into ``raw``: an interrupted or failed download leaves nothing half-written."""
    from torchvision import datasets

    try:
        raw.parent.parent.mkdir(parents=True, exist_ok=True)
        tmp_context = tempfile.TemporaryDirectory(prefix=".mnist-download-", dir=raw.parent.parent)
    except OSError as err:
        raise DataUnavailableError(_missing_message(raw, f"cannot write there ({err})")) from err
    with tmp_context as tmp:
        previous_timeout = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)  # no network must fail fast, not hang
        try:
            # torchvision prints a line per failed mirror; our error below says it all.
            with contextlib.redirect_stdout(io.StringIO()):
                datasets.MNIST(tmp, train=True, download=True)
        except Exception as err:  # noqa: BLE001 - any download failure means the same to a reader
            raise DataUnavailableError(_missing_message(raw, f"the download failed: {err}")) from err
        finally:
            socket.setdefaulttimeout(previous_timeout)
        fetched = Path(tmp) / "MNIST" / "raw"
        for name, sha in MNIST_SHA256.items():
            verify_file(fetched / name, sha)
        raw.mkdir(parents=True, exist_ok=True)
        for name in MNIST_SHA256:
            os.replace(fetched / name, raw / name)


def _missing_message(raw: Path, reason: str) -> str:
    return (
        f"MNIST was not found in {raw} and {reason}. Either point vaebook at a folder that holds "
        f"MNIST/raw/ (set the environment variable {ENV_VAR}=/path/to/data or pass root=...), or "
        f"connect to the internet and call vaebook.data.load_mnist(download=True), which downloads "
        f"the four files (about 11 MB) through torchvision into {raw}."
    )


def _check_pixels(x: object, **_) -> None:
    check_unit_interval(check_tensor(x, "x"), "x")


@checked(_check_pixels)
def binarize_dynamic(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A fresh binarization on every call, x_bin ~ Bernoulli(x), x: (...) in [0, 1] -> the same
    shape of zeros and ones: use it per training batch."""
    # Same law as torch.bernoulli(x), about a third faster on a CPU: P(u < x) = x for u ~ U(0, 1).
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return (u < x).to(x.dtype)


def binarize_static(x: Tensor, seed: int = 0) -> Tensor:
    """One fixed binarization, x_bin ~ Bernoulli(x) drawn with ``seed`` (for a test set); shapes
    as ``binarize_dynamic``."""
    _check_pixels(x)
    with trusted():
        return binarize_dynamic(x, seeded_generator(seed, x.device))


def random_rows(x: Tensor, n: int, seed: int = 0) -> Tensor:
    """n rows of x drawn without replacement, in a random order fixed by ``seed`` (a fixed
    subset of a test set that several models are scored on): x[randperm(len(x))[:n]], the
    permutation drawn on the CPU whatever x's device, so that it is the same everywhere."""
    check_tensor(x, "x")
    check_positive_int(n, "n")
    if x.ndim == 0 or n > len(x):
        raise ValueError(f"cannot draw {n} rows from x of shape {tuple(x.shape)}; ask for at most "
                         f"len(x) rows.")
    return x[random_row_indices(len(x), n, seed).to(x.device)]


def random_row_indices(length: int, n: int, seed: int = 0) -> Tensor:
    """The indices of the rows that ``random_rows`` draws from any x with ``length`` rows: the
    first n of a permutation of range(length) seeded by ``seed``, (n,) int64 on the CPU (to
    find, in values computed for every row, those of the subset)."""
    check_positive_int(length, "length")
    check_positive_int(n, "n")
    if n > length:
        raise ValueError(f"cannot draw {n} of {length} rows; ask for at most {length}.")
    return torch.randperm(length, generator=seeded_generator(seed))[:n]


def batches(
    *tensors: Tensor,
    batch_size: int,
    shuffle: bool = True,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[Tensor, ...]]:
    """Yield mini-batches as tuples of row slices of ``tensors`` (all of the same length N).

    The order is a permutation drawn from ``generator`` when ``shuffle``; the last batch may be
    smaller. Indexing in-memory tensors avoids a per-item DataLoader, the slow part on a CPU.
    """
    if not tensors:
        raise ValueError("batches needs at least one tensor.")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor) or t.ndim == 0:
            raise TypeError(f"batches takes tensors with a first dimension, got {type(t).__name__} "
                            f"as argument {i}.")
    n = check_same_length(tensors, "the tensors passed to batches")
    check_positive_int(batch_size, "batch_size")
    device = tensors[0].device
    if shuffle:
        order = torch.randperm(n, generator=generator, device=generator.device if generator else "cpu")
        order = order.to(device)
    else:
        order = torch.arange(n, device=device)
    for start in range(0, n, batch_size):
        index = order[start:start + batch_size]
        yield tuple(t[index] for t in tensors)
