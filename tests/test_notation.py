"""One symbol, one meaning: the chapters' math uses only the symbols that book/notation.md lists.

The check reads the LaTeX ($...$ and $$...$$) in the markdown cells of each notebooks/NN_name.py
and extracts its symbols: single Latin and Greek letters, with a decoration (\\hat, \\bar, \\tilde,
\\mathcal, ...) or a star (q^\\star) making a distinct symbol. Subscripts and superscripts count,
except text in \\text{}, \\mathrm{} and \\operatorname{}; operators (\\log, \\mathbb E, \\mathrm{KL})
and an integral's differential (the d of dz) are not symbols. book/notation.md lists each symbol in
one row, with its meaning and the chapters that use it (1, 3–5, 7); a chapter fails the check when it
uses a symbol that the table does not list, or that the table does not give to that chapter, and
the table fails it when it gives a symbol to a chapter that does not use it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTATION = ROOT / "book" / "notation.md"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))

GREEK = set("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu
nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta Theta
Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell""".split())
DECORATIONS = {"hat", "widehat", "bar", "overline", "tilde", "widetilde", "mathcal", "check", "dot",
               "vec", "mathbf", "boldsymbol"}
SKIP_ARGUMENT = {"text", "mathrm", "operatorname", "operatorname*", "mathbb", "textbf", "textit",
                 "mbox", "begin", "end"}  # their argument is words, an operator or a set, not a symbol
IGNORED = set("""log exp ln sin cos tanh det min max sum prod int nabla partial infty mid top perp
frac tfrac dfrac sqrt big Big bigg Bigg bigl bigr Bigl Bigr left right quad qquad cdot cdots dots
ldots times odot sim approx propto le leq ge geq ne neq in notin to mapsto iff implies Longrightarrow
Rightarrow ll gg Vert lVert rVert vert lvert rvert langle rangle underbrace overbrace star prime
square textstyle displaystyle equiv subset setminus cup cap forall exists pm arg""".split())
STARS = {"*", r"\star"}

TOKEN = re.compile(r"\\[A-Za-z]+\*?|\\.|[A-Za-z]|\S", re.S)
MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)
DIFFERENTIAL = re.compile(  # the d of dz, d\tilde x and d/d\ell
    r"(?<=frac\{)d(?=[}^])|(?<=[\s{,])d(?=[A-Za-z^]|\\[A-Za-z]| \\(?:tilde|hat|bar)\b)")


def symbols(latex: str) -> list[str]:
    """The symbols in a LaTeX formula, in order, each as LaTeX: 'x', r'\\hat{x}', r'q^\\star'."""
    found, _ = _parse(TOKEN.findall(DIFFERENTIAL.sub(" ", latex)), 0, top=True)
    return found


def _parse(tokens: list[str], i: int, top: bool = False) -> tuple[list[str], int]:
    """Symbols from tokens[i:] up to the brace that closes this group; returns them and the index after it."""
    found: list[str] = []
    while i < len(tokens) and (top or tokens[i] != "}"):
        token, i = tokens[i], i + 1
        name = token[1:]
        if token == "{":
            inner, i = _parse(tokens, i)
            found += inner
        elif token == "^" and found and i < len(tokens) and _argument(tokens, i)[0] in STARS:
            found[-1] += r"^\star"
            i = _argument(tokens, i)[1]
        elif re.fullmatch(r"[A-Za-z]", token):
            found.append(token)
        elif name in GREEK:
            found.append(token)
        elif name in DECORATIONS:
            argument, i = _argument(tokens, i)
            found += [f"\\{name}{{{symbol}}}" for symbol in symbols(argument)]
        elif name in SKIP_ARGUMENT:
            i = _argument(tokens, i)[1]
        elif token.startswith("\\") and name.isalpha() and name not in IGNORED:
            raise ValueError(f"unknown LaTeX command {token} in the math: add it to GREEK, "
                             "DECORATIONS, SKIP_ARGUMENT or IGNORED in tests/test_notation.py")
    return found, i + 1


def _argument(tokens: list[str], i: int) -> tuple[str, int]:
    """The LaTeX of the argument at tokens[i] (a braced group or one token) and the index after it."""
    if i == len(tokens):
        return "", i
    if tokens[i] != "{":
        return tokens[i], i + 1
    depth, j = 1, i + 1
    while depth:
        depth += {"{": 1, "}": -1}.get(tokens[j], 0)
        j += 1
    return " ".join(tokens[i + 1:j - 1]), j


def markdown_math(path: Path) -> list[tuple[int, str]]:
    """(line number in the file, LaTeX) of every formula in the markdown cells of a jupytext .py."""
    formulas, lines, cell = [], path.read_text(encoding="utf-8").splitlines(), None
    for number, line in enumerate(lines + ["# %%"], 1):
        if line.startswith("# %%"):
            if cell:
                formulas += _formulas(cell)
            cell = [] if line.startswith("# %% [markdown]") else None
        elif cell is not None:
            cell.append((number, re.sub(r"^# ?", "", line)))
    return formulas


def _formulas(cell: list[tuple[int, str]]) -> list[tuple[int, str]]:
    text = "\n".join(line for _, line in cell)
    text = re.sub(r"`[^`\n]*`", lambda m: " " * len(m.group()), text)  # code spans are not math
    if "$" in MATH.sub("", text):
        raise ValueError(f"an unpaired $ in the markdown cell that starts at line {cell[0][0]}")
    return [(cell[text.count("\n", 0, m.start())][0], m.group(1) or m.group(2))
            for m in MATH.finditer(text)]


def chapter_number(path: Path) -> int:
    return int(path.name[:2])


def notation_table(text: str) -> dict[str, tuple[set[int], str]]:
    """{symbol: (chapters that use it, meaning)} from the rows of book/notation.md's table."""
    table: dict[str, tuple[set[int], str]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) != 3 or not cells[0].startswith("$"):
            continue  # not a row of the table, or its header
        found = symbols(cells[0])
        assert len(found) == 1 and cells[0].count("$") == 2, \
            f"notation.md line {number}: the symbol column holds one bare symbol, e.g. $\\hat x$"
        assert found[0] not in table, f"notation.md line {number}: {found[0]} has a second row; " \
            "one symbol, one meaning: give it one row, or rename it in the chapter that uses it differently"
        assert re.fullmatch(r"\d+(–\d+)?(, \d+(–\d+)?)*", cells[2]), \
            f"notation.md line {number}: the chapters column reads like 1, 3–5, 7"
        table[found[0]] = (_chapters(cells[2]), cells[1])
    return table


def _chapters(cell: str) -> set[int]:
    """{1, 3, 4, 5, 7} from '1, 3–5, 7'."""
    bounds = [[int(n) for n in part.split("–")] for part in cell.split(", ")]
    return {n for b in bounds for n in range(b[0], b[-1] + 1)}


def offences(path: Path, table: dict[str, tuple[set[int], str]]) -> list[str]:
    """What a chapter's markdown math does against the table: unlisted symbols, and symbols that the
    table gives only to other chapters (with another meaning, or not yet introduced)."""
    chapter, found = chapter_number(path), []
    for line, formula in markdown_math(path):
        for symbol in dict.fromkeys(symbols(formula)):
            where = f"{path.name}:{line}: ${' '.join(formula.split())}$ uses {symbol}"
            if symbol not in table:
                found.append(f"{where}, which book/notation.md does not list")
            elif chapter not in table[symbol][0]:
                found.append(f"{where}, which book/notation.md gives chapters "
                             f"{sorted(table[symbol][0])} as: {table[symbol][1][:80]}")
    return found


HOW_TO_FIX = ("\nA symbol the table does not list: add a row to book/notation.md (symbol | meaning | the "
              "chapters that use it). A symbol the table gives to other chapters: if it means here what "
              "its row says, add this chapter to the row; if it means something else, rename it in the "
              "chapter with a symbol that the table reserves for nothing else.")


@pytest.fixture(scope="module")
def table() -> dict[str, tuple[set[int], str]]:
    return notation_table(NOTATION.read_text(encoding="utf-8"))


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks/NN_name.py found"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_uses_only_the_symbols_of_the_notation_table(chapter, table):
    assert len(markdown_math(chapter)) > 20, "the check finds (almost) no math in the markdown cells"
    found = offences(chapter, table)
    assert not found, "\n".join(found) + HOW_TO_FIX


def test_the_table_gives_a_symbol_only_to_chapters_that_use_it(table):
    used = {chapter_number(chapter): {symbol for _, formula in markdown_math(chapter)
                                      for symbol in symbols(formula)} for chapter in CHAPTERS}
    stale = [f"{symbol}: chapter {chapter}" for symbol, (chapters, _) in table.items()
             for chapter in sorted(chapters) if symbol not in used.get(chapter, ())]
    assert not stale, "book/notation.md lists chapters that do not use the symbol; remove them " \
        "from its row (and the row, when no chapter is left):\n" + "\n".join(stale)


def test_the_notation_page_itself_uses_only_listed_symbols(table):
    text = NOTATION.read_text(encoding="utf-8")
    unlisted = {symbol for formula in MATH.findall(text) for symbol in symbols("".join(formula))}
    assert not unlisted - set(table), sorted(unlisted - set(table))


@pytest.mark.parametrize(("latex", "expected"), [
    (r"q_\phi(z \mid x)", ["q", r"\phi", "z", "x"]),
    (r"\hat{\mathcal L} = \frac1S \sum_s \hat g_s", [r"\hat{\mathcal{L}}", "S", "s", r"\hat{g}", "s"]),
    (r"\mathcal L[q^\star] \le \log \mathbb E_q[w^{\star}]", [r"\mathcal{L}", r"q^\star", "q", r"w^\star"]),
    (r"\mu_{\text{post}} + \operatorname{tr}(A) - \mathrm{KL}", [r"\mu", "A"]),
    (r"\int p(z)\, dz + \tfrac{d^2}{dt^2} + \frac{d}{d\tilde x} + \sum_d x_d",  # no differentials
     ["p", "z", "z", "t", r"\tilde{x}", "d", "x", "d"]),
    (r"e^{\mathrm i t z} \bar r_j", ["e", "t", "z", r"\bar{r}", "j"]),
])
def test_symbols_are_letters_with_their_decorations(latex, expected):
    assert symbols(latex) == expected


def test_an_unknown_command_is_an_error_not_a_silent_pass():
    with pytest.raises(ValueError, match=r"\\widecheck"):
        symbols(r"\widecheck x")


def test_a_chapter_with_a_stray_symbol_fails(tmp_path, table):
    """The control: a chapter that uses an unlisted symbol and one before its chapter must fail."""
    chapter = tmp_path / "01_control.py"
    chapter.write_text("# %% [markdown]\n# # 1. Control\n#\n# With $x$ and `$code$`, a stray\n"
                       "# $\\Xi$ and a score $u = \\partial \\log q / \\partial \\lambda$.\n\n"
                       "# %%\nu = 1  # $\\Omega$ in a code cell is not markdown\n", encoding="utf-8")
    found = offences(chapter, table)
    assert len(found) == 3, found
    assert found[0] == r"01_control.py:5: $\Xi$ uses \Xi, which book/notation.md does not list"
    assert found[1].startswith(r"01_control.py:5: $u = \partial \log q / \partial \lambda$ uses u, "
                               "which book/notation.md gives chapters [4, 7, 11] as: a score")
    assert r"uses \lambda, which book/notation.md gives chapters [3, 4, 7, 10, 11]" in found[2]
    later = chapter.rename(tmp_path / "04_control.py")  # in chapter 4, u and lambda are known
    assert offences(later, table) == [found[0].replace("01_control", "04_control")]


def test_a_second_row_for_a_symbol_fails():
    assert notation_table("| $v$ | a position | 6, 7–8 |\n") == {"v": ({6, 7, 8}, "a position")}
    with pytest.raises(AssertionError, match="second row"):
        notation_table("| $v$ | a position | 6 |\n| $v$ | a variance | 8 |\n")
