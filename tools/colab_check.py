"""Run one chapter as a fresh Google Colab session would, and compare its outputs with the
stored ones: the one execution of each chapter in ``make test``.

1. A new virtual environment, ``_build/colab/<chapter>/venv``, gets only what Colab ships that the
   book uses (``COLAB_PACKAGES``, at the versions of ``constraints.txt``); vaebook is NOT in it.
   uv links the packages from its cache, so a fresh environment per chapter costs seconds.
2. A copy of the chapter whose install cell points at a wheel built from this checkout instead
   of the release on GitHub, so the chapter's own ``%pip install`` installs vaebook (and what
   vaebook needs that Colab lacks) exactly as it would on Colab.
3. nbval runs the copy in that environment's kernel and compares every output with the stored
   one, numbers within the tolerance their cell declares (``tools/nbval_tolerance.py``). The
   largest deviations go to ``_build/deviations/<chapter>.json``.

A chapter that loads a model another chapter trains (``LOADS`` and ``TRAINS`` of
``tools/run_chapters.py``) first waits until the model is in the cache, for as long as a check of
a chapter that trains it is running. So chapter 7's check can start once chapter 5's check has
saved the VAE, long before that check ends, and no model is trained twice at once. When no such
check runs, the chapter trains what it needs itself, as on Colab.

Usage: ``python -m tools.colab_check NN_name [pytest options]`` from the repository root (the
Makefile's ``check-NN_name`` targets); the wheel must exist (``make wheel``). Exit status: pytest's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from tools.run_chapters import LOADS, TRAINS

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
CONSTRAINTS = ROOT / "constraints.txt"
# What a Colab runtime has preinstalled, as far as the book is concerned.
COLAB_PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "scikit-learn", "scipy", "tqdm",
                  "pillow", "ipykernel"]


def wheel() -> Path:
    wheels = sorted((BUILD / "dist").glob("vaebook-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one vaebook wheel in {BUILD / 'dist'}, found {len(wheels)}: "
                         f"run `make wheel`")
    return wheels[0]


def make_environment(folder: Path, kernel: str) -> Path:
    """A fresh Colab-like venv in ``folder`` with a Jupyter kernel called ``kernel``; returns the
    folder to add to JUPYTER_PATH."""
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--seed", "--clear", str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run([*uv, "pip", "install", "--quiet", "--python", str(python), "-c", str(CONSTRAINTS),
                    *COLAB_PACKAGES], check=True)
    probe = subprocess.run([str(python), "-c", "import vaebook"], capture_output=True, cwd=folder,
                           env=_without_pythonpath())
    if probe.returncode == 0:
        raise SystemExit(f"vaebook is importable in the fresh environment {folder}; it must not be")
    kernels = folder / "share" / "jupyter"
    spec = kernels / "kernels" / kernel
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Colab-like ({kernel})", "language": "python"}))
    return kernels


def point_install_cell_at_wheel(source: Path, target: Path) -> None:
    """Copy the notebook, with its install cell installing ``wheel()`` instead of the release."""
    nb = nbformat.read(source, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    if '%pip install -q "vaebook @ ' not in cell.source:
        raise SystemExit(f"{source.name}: the first code cell has no "
                         f"'%pip install -q \"vaebook @ ...\"' line")
    release = cell.source.split('"vaebook @ ', 1)[1].split('"', 1)[0]
    cell.source = cell.source.replace(release, wheel().as_uri()).replace(
        "%pip install -q", f"%pip install -q -c {CONSTRAINTS}")
    nbformat.write(nb, target)


def running_marker(chapter: str) -> Path:
    """The file that says a check of ``chapter`` is running, and in which process."""
    return BUILD / "colab" / "running" / chapter


def is_running(chapter: str) -> bool:
    try:
        os.kill(int(running_marker(chapter).read_text()), 0)
    except (OSError, ValueError):  # no marker, a stale one (the process is gone), a torn write
        return False
    return True


def wait_for_models(chapter: str, poll_seconds: float = 2.0) -> None:
    """Wait until every model ``chapter`` loads is in the cache, or no check that trains it runs."""
    # Imported here: the cache folder comes from the environment (VAEBOOK_CACHE).
    from vaebook.pretrained import checkpoint_path
    for model in LOADS.get(chapter, []):
        trainers = [name for name, models in TRAINS.items() if model in models]
        start = time.perf_counter()
        while not checkpoint_path(model).is_file() and any(map(is_running, trainers)):
            time.sleep(poll_seconds)
        if time.perf_counter() - start > poll_seconds:
            print(f"{chapter}: waited {time.perf_counter() - start:.0f} s for {model}", flush=True)


def main(chapter: str, pytest_options: list[str]) -> int:
    marker = running_marker(chapter)
    if chapter in TRAINS:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(os.getpid()))
    try:
        wait_for_models(chapter)
        return check(chapter, pytest_options)
    finally:
        if chapter in TRAINS:
            marker.unlink(missing_ok=True)


def check(chapter: str, pytest_options: list[str]) -> int:
    folder = BUILD / "colab" / chapter
    kernel = f"vaebook-colab-{chapter}"
    jupyter_path = make_environment(folder / "venv", kernel)
    notebook = folder / f"{chapter}.ipynb"
    point_install_cell_at_wheel(ROOT / "notebooks" / f"{chapter}.ipynb", notebook)
    env = {**_without_pythonpath(), "JUPYTER_PATH": str(jupyter_path), "PIP_NO_INPUT": "1"}
    # `python -m pytest` from the root imports tools.nbval_tolerance; the kernel, started in the
    # notebook's folder, sees only its own environment.
    command = [sys.executable, "-m", "pytest", "-p", "tools.nbval_tolerance", "--nbval-tolerance",
               f"--nbval-kernel-name={kernel}", "--nbval-cell-timeout=1800",
               f"--nbval-sanitize-with={ROOT / 'tests' / 'nbval_sanitize.cfg'}",
               f"--nbval-deviations={BUILD / 'deviations' / f'{chapter}.json'}",
               "-p", "no:cacheprovider", *pytest_options, str(notebook)]
    return subprocess.run(command, env=env, cwd=ROOT).returncode


def _without_pythonpath() -> dict[str, str]:
    """The environment without PYTHONPATH, which would let the kernel import the checkout."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
