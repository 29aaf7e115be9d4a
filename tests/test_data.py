from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import torch
from torchvision import datasets

from vaebook import data
from vaebook.data import (
    ENV_VAR,
    MNIST_SHA256,
    CorruptDataError,
    DataUnavailableError,
    batches,
    binarize_dynamic,
    binarize_static,
    data_dir,
    load_mnist,
)

# --- where the data lives ---------------------------------------------------------------------


def test_data_dir_prefers_argument_then_environment_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from-env"))
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir() == tmp_path / "from-env"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" / "vaebook"


# --- the real files -----------------------------------------------------------------------------


def test_load_mnist_shapes_dtypes_and_known_statistics(mnist_root):
    x, y = load_mnist("train", root=mnist_root, download=False)
    assert x.shape == (60_000, 784) and x.dtype == torch.float32
    assert y.shape == (60_000,) and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(y)[:2].tolist() == [5923, 6742]
    assert x.mean().item() * 255 == pytest.approx(33.32, abs=0.01)
    x_test, y_test = load_mnist("test", root=mnist_root, download=False)
    assert x_test.shape == (10_000, 784) and y_test.shape == (10_000,)


def test_load_mnist_reads_the_environment_variable(mnist_root, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(mnist_root))
    x, _ = load_mnist("test", download=False)
    assert len(x) == 10_000


def test_unknown_split_is_refused(mnist_root):
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist("validation", root=mnist_root)


# --- damaged or missing files -------------------------------------------------------------------


def _fake_raw(tmp_path: Path) -> Path:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_SHA256:
        (raw / name).write_bytes(b"not mnist")
    return raw


def test_corrupt_file_is_refused_with_its_name_and_a_remedy(tmp_path):
    _fake_raw(tmp_path)
    with pytest.raises(CorruptDataError, match="corrupt or truncated.*Delete the file"):
        load_mnist(root=tmp_path, download=False)


def test_truncated_copy_of_the_real_file_is_refused(mnist_root, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    shutil.copytree(mnist_root / "MNIST" / "raw", raw)
    with open(raw / "t10k-labels-idx1-ubyte", "r+b") as f:
        f.truncate(5000)
    with pytest.raises(CorruptDataError, match="t10k-labels-idx1-ubyte"):
        load_mnist("test", root=tmp_path, download=False)


def test_missing_data_without_download_names_the_folder_and_the_variable(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_mnist(root=tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message and ENV_VAR in message
    assert "download=True" in message


def test_no_network_fails_fast_and_leaves_nothing_behind(tmp_path, monkeypatch):
    # Port 9 (discard) on loopback refuses the connection at once, as a machine with no network does.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    start = time.monotonic()
    with pytest.raises(DataUnavailableError, match="the download failed"):
        load_mnist(root=tmp_path, download=True)
    assert time.monotonic() - start < 10
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # torchvision probes each URL and closes early; that reset is expected


@pytest.fixture
def mirror(tmp_path_factory, monkeypatch):
    """A local HTTP mirror of the MNIST .gz files; yields the folder it serves."""
    folder = tmp_path_factory.mktemp("mirror")
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
    # Our gzip files differ byte-wise from the originals, so drop torchvision's MD5 of the .gz;
    # vaebook's own SHA-256 check of the uncompressed files still applies.
    monkeypatch.setattr(datasets.MNIST, "resources", [(f"{n}.gz", None) for n in MNIST_SHA256])
    yield folder
    server.shutdown()
    server.server_close()


def _gzip_into(folder: Path, source: Path, name: str, truncate_to: int | None = None) -> None:
    content = (source / name).read_bytes()[:truncate_to]
    (folder / f"{name}.gz").write_bytes(gzip.compress(content, compresslevel=1))


def test_download_fetches_checks_and_moves_files_into_place(mnist_root, mirror, tmp_path):
    for name in MNIST_SHA256:
        _gzip_into(mirror, mnist_root / "MNIST" / "raw", name)
    x, y = load_mnist("test", root=tmp_path / "data", download=True)
    assert x.shape == (10_000, 784) and y[:3].tolist() == [7, 2, 1]
    files = sorted(p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*")
                   if p.is_file())
    assert files == sorted(f"MNIST/raw/{name}" for name in MNIST_SHA256)


def test_download_of_a_damaged_file_keeps_nothing(mnist_root, mirror, tmp_path):
    for name in MNIST_SHA256:
        _gzip_into(mirror, mnist_root / "MNIST" / "raw", name,
                   truncate_to=1000 if name.startswith("t10k-images") else None)
    with pytest.raises((CorruptDataError, DataUnavailableError)):
        load_mnist("test", root=tmp_path, download=True)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_unwritable_folder_is_reported(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(DataUnavailableError, match="cannot write there"):
        load_mnist(root=tmp_path / "blocker" / "data", download=True)


def test_verify_file_rehashes_a_file_changed_on_disk(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    data.verify_file(path, good)
    path.write_bytes(b"abcd")
    with pytest.raises(CorruptDataError):
        data.verify_file(path, good)


def test_a_file_altered_in_place_with_its_mtime_restored_is_hashed_again(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    data.verify_file(path, good)
    stat = path.stat()
    path.write_bytes(b"abd")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size
    with pytest.raises(CorruptDataError):
        data.verify_file(path, good)


def test_folder_lookup_is_shared_by_data_and_model_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SOME_VAR", "")
    assert data.folder(None, "SOME_VAR", lambda: tmp_path) == tmp_path  # empty means unset
    monkeypatch.setenv("SOME_VAR", "~/x")
    assert data.folder(None, "SOME_VAR", lambda: tmp_path) == Path.home() / "x"
    assert data.folder(tmp_path / "arg", "SOME_VAR", lambda: tmp_path) == tmp_path / "arg"


# --- binarization -------------------------------------------------------------------------------


def test_binarize_static_is_binary_unbiased_and_repeatable():
    x = torch.full((2000, 50), 0.3)
    first, second = binarize_static(x, seed=1), binarize_static(x, seed=1)
    assert torch.equal(first, second)
    assert set(first.unique().tolist()) <= {0.0, 1.0}
    assert first.mean().item() == pytest.approx(0.3, abs=0.01)
    assert not torch.equal(first, binarize_static(x, seed=2))


def test_binarize_dynamic_draws_afresh_each_call():
    x = torch.full((100, 784), 0.5)
    generator = torch.Generator().manual_seed(0)
    assert not torch.equal(binarize_dynamic(x, generator), binarize_dynamic(x, generator))


@pytest.mark.parametrize("binarize", [binarize_static, binarize_dynamic])
def test_binarize_refuses_values_outside_the_unit_interval(binarize):
    with pytest.raises(ValueError, match=r"in \[0, 1\].*x / 255"):
        binarize(torch.tensor([[0.0, 255.0]]))
    with pytest.raises(ValueError, match=r"in \[0, 1\].*1 nan"):
        binarize(torch.tensor([[0.5, float("nan")]]))
    with pytest.raises(TypeError, match="floating-point"):
        binarize(torch.tensor([[0, 1]]))


# --- mini-batches -------------------------------------------------------------------------------


def test_batches_cover_every_row_once_in_a_seeded_order():
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    out = list(batches(x, y, batch_size=4, generator=torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in out] == [4, 4, 2]
    order = torch.cat([b[1] for b in out])
    assert sorted(order.tolist()) == list(range(10)) and order.tolist() != list(range(10))
    assert torch.equal(torch.cat([b[0][:, 0] for b in out]).long(), order)  # rows stay paired
    again = torch.cat([b[1] for b in batches(x, y, batch_size=4, generator=torch.Generator().manual_seed(0))])
    assert torch.equal(order, again)


def test_batches_without_shuffle_keep_the_order():
    x = torch.arange(5.0)
    assert [b[0].tolist() for b in batches(x, batch_size=2, shuffle=False)] == [[0, 1], [2, 3], [4]]


def test_batches_refuse_bad_arguments():
    with pytest.raises(ValueError, match="same number of rows"):
        list(batches(torch.zeros(3), torch.zeros(4), batch_size=2))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        list(batches(torch.zeros(3), batch_size=0))
    with pytest.raises(ValueError, match="at least one tensor"):
        list(batches(batch_size=2))


def test_random_rows_is_a_seeded_draw_without_replacement():
    from vaebook.data import random_rows

    x = torch.arange(20.0).reshape(10, 2)
    rows = random_rows(x, 6, seed=3)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3))[:6]
    torch.testing.assert_close(rows, x[expected])  # torch's own permutation
    assert len(set(rows[:, 0].tolist())) == 6  # no row twice
    torch.testing.assert_close(random_rows(x, 6, seed=3), rows)
    with pytest.raises(ValueError, match="at most len"):
        random_rows(x, 11)


def test_random_row_indices_are_the_rows_random_rows_draws():
    from vaebook.data import random_row_indices, random_rows

    x = torch.arange(20.0).reshape(10, 2)
    indices = random_row_indices(10, 6, seed=3)
    assert indices.dtype == torch.int64
    torch.testing.assert_close(x[indices], random_rows(x, 6, seed=3))
    with pytest.raises(ValueError, match="at most 10"):
        random_row_indices(10, 11)
