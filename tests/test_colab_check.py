"""How `make test` orders the chapters' checks (tools/colab_check.py): a chapter that loads a model
another chapter trains waits while a check that trains it runs, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tools import colab_check
from vaebook.pretrained import checkpoint_path


@pytest.fixture()
def checks(tmp_path, monkeypatch):
    monkeypatch.setattr(colab_check, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(colab_check, "TRAINS", {"a_trainer": ["chapter1_ae"]})
    monkeypatch.setattr(colab_check, "LOADS", {"b_loader": ["chapter1_ae"]})
    monkeypatch.setenv("VAEBOOK_CACHE", str(tmp_path / "models"))
    return tmp_path


def _mark_running(chapter, pid):
    marker = colab_check.running_marker(chapter)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(str(pid))


def test_a_loader_waits_while_its_trainer_runs_and_goes_on_once_the_model_is_saved(checks):
    _mark_running("a_trainer", os.getpid())
    model = checkpoint_path("chapter1_ae")

    def save_later():
        time.sleep(0.5)
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(b"a model")

    threading.Thread(target=save_later).start()
    start = time.perf_counter()
    colab_check.wait_for_models("b_loader", poll_seconds=0.05)
    assert model.is_file() and 0.4 < time.perf_counter() - start < 5


def test_a_loader_does_not_wait_without_a_running_trainer(checks):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    _mark_running("a_trainer", dead)  # left behind by a check that was killed
    start = time.perf_counter()
    colab_check.wait_for_models("b_loader", poll_seconds=0.05)
    colab_check.wait_for_models("a_trainer", poll_seconds=0.05)  # loads nothing
    assert time.perf_counter() - start < 1
    assert not checkpoint_path("chapter1_ae").is_file()  # the loader will train it itself


def test_a_trainers_marker_lives_as_long_as_its_check(checks, monkeypatch):
    seen = []
    monkeypatch.setattr(colab_check, "check", lambda chapter, options: seen.append(
        colab_check.is_running(chapter)) or 1)
    assert colab_check.main("a_trainer", []) == 1
    assert seen == [True] and not colab_check.is_running("a_trainer")
