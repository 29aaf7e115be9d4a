"""The chapter scheduler of `make book`, `make execute` and `make seeds` (tools/run_chapters.py):
threads per running chapter, waiting for a model another chapter trains, and the seed check that
reports failing asserts instead of stopping. Uses real kernels on three tiny chapters."""

from __future__ import annotations

import asyncio
import os

import pytest

from tools import run_chapters
from vaebook.pretrained import checkpoint_path

# The tiny chapters import neither torch nor vaebook (seconds per kernel): the model's path is
# written into them. {model} is checkpoint_path("chapter1_ae") under the test's cache.
TRAINER = '''# %%
import time
from pathlib import Path
time.sleep(4)  # the loader reaches its load cell meanwhile

# %%
Path({model!r}).parent.mkdir(parents=True, exist_ok=True)
Path({model!r}).write_bytes(b"a model")
'''
LOADER = '''# %%
import time
from pathlib import Path
asked = time.time()

# %%
# the cell that calls load_or_train: the scheduler holds it back
assert Path({model!r}).read_bytes() == b"a model"
print(f"waited {{time.time() - asked:.0f}} s")
'''
FAILING = '''# %%
x = 1

# %%
assert x == 2, "a claim that does not hold"

# %%
y = 3
'''


@pytest.fixture()
def tiny_book(tmp_path, monkeypatch):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    monkeypatch.setenv("VAEBOOK_CACHE", str(tmp_path / "models"))
    model = str(checkpoint_path("chapter1_ae"))
    for name, text in (("a_trainer", TRAINER.format(model=model)), ("b_loader", LOADER.format(model=model)),
                       ("c_failing", FAILING)):
        (notebooks / f"{name}.py").write_text(text)
    monkeypatch.setattr(run_chapters, "NOTEBOOKS", notebooks)
    monkeypatch.setattr(run_chapters, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(run_chapters, "ORDER", ["a_trainer", "b_loader", "c_failing"])
    monkeypatch.setattr(run_chapters, "TRAINS", {"a_trainer": ["chapter1_ae"]})
    monkeypatch.setattr(run_chapters, "LOADS", {"b_loader": ["chapter1_ae"]})
    monkeypatch.delenv("VAEBOOK_SEED", raising=False)
    return notebooks


def test_threads_are_shared_among_running_chapters():
    board = run_chapters.Board(["05_vae", "03_elbo"], cores=2)
    assert board.threads() == 2
    board.running = {"05_vae"}
    assert board.threads() == 2
    board.running = {"05_vae", "03_elbo"}
    assert board.threads() == 1
    board.running = {"a", "b", "c"}
    assert board.threads() == 1


def test_a_model_is_ready_when_cached_or_when_its_trainer_ended(tiny_book):
    board = run_chapters.Board(["a_trainer", "b_loader"], cores=2)
    assert not board._model_ready("chapter1_ae")
    board.ended.add("a_trainer")
    assert board._model_ready("chapter1_ae")  # it ended without saving: the loader trains it
    alone = run_chapters.Board(["b_loader"], cores=2)
    assert alone._model_ready("chapter1_ae")  # no trainer in this run: nothing to wait for


def test_a_loader_waits_for_the_model_and_the_stored_notebooks_are_written(tiny_book):
    chapters = asyncio.run(run_chapters.run_all(["a_trainer", "b_loader"], cores=2, keep_going=False))
    assert [c.failed for c in chapters] == [[], []]
    assert checkpoint_path("chapter1_ae").is_file()
    stored = (tiny_book / "b_loader.ipynb").read_text()
    assert "waited" in stored


def test_a_failing_chapter_stops_a_build_and_leaves_its_notebook_alone(tiny_book):
    with pytest.raises(SystemExit, match="c_failing failed .*a claim that does not hold"):
        asyncio.run(run_chapters.run_all(["c_failing"], cores=1, keep_going=False))
    assert not (tiny_book / "c_failing.ipynb").exists()


def test_the_seed_check_reports_every_failing_assert_and_runs_on(tiny_book, monkeypatch, capsys):
    assert run_chapters.main(["--seed", "3", "--cores", "1", "c_failing"]) == 0
    out = capsys.readouterr().out
    assert "c_failing: cell 1: AssertionError: a claim that does not hold" in out
    assert os.environ["VAEBOOK_SEED"] == "3"
    checked = run_chapters.BUILD / "seeds" / "3" / "c_failing.ipynb"
    assert '"y = 3"' in checked.read_text()  # the cells after the failing one ran too
