"""The conda route (environment.yml) installs what the venv route (pyproject.toml with
constraints.txt) installs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
ENVIRONMENT = yaml.safe_load((ROOT / "environment.yml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _conda_and_pip():
    conda = [d for d in ENVIRONMENT["dependencies"] if isinstance(d, str)]
    (pip,) = [d["pip"] for d in ENVIRONMENT["dependencies"] if isinstance(d, dict)]
    return conda, pip


def test_conda_python_is_the_oldest_python_pyproject_allows():
    conda, _ = _conda_and_pip()
    (python,) = [d for d in conda if d.startswith("python")]
    assert PYPROJECT["requires-python"] == ">=" + python.removeprefix("python=")


def test_conda_installs_vaebook_with_every_extra_under_the_same_constraints():
    conda, pip = _conda_and_pip()
    assert "-c constraints.txt" in pip
    (editable,) = [line for line in pip if line.startswith("-e")]
    extras = re.fullmatch(r"-e \.\[(.*)\]", editable).group(1).split(",")
    assert sorted(extras) == sorted(PYPROJECT["optional-dependencies"])
    assert "pip" in conda and any(d.startswith("nodejs") for d in conda)  # npm builds the book


def test_every_dependency_is_pinned_in_constraints():
    # both routes install through constraints.txt, so a pin there means the same version in both
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    wanted = PYPROJECT["dependencies"] + sum(PYPROJECT["optional-dependencies"].values(), [])
    assert {_name(r) for r in wanted} <= pinned
