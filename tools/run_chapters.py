"""Execute every chapter from its jupytext text twin and store the executed notebook.

The percent script ``notebooks/NN_name.py`` is the source; ``notebooks/NN_name.ipynb`` is
rewritten with fresh outputs. Usage: ``python tools/run_chapters.py [NN_name.py ...]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FAILED = NOTEBOOKS.parent / "_build" / "failed"


def run_chapter(script: Path) -> float:
    """Execute one chapter in a fresh kernel of this Python; return the seconds it took."""
    notebook = jupytext.read(script)
    start = time.perf_counter()
    # record_timing=False keeps wall-clock timestamps out of the committed notebook.
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except CellExecutionError:
        # Keep what ran, for reading; the committed notebook stays as it was.
        FAILED.mkdir(parents=True, exist_ok=True)
        jupytext.write(notebook, FAILED / f"{script.stem}.ipynb", fmt="ipynb")
        print(f"  failed; the partly executed notebook is in {FAILED / script.stem}.ipynb", flush=True)
        raise
    # Keep only the final state of each progress bar, as a reader would see it.
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    _keep_cell_ids(notebook, script.with_suffix(".ipynb"))
    jupytext.write(notebook, script.with_suffix(".ipynb"), fmt="ipynb")
    return time.perf_counter() - start


def _keep_cell_ids(notebook, path: Path) -> None:
    """Reuse the cell ids of the notebook already at ``path`` (cells matched in order) so that a
    re-execution changes only what really changed."""
    if not path.exists():
        return
    previous = jupytext.read(path)
    if len(previous.cells) == len(notebook.cells):
        for cell, old in zip(notebook.cells, previous.cells, strict=True):
            if "id" in old:
                cell["id"] = old["id"]


def main(names: list[str]) -> None:
    scripts = [NOTEBOOKS / name for name in names] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    for script in scripts:
        print(f"executing {script.name} ...", flush=True)
        print(f"  done in {run_chapter(script):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
