"""Static checks of the chapters; nbval (``make notebooks``) re-executes them."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.compare import NotebookDifference, compare_notebooks

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REPOSITORY = re.search(r'^Repository = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks/NN_name.ipynb found"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_and_its_text_twin_are_in_sync(notebook):
    twin = notebook.with_suffix(".py")
    assert twin.is_file(), f"{notebook.name} has no jupytext twin {twin.name}"
    try:  # compares the cells' types, sources and metadata, as `jupytext --test` does
        compare_notebooks(jupytext.read(twin), jupytext.read(notebook), fmt="py:percent")
    except NotebookDifference as difference:
        pytest.fail(f"{notebook.name} and {twin.name} differ: re-execute from the text with "
                    f"`python tools/run_chapters.py {twin.name}` (or `jupytext --sync`).\n{difference}")


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_notebook_is_committed_executed_without_errors_or_warnings(notebook):
    nb = nbformat.read(notebook, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code), "some code cells were not run"
    outputs = [out for cell in code for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    stderr = "".join(out.text for out in outputs if out.get("name") == "stderr")
    assert "Warning" not in stderr
    assert any(re.match(r"\s*assert\b", line) for cell in code for line in cell.source.splitlines())


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_first_code_cell_installs_vaebook_from_the_repository(notebook):
    nb = nbformat.read(notebook, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code").source
    assert "import vaebook" in first and f"vaebook @ git+{REPOSITORY}@" in first


def test_chapters_readme_and_book_point_at_the_release_named_in_pyproject(pin_install):
    repository, ref = pin_install.repository_and_ref()
    assert repository == REPOSITORY and re.fullmatch(r"v\d+\.\d+\.\d+", ref)
    stale = [path.relative_to(ROOT).as_posix() for path, text in pin_install.pinned_texts().items()
             if path.read_text(encoding="utf-8") != text]
    assert not stale, f"{stale} do not point at {ref}: run `python tools/pin_install.py`"
    readme, config = (ROOT / "README.md").read_text(), (ROOT / "book" / "_config.yml").read_text()
    colab = "https://colab.research.google.com/github/" + REPOSITORY.removeprefix("https://github.com/")
    for notebook in CHAPTERS:
        assert f"{colab}/blob/{ref}/notebooks/{notebook.name}" in readme
        first = next(cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code")
        assert f'"vaebook @ git+{REPOSITORY}@{ref}"' in first.source
    assert f"url: {REPOSITORY}\n  branch: {ref}\n" in config


def _bib_entries() -> dict[str, str]:
    text = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    return {m.group(1): m.group(2) for m in re.finditer(r"@\w+\{([\w-]+),(.*?)\n\}", text, re.S)}


def test_every_bibliography_entry_links_to_the_paper():
    for key, body in _bib_entries().items():
        assert re.search(r"\b(doi|url)\s*=", body), f"{key} has neither a doi nor a url"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_reference_of_a_chapter_cites_the_bibliography(notebook):
    text = notebook.with_suffix(".py").read_text(encoding="utf-8")
    references = text.split("# ## References\n", 1)[1]
    items = re.split(r"(?m)^# - ", references)[1:]
    assert items, f"{notebook.name} lists no references"
    entries = _bib_entries()
    for item in items:
        keys = re.findall(r"\{cite\}`([\w-]+)`", item)
        assert len(keys) == 1 and keys[0] in entries, \
            f"{notebook.name}: {item[:60]!r} needs one {{cite}} key from book/references.bib"


IGNORE_MARKERS = ("nbval-ignore-output", "nbval-skip", "NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP")


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_only_the_install_cell_is_exempt_from_output_comparison(notebook):
    code = [cell for cell in nbformat.read(notebook, as_version=4).cells if cell.cell_type == "code"]
    exempt = [i for i, cell in enumerate(code)
              if set(cell.metadata.get("tags", [])) & set(IGNORE_MARKERS)
              or any(marker in cell.source for marker in IGNORE_MARKERS)]
    assert exempt == [0], f"cells {exempt} skip the output comparison; only the install cell may"
    statements = [line for line in code[0].source.splitlines() if not line.lstrip().startswith("#")]
    assert "%pip install" in code[0].source and len(statements) == 5, "the install cell only installs"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_every_declared_tolerance_parses(notebook):
    from tools.nbval_tolerance import declared_tolerance

    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "code":
            declared_tolerance(cell.source)  # raises on a malformed or repeated declaration


PAGE_WIDTH = 78  # characters of code a cell shows at the book's page width


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_code_fits_the_page(notebook):
    too_wide = [line for cell in nbformat.read(notebook, as_version=4).cells
                if cell.cell_type == "code" for line in cell.source.splitlines()
                if len(line) > PAGE_WIDTH]
    assert not too_wide, f"{len(too_wide)} code lines are wider than {PAGE_WIDTH}: {too_wide[:3]}"


def _sections(notebook) -> dict[str, list]:
    """The chapter's cells grouped under their level-2 headings."""
    sections, current = {}, None
    for cell in nbformat.read(notebook, as_version=4).cells:
        heading = re.match(r"## (\w+)", cell.source) if cell.cell_type == "markdown" else None
        if heading:
            current = heading.group(1)
        sections.setdefault(current, []).append(cell)
    return sections


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_have_hints_and_collapsed_worked_solutions_that_assert(notebook):
    sections = _sections(notebook)
    assert {"Exercises", "Solutions", "References"} <= set(sections), list(sections)
    exercises = "\n".join(cell.source for cell in sections["Exercises"])
    items = re.split(r"(?m)^(\d+)\. ", exercises)[1:]
    numbers = [int(n) for n in items[::2]]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 3, numbers
    assert all("*Hint:*" in text for text in items[1::2]), "every exercise has a *Hint:*"
    solutions = sections["Solutions"]
    text = "\n".join(cell.source for cell in solutions if cell.cell_type == "markdown")
    for n in numbers:
        assert f"### Solution {n}\n" in text + "\n", f"no '### Solution {n}' heading"
    dropdowns = re.findall(r"(?m)^:::\{dropdown\}", text)
    assert len(dropdowns) >= len(numbers), "each written solution sits in a :::{dropdown}"
    code = [cell for cell in solutions if cell.cell_type == "code"]
    assert any(re.search(r"(?m)^\s*assert\b", cell.source) for cell in code), \
        "at least one solution is computed, and asserts its answer"
    assert all("hide-cell" in cell.metadata.get("tags", []) for cell in code), \
        "solution code cells are collapsed in the book (tag hide-cell)"
