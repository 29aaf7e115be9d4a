"""Tabulate how far the chapters' numbers moved under different CPU settings.

Each run of ``make notebooks`` leaves ``_build/deviations/<chapter>.json`` (see
tools/nbval_tolerance.py): for every cell whose numbers moved, the largest relative deviation
from the stored outputs and the tolerance the cell declares. Copy that folder once per setting,
e.g. ``_build/deviations-default``, then::

    python tools/deviation_table.py native=_build/deviations default=_build/deviations-default

prints, per chapter and setting, the largest relative deviation of any compared number (and
how many cells moved), and the tolerances the chapter declares.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load(folder: Path) -> dict[str, list[dict]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def declared(chapter: str) -> str:
    """The distinct '# tolerance:' declarations of a chapter's text twin."""
    text = (ROOT / "notebooks" / f"{chapter}.py").read_text(encoding="utf-8")
    found = sorted({line.split(":", 1)[1].strip() for line in text.splitlines()
                    if line.startswith("# tolerance:")})
    return "; ".join(found) or "none (exact)"


def main(arguments: list[str]) -> None:
    runs = {name: load(Path(folder)) for name, folder in (a.split("=", 1) for a in arguments)}
    chapters = sorted({chapter for run in runs.values() for chapter in run})
    print("| chapter | " + " | ".join(runs) + " | declared tolerances |")
    print("| --- " * (len(runs) + 2) + "|")
    for chapter in chapters:
        cells = []
        for run in runs.values():
            rows = run.get(chapter, [])
            largest = max((row["deviation"] for row in rows), default=0.0)
            cells.append(f"{largest:.2e} ({len(rows)} cells)" if rows else "0")
        print(f"| {chapter} | " + " | ".join(cells) + f" | {declared(chapter)} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
