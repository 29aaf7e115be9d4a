"""The output comparison of CI (tools/nbval_tolerance.py): numbers within a cell's declared
tolerance pass, everything else must match exactly. The end-to-end tests run real notebooks
through nbval and a kernel."""

from __future__ import annotations

import json

import nbformat
import pytest

from tools.nbval_tolerance import Tolerance, compare_text, declared_tolerance

pytest_plugins = ["pytester"]
DECLARED = "# tolerance: rtol=0.002 atol=0\n"


def test_declared_tolerance_is_read_from_the_comment():
    assert declared_tolerance("x = 1\n# tolerance: rtol=0.02 atol=0.5\nprint(x)") == Tolerance(0.02, 0.5)
    assert declared_tolerance("print(1)") is None


@pytest.mark.parametrize("source", ["# tolerance: 2%\n", "# tolerance: rtol=-1 atol=0\n",
                                    DECLARED + DECLARED])
def test_a_malformed_or_repeated_declaration_is_an_error(source):
    with pytest.raises(ValueError, match="tolerance"):
        declared_tolerance(source)


def test_numbers_within_the_tolerance_pass_and_the_largest_deviation_is_reported():
    same, reasons, largest = compare_text("NLL 89.72 ± 0.51 nats", "NLL 89.65 ± 0.51 nats",
                                          Tolerance(0.002, 0))
    assert same and not reasons and largest == pytest.approx(0.07 / 89.72)


def test_a_number_outside_the_tolerance_fails_with_its_deviation():
    same, reasons, _ = compare_text("NLL 89.72 nats", "NLL 95.0 nats", Tolerance(0.002, 0))
    assert not same and "95.0 against stored 89.72" in reasons[0]


@pytest.mark.parametrize("fresh", ["NLL 89.72 bits", "NLL 89.72", "NLL 89.72 nats 3"])
def test_changed_words_and_added_or_missing_numbers_fail(fresh):
    assert not compare_text("NLL 89.72 nats", fresh, Tolerance(0.5, 10))[0]


def test_padding_may_change_width_but_identifiers_are_text():
    assert compare_text("L_10   =  -9.99", "L_10   = -10.01", Tolerance(0.01, 0))[0]
    assert not compare_text("L_10 = 1.0", "L_11 = 1.0", Tolerance(0.5, 10))[0]
    assert compare_text("a 12,000-image set", "a 12,010-image set", Tolerance(0.001, 0))[0]


def test_a_signed_change_may_cross_zero():
    assert compare_text("change -0.002 (SE 0.022)", "change +0.010 (SE 0.021)", Tolerance(0, 0.05))[0]
    assert not compare_text("change -0.002", "change +0.090", Tolerance(0, 0.05))[0]
    assert compare_text("x+2 = 3", "x+2 = 3", Tolerance(0, 0))[0]
    assert not compare_text("x+2 = 3", "x+3 = 3", Tolerance(0, 0))[0]


def _stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


STORED = [_stream("NLL 89.72 nats\n")]
# One notebook, one kernel: each cell is a case, and nbval reports each cell as its own test.
CASES = {  # name: (source, stored outputs, whether nbval must pass the cell)
    "within the tolerance": (DECLARED + 'print("NLL 89.65 nats")', STORED, True),
    "a number too far": (DECLARED + 'print("NLL 95.0 nats")', STORED, False),
    "a changed word": (DECLARED + 'print("NLL 89.72 bits")', STORED, False),
    "no tolerance: exact": ('print("NLL 89.65 nats")', STORED, False),
    "a missing output": (DECLARED + 'print("NLL 89.72 nats")',
                         [*STORED, {"output_type": "execute_result", "execution_count": 1,
                                    "metadata": {}, "data": {"text/plain": "89.72"}}], False),
    "an extra output": (DECLARED + 'print("NLL 89.72 nats")\n89.72', STORED, False),
}


@pytest.fixture(autouse=True)
def _importable_tools(monkeypatch):
    """The subprocess imports tools.nbval_tolerance from the repository root."""
    from pathlib import Path

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))


def test_a_notebook_passes_only_the_cells_within_their_declared_tolerance(pytester):
    cells = [nbformat.v4.new_code_cell(source, execution_count=i + 1,
                                       outputs=[nbformat.from_dict(o) for o in stored])
             for i, (source, stored, _) in enumerate(CASES.values())]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), pytester.path / "chapter.ipynb")
    report = pytester.path / "deviations.json"
    result = pytester.runpytest_subprocess(
        "-p", "tools.nbval_tolerance", "--nbval-tolerance", "--nbval-current-env",
        f"--nbval-deviations={report}", "-v", "chapter.ipynb")
    for i, (name, (_, _, passes)) in enumerate(CASES.items()):
        verdict = "PASSED" if passes else "FAILED"
        assert any(f"::Cell {i} {verdict}" in line for line in result.outlines), (name, verdict)
    result.assert_outcomes(passed=1, failed=len(CASES) - 1)
    within = [d for d in json.loads(report.read_text()) if d["cell"] == 0]
    assert within[0]["deviation"] == pytest.approx(0.07 / 89.72)
    assert within[0]["tolerance"] == {"rtol": 0.002, "atol": 0.0}
