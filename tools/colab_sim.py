"""Run every chapter as a fresh Google Colab session would, to prove the install cell works.

1. A new virtual environment (``_build/colab-venv``) gets only what Colab ships that the book
   uses: torch, torchvision, numpy, matplotlib, scikit-learn, scipy, tqdm and Jupyter's kernel;
   vaebook is NOT installed.
2. Each chapter notebook runs top to bottom in that environment's kernel, with its install cell
   pointed at this checkout instead of the repository URL, so ``%pip install`` installs vaebook
   (and what vaebook needs that Colab lacks) exactly as it would on Colab.

vaebook is uninstalled before every chapter, so each one installs it itself. The model cache
starts empty and is shared by the chapters of one run (as in one Colab session that runs the
chapters in order); run a single chapter to see it rebuild the models it needs.
Usage: ``python tools/colab_sim.py [NN_name.ipynb ...]``; exit status 1 if any chapter fails
(its executed copy is kept in ``_build/colab/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "_build" / "colab-venv"
OUT = ROOT / "_build" / "colab"
KERNEL = "vaebook-colab-sim"
# What a Colab runtime has preinstalled, as far as the book is concerned (versions from the
# CI constraints file, so the simulation installs offline from the same wheels).
COLAB_PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "scikit-learn", "scipy", "tqdm",
                  "ipykernel"]


def make_environment() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c",
                        str(ROOT / "constraints.txt"), *COLAB_PACKAGES], check=True)
    kernels = VENV / "share" / "jupyter" / "kernels" / KERNEL
    kernels.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Colab simulation", "language": "python"}
    (kernels / "kernel.json").write_text(json.dumps(spec))
    return python


def point_install_cell_at_checkout(nb: nbformat.NotebookNode) -> None:
    cell = next(c for c in nb.cells if c.cell_type == "code")
    if "%pip install" not in cell.source:
        raise SystemExit("the first code cell has no %pip install line")
    url = cell.source.split('"vaebook @ ', 1)[1].split('"', 1)[0]
    cell.source = cell.source.replace(url, ROOT.as_uri())
    # pip installs vaebook's own dependencies that Colab lacks (openTSNE) with the CI pins.
    cell.source = cell.source.replace("%pip install -q", f"%pip install -q -c {ROOT / 'constraints.txt'}")


def uninstall_vaebook(python: Path) -> None:
    """Every chapter starts as a fresh runtime would: without vaebook."""
    subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", "vaebook"],
                   capture_output=True, check=False)
    probe = subprocess.run([str(python), "-c", "import vaebook"], capture_output=True, cwd=VENV)
    if probe.returncode == 0:
        raise SystemExit("vaebook is still importable in the simulated Colab environment")


def run(notebook: Path, python: Path, env: dict[str, str]) -> bool:
    uninstall_vaebook(python)
    nb = nbformat.read(notebook, as_version=4)
    point_install_cell_at_checkout(nb)
    client = NotebookClient(nb, timeout=1800, kernel_name=KERNEL,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    start = time.perf_counter()
    os.environ.update(env)
    try:
        client.execute()
        ok = True
    except CellExecutionError as err:
        print(str(err)[-2000:])
        ok = False
    OUT.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, OUT / notebook.name)
    print(f"{notebook.name}: {'ran' if ok else 'FAILED'} in {time.perf_counter() - start:.0f} s", flush=True)
    return ok


def main() -> int:
    python = make_environment()
    names = sys.argv[1:] or sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with tempfile.TemporaryDirectory() as cache:
        env = {"JUPYTER_PATH": str(VENV / "share" / "jupyter"), "VAEBOOK_CACHE": cache,
               "PIP_NO_INPUT": "1"}
        results = [run(ROOT / "notebooks" / name, python, env) for name in names]
        uninstall_vaebook(python)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
