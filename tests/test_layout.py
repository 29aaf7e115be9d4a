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
        imported = _vaebook_imports(tree, set(rank))
        assert all(rank[other] < level for other in imported), (name, imported)
        assert ast.get_docstring(tree), f"{name} has no docstring naming its job"


def _vaebook_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """The vaebook modules a module imports, in every form: ``import vaebook.a``, ``import
    vaebook.a as b``, ``from vaebook.a import f``, ``from vaebook import a``, and the relative
    ``from . import a`` and ``from .a import f``."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names
                      if alias.name.startswith("vaebook.")}
        elif isinstance(node, ast.ImportFrom):
            package = node.module or ""
            if node.level == 0 and not (package == "vaebook" or package.startswith("vaebook.")):
                continue
            inside = package.removeprefix("vaebook").lstrip(".")
            if inside:
                found.add(inside.split(".")[0])
            else:  # from vaebook import a, b / from . import a
                found |= {alias.name for alias in node.names if alias.name in modules}
    return found


def test_every_import_form_is_read():
    forms = """
import vaebook.training
import vaebook.plots as p
from vaebook.models import VAE
from vaebook import analysis, checks
from . import likelihood
from .data import load_mnist
import torch
from torch import nn
"""
    found = _vaebook_imports(ast.parse(forms), {name for layer in _layers() for name in layer})
    assert found == {"training", "plots", "models", "analysis", "checks", "likelihood", "data"}
