"""Execute the chapters from their jupytext text twins, keeping every core busy.

    python tools/run_chapters.py [--cores N] [NN_name ...]      # store notebooks/NN_name.ipynb
    python tools/run_chapters.py --seed S [NN_name ...]         # check the asserts under seed S

Without ``--seed`` each executed chapter is written to ``notebooks/NN_name.ipynb``: the outputs
that are committed (``make execute``) or that a reader's ``make book`` renders. A chapter that
fails is not written; its partly executed notebook goes to ``_build/failed/``.

With ``--seed S`` the chapters run under ``VAEBOOK_SEED=S`` (so every chapter's ``SEED`` and every
recipe of ``vaebook.pretrained`` change), with their own model cache ``_build/seeds/S/models``.
Nothing in ``notebooks/`` is touched: the executed notebooks go to ``_build/seeds/S/``, a failing
cell does not stop the chapter, and the end prints every cell that raised (an ``assert`` that
failed) and a table of chapter, seed and failures. It compares no outputs: it asks whether the
chapters' claims hold for another run, which is what a reader on another machine gets.

**Scheduling.** At most ``--cores`` chapters (default: all cores) run at once, each in its own
kernel. The next chapter to start is the first ready one in ``ORDER``, longest chain first. A
chapter that loads a shared model (``LOADS``) waits, before its first cell that calls
``load_or_train``, until the model is in the cache or the chapter that trains it (``TRAINS``)
has ended, so no model is trained twice at once; while it waits, another chapter takes its
core. Before each cell, every running chapter gets ``cores // running`` threads
(``torch.set_num_threads``): a chapter that runs alone uses every core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "_build"

# Longest chain first: chapter 5 (about 40 % of the book's time) trains the VAE that chapters 6 to
# 9 load; chapters 1 and 2 train the models chapter 6 also needs; then the rest, longest first.
ORDER = ["05_vae", "02_denoising_autoencoder", "01_autoencoder", "06_tsne", "07_black_box_vi",
         "08_prior_hole", "10_closing_the_gaps", "11_discrete_codes", "09_code_lengths", "03_elbo",
         "04_gradient_estimators"]
# The shared models (vaebook.pretrained recipes) each chapter trains, and those it loads.
TRAINS = {"01_autoencoder": ["chapter1_ae"], "02_denoising_autoencoder": ["chapter2_dae"],
          "05_vae": ["chapter5_vae", "digit_classifier"]}
LOADS = {"06_tsne": ["chapter1_ae", "chapter2_dae", "chapter5_vae"],
         "07_black_box_vi": ["chapter5_vae"], "08_prior_hole": ["chapter5_vae", "digit_classifier"],
         "09_code_lengths": ["chapter5_vae"], "10_closing_the_gaps": ["digit_classifier"],
         "11_discrete_codes": ["chapter5_vae"]}


class Chapter:
    """One chapter's execution: its notebook, its kernel, and where it stands."""

    def __init__(self, name: str, board: Board, keep_going: bool) -> None:
        self.name, self.board = name, board
        self.notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
        self.client = ThreadAwareClient(self, keep_going)
        self.seconds = 0.0
        self.failed: list[str] = []  # the cells that raised, as "cell N: last line of the error"

    async def run(self) -> None:
        start = time.perf_counter()
        try:
            await self.client.async_execute()
        except CellExecutionError as err:
            self.failed.append(str(err).strip().splitlines()[-1])
        self.seconds = time.perf_counter() - start
        self.failed += [f"cell {i}: {out['ename']}: {out['evalue'] or _assert_line(out)}"
                        for i, cell in enumerate(self.notebook.cells) if cell.cell_type == "code"
                        for out in cell.get("outputs", []) if out.get("output_type") == "error"]


class ThreadAwareClient(NotebookClient):
    """An nbclient that sets its kernel's thread count before each cell, and waits before the
    first cell that loads a shared model until that model can be loaded."""

    def __init__(self, chapter: Chapter, keep_going: bool) -> None:
        # record_timing=False keeps wall-clock timestamps out of the committed notebook.
        super().__init__(chapter.notebook, timeout=3600, kernel_name="python3", record_timing=False,
                         allow_errors=keep_going, resources={"metadata": {"path": str(NOTEBOOKS)}})
        self.chapter, self.threads, self.waited = chapter, 0, False

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        board = self.chapter.board
        if cell.cell_type == "code" and "load_or_train" in cell.source and not self.waited:
            self.waited = True
            await board.wait_for_models(self.chapter.name)
        threads = board.threads()
        if cell.cell_type == "code" and threads != self.threads:
            # Queued before the cell on the same kernel; silent, so it leaves no output. Before
            # the chapter imports torch, the variables set the count torch starts with (importing
            # torch here would cost a chapter that never uses it seconds).
            self.kc.execute(f"import os, sys\n"
                            f"os.environ['OMP_NUM_THREADS'] = os.environ['MKL_NUM_THREADS'] = '{threads}'\n"
                            f"if 'torch' in sys.modules: sys.modules['torch'].set_num_threads({threads})",
                            silent=True, store_history=False)
            self.threads = threads
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)


class Board:
    """What runs, what waits and what is done; hands out cores and threads."""

    def __init__(self, names: list[str], cores: int) -> None:
        self.cores, self.names = cores, set(names)
        self.waiting = [name for name in ORDER if name in names]
        self.running: set[str] = set()  # started, not ended, not waiting for a model
        self.blocked: set[str] = set()  # started, waiting for a model
        self.ended: set[str] = set()
        self.changed = asyncio.Event()

    def threads(self) -> int:
        return max(1, self.cores // max(1, len(self.running)))

    def _model_ready(self, model: str) -> bool:
        # Imported here: the cache folder depends on the environment the chapters run with.
        from vaebook.pretrained import checkpoint_path
        # A trainer that is not part of this run cannot be waited for: the chapter trains it.
        trainers = [name for name, models in TRAINS.items() if model in models and name in self.names]
        return checkpoint_path(model).is_file() or all(name in self.ended for name in trainers)

    async def wait_for_models(self, name: str) -> None:
        if all(self._model_ready(m) for m in LOADS.get(name, [])):
            return
        self.running.discard(name)
        self.blocked.add(name)
        self.changed.set()
        while not all(self._model_ready(m) for m in LOADS.get(name, [])):
            await asyncio.sleep(2)
        self.blocked.discard(name)
        self.running.add(name)

    def next_to_start(self) -> str | None:
        if len(self.running) >= self.cores:
            return None
        return self.waiting.pop(0) if self.waiting else None


async def run_all(names: list[str], cores: int, keep_going: bool) -> list[Chapter]:
    board = Board(names, cores)
    chapters: dict[str, Chapter] = {}
    tasks: dict[asyncio.Task, str] = {}
    start = time.perf_counter()
    while board.waiting or tasks:
        while (name := board.next_to_start()) is not None:
            print(f"[{time.perf_counter() - start:5.0f} s] start {name}", flush=True)
            chapters[name] = Chapter(name, board, keep_going)
            board.running.add(name)
            tasks[asyncio.create_task(chapters[name].run())] = name
        board.changed.clear()
        changed = asyncio.create_task(board.changed.wait())
        done, _ = await asyncio.wait([*tasks, changed], return_when=asyncio.FIRST_COMPLETED)
        changed.cancel()
        for task in done & tasks.keys():
            name = tasks.pop(task)
            board.running.discard(name)
            board.ended.add(name)
            task.result()
            chapter = chapters[name]
            status = f"{len(chapter.failed)} failing cells" if chapter.failed else "ok"
            print(f"[{time.perf_counter() - start:5.0f} s] {name} done in {chapter.seconds:.0f} s, "
                  f"{status}", flush=True)
            if chapter.failed and not keep_going:
                raise SystemExit(_store_failed(chapter))
            _store(chapter, keep_going)
    return [chapters[name] for name in names]


def _store(chapter: Chapter, keep_going: bool) -> None:
    """Keep each progress bar's final state only, as a reader would see it, and write the
    notebook: the committed one, or the seed check's copy."""
    notebook = chapter.notebook
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    if keep_going:
        target = BUILD / "seeds" / os.environ["VAEBOOK_SEED"] / f"{chapter.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
    else:
        target = NOTEBOOKS / f"{chapter.name}.ipynb"
        _keep_cell_ids(notebook, target)
    jupytext.write(notebook, target, fmt="ipynb")


def _store_failed(chapter: Chapter) -> str:
    target = BUILD / "failed" / f"{chapter.name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(chapter.notebook, target, fmt="ipynb")
    return (f"{chapter.name} failed ({chapter.failed[0]}); the committed notebook is unchanged, the "
            f"partly executed one is in {target}")


def _assert_line(out: dict) -> str:
    """The line of a bare ``assert`` that failed, from its traceback."""
    lines = [line for line in out.get("traceback", []) if "assert" in line]
    return _strip_ansi(lines[-1]).strip() if lines else "(no message)"


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="NN_name (or NN_name.py); default: all")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, help="check the asserts under VAEBOOK_SEED=SEED")
    args = parser.parse_args(argv)
    names = [Path(name).stem for name in args.chapters] or [p.stem for p in sorted(
        NOTEBOOKS.glob("[0-9][0-9]_*.py"))]
    unknown = sorted(set(names) - set(ORDER))
    if unknown:
        parser.error(f"no chapter {unknown}; add a new chapter to ORDER (and TRAINS/LOADS)")
    keep_going = args.seed is not None
    if keep_going:
        os.environ["VAEBOOK_SEED"] = str(args.seed)
        os.environ["VAEBOOK_CACHE"] = str(BUILD / "seeds" / str(args.seed) / "models")
    start = time.perf_counter()
    chapters = asyncio.run(run_all(names, args.cores, keep_going))
    print(f"\n{'chapter':28s} {'seconds':>7s}" + ("  seed  failing cells" if keep_going else ""))
    for chapter in chapters:
        extra = f"  {args.seed:4d}  {len(chapter.failed)}" if keep_going else ""
        print(f"{chapter.name:28s} {chapter.seconds:7.0f}{extra}")
    print(f"{'total (wall)':28s} {time.perf_counter() - start:7.0f}")
    for chapter in chapters:
        for failure in chapter.failed:
            print(f"  {chapter.name}: {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
