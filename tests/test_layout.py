"""The package's import arrow points one way, as vaebook/__init__.py and the README say."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import vaebook

PACKAGE = Path(vaebook.__file__).parent


def _layers() -> list[list[str]]:
    """The arrow of the package docstring, ``a`` → ``b``, ``c`` → ..., as layers of module names."""
    arrow = " ".join(vaebook.__doc__.split("\n\n")[1].split())
    arrow = arrow[arrow.index("``checks``"):]
    return [re.findall(r"``(\w+)``", layer) for layer in arrow.split("→")]


def test_every_module_is_in_the_arrow_once():
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert sorted(sum(_layers(), [])) == modules


def test_each_module_imports_only_modules_before_it():
    rank = {name: i for i, layer in enumerate(_layers()) for name in layer}
    for name, level in rank.items():
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        imported = {node.module.split(".")[1] for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vaebook.")}
        assert all(rank[other] < level for other in imported), (name, imported)
        assert ast.get_docstring(tree), f"{name} has no docstring naming its job"
