"""nbval with declared tolerances: numbers that come from training are compared within the
tolerance their cell states; everything else is compared exactly, as nbval does.

A code cell that contains the comment line

    # tolerance: rtol=0.01 atol=0.05

accepts each number of its fresh outputs when |fresh − stored| ≤ atol + rtol·|stored|. The text
around the numbers (words, punctuation, the number and kinds of outputs) must still match
exactly; only the width of runs of spaces may change, since a padded column moves when a number
gains a digit. Cells without the comment are compared exactly.

Usage (from the repository root, so that ``tools`` is importable)::

    python -m pytest -p tools.nbval_tolerance --nbval-tolerance [--nbval-deviations FILE] NB.ipynb

with any of nbval's own options (``--nbval-kernel-name``, ``--nbval-sanitize-with``). With
``--nbval-deviations`` the plugin also writes, for every cell whose numbers moved, the largest
relative deviation and the tolerance it declares, as JSON: the data for choosing a tolerance.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbval.plugin import IPyNbCell, IPyNbFile

# A number: optional sign (plus, ASCII or Unicode minus: a signed change may cross zero), digits
# with optional thousands commas, an optional fraction and exponent. Digits inside an identifier
# (L_1000, x2) stay text; a unit glued to the end (3.8s) does not stop the number.
NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
DECLARATION = re.compile(r"^\s*#\s*tolerance:\s*rtol=(\S+)\s+atol=(\S+)\s*$", re.M)
SPACES = re.compile(r"[ \t]+")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex")


@dataclass(frozen=True)
class Tolerance:
    """Accept a fresh number b against a stored number a when |b − a| ≤ atol + rtol·|a|."""

    rtol: float
    atol: float

    def accepts(self, stored: float, fresh: float) -> bool:
        return abs(fresh - stored) <= self.atol + self.rtol * abs(stored)


def declared_tolerance(source: str) -> Tolerance | None:
    """The tolerance a cell declares with a ``# tolerance: rtol=R atol=A`` line, or None."""
    found = DECLARATION.findall(source)
    if not found:
        if re.search(r"^\s*#\s*tolerance\b", source, re.M):
            raise ValueError(f"malformed tolerance comment; write '# tolerance: rtol=R atol=A':\n{source}")
        return None
    if len(found) > 1:
        raise ValueError(f"a cell declares its tolerance once, found {len(found)} lines:\n{source}")
    rtol, atol = (float(value) for value in found[0])
    if not (rtol >= 0 and atol >= 0):
        raise ValueError(f"tolerances must be >= 0, got rtol={rtol}, atol={atol}")
    return Tolerance(rtol, atol)


def _value(number: str) -> float:
    return float(number.replace(",", "").replace("−", "-"))


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """The text around the numbers (runs of spaces made single) and the numbers, in order."""
    return [SPACES.sub(" ", part) for part in NUMBER.split(text)], NUMBER.findall(text)


def relative_deviation(stored: float, fresh: float) -> float:
    if stored == fresh:
        return 0.0
    return abs(fresh - stored) / abs(stored) if stored else math.inf


def compare_text(stored: str, fresh: str, tolerance: Tolerance) -> tuple[bool, list[str], float]:
    """Whether ``fresh`` equals ``stored`` but for numbers within ``tolerance``; the reasons when
    not; and the largest relative deviation of any number (0 when no number moved)."""
    stored_text, stored_numbers = split_numbers(stored)
    fresh_text, fresh_numbers = split_numbers(fresh)
    if stored_text != fresh_text:
        return False, ["the text around the numbers changed"], math.inf
    reasons, largest = [], 0.0
    for a, b in zip(stored_numbers, fresh_numbers, strict=True):
        deviation = relative_deviation(_value(a), _value(b))
        largest = max(largest, deviation)
        if not tolerance.accepts(_value(a), _value(b)):
            reasons.append(f"{b} against stored {a}: off by {abs(_value(b) - _value(a)):.4g}, "
                           f"allowed {tolerance.atol + tolerance.rtol * abs(_value(a)):.4g}")
    return not reasons, reasons, largest


def _texts(output: dict) -> dict[tuple[str, ...], str]:
    """The comparable text fields of one output, by their path in the output."""
    if output.get("output_type") == "stream":
        return {("text",): output.get("text", "")}
    data = output.get("data", {})
    return {("data", mime): data[mime] for mime in TEXT_MIMES if isinstance(data.get(mime), str)}


def _set(output: dict, path: tuple[str, ...], value: str) -> None:
    for key in path[:-1]:
        output = output[key]
    output[path[-1]] = value


class ToleranceCell(IPyNbCell):
    """nbval's cell, with numbers compared within the tolerance the cell declares."""

    deviation = 0.0

    def compare_outputs(self, test, ref, skip_compare=None):
        tolerance = declared_tolerance(self.cell.source)
        # An exact cell is only measured (for --nbval-deviations); nbval compares it as it is.
        notes, accepted = self._accept_numbers(test, ref, tolerance or Tolerance(0.0, 0.0))
        same = super().compare_outputs(test if tolerance is None else accepted, ref, skip_compare)
        if not same and notes:
            self.comparison_traceback[:0] = [f"Numbers outside the declared tolerance {tolerance}:", *notes]
        return same

    def _accept_numbers(self, test, ref, tolerance: Tolerance):
        """A copy of the fresh outputs in which every text that matches its stored counterpart
        within the tolerance is replaced by the stored text, so that nbval's exact comparison
        passes it; other outputs are left for nbval to report."""
        notes, accepted = [], []
        for position, fresh in enumerate(test):
            fresh = json.loads(json.dumps(fresh))  # a deep copy as plain dicts
            stored = ref[position] if position < len(ref) else None
            if stored is not None and stored.get("output_type") == fresh.get("output_type"):
                stored_texts = _texts(stored)
                for path, text in _texts(fresh).items():
                    if path not in stored_texts:
                        continue
                    same, reasons, largest = compare_text(self.sanitize(stored_texts[path]),
                                                          self.sanitize(text), tolerance)
                    if math.isfinite(largest):
                        self.deviation = max(self.deviation, largest)
                    if same:
                        _set(fresh, path, stored_texts[path])
                    notes += reasons
            accepted.append(nbformat.from_dict(fresh))
        return notes, accepted


class ToleranceNotebook(IPyNbFile):
    """nbval's notebook collector, yielding cells that honour declared tolerances."""

    def collect(self):
        for cell in super().collect():
            yield ToleranceCell.from_parent(self, name=cell.name, cell_num=cell.cell_num,
                                            cell=cell.cell, options=cell.options)


def pytest_addoption(parser):
    group = parser.getgroup("nbval_tolerance", "nbval with declared tolerances")
    group.addoption("--nbval-tolerance", action="store_true",
                    help="Run notebooks with nbval, comparing numbers within each cell's declared "
                         "'# tolerance: rtol=R atol=A' (exactly where none is declared).")
    group.addoption("--nbval-deviations", metavar="FILE",
                    help="Write the largest relative deviation of every cell whose numbers moved to "
                         "FILE (JSON).")


def pytest_collect_file(file_path, parent):
    if parent.config.option.nbval_tolerance and file_path.suffix == ".ipynb":
        if parent.config.option.nbval or parent.config.option.nbval_lax:
            raise ValueError("use --nbval-tolerance instead of --nbval, not both")
        return ToleranceNotebook.from_parent(parent, path=file_path)
    return None


def pytest_sessionfinish(session):
    path = session.config.option.nbval_deviations
    if not path:
        return
    rows = [{"notebook": Path(str(item.fspath)).name, "cell": item.cell_num,
             "deviation": item.deviation, "tolerance": _declared(item)}
            for item in session.items if isinstance(item, ToleranceCell) and item.deviation > 0]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(rows, indent=1))


def _declared(cell: ToleranceCell) -> dict | None:
    tolerance = declared_tolerance(cell.cell.source)
    return None if tolerance is None else {"rtol": tolerance.rtol, "atol": tolerance.atol}
