"""Point every reader-facing link at the release that matches the book.

The one place that says where vaebook lives and which release the book shows is
``pyproject.toml``: ``Repository = "..."`` and ``version = "X.Y.Z"``; the release is the git tag
``vX.Y.Z``. This script writes that into
- each chapter's install cell (``%pip install "vaebook @ git+<repository>@vX.Y.Z"``), in the
  notebook and its jupytext twin alike;
- the README's "Open in Colab" links (``.../blob/vX.Y.Z/notebooks/...``);
- ``book/_config.yml``'s ``repository.branch``, from which the book's Colab buttons are made.

Run it after changing the version, then tag the commit the book is built from::

    python tools/pin_install.py && git commit -am "Release X.Y.Z" && git tag vX.Y.Z

``tests/test_notebooks.py`` fails when a chapter, the README or the book points elsewhere.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def repository_and_ref() -> tuple[str, str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    repository = re.search(r'^Repository = "(.+)"$', text, re.M).group(1)
    version = re.search(r'^version = "(.+)"$', text, re.M).group(1)
    return repository, f"v{version}"


def pinned_texts() -> dict[Path, str]:
    """Every file that names the release, with its text as it should be."""
    repository, ref = repository_and_ref()
    slug = repository.removeprefix("https://github.com/")
    rules = [
        # The ref ends at a quote, or at the backslash before an escaped quote in a notebook's JSON.
        (re.compile(rf'(vaebook @ git\+{re.escape(repository)})@[^"\\\s]+'), rf"\1@{ref}"),
        (re.compile(rf"(colab\.research\.google\.com/github/{re.escape(slug)}/blob/)[^/\s]+/"),
         rf"\g<1>{ref}/"),
        (re.compile(r"(?m)^(  branch: ).*$"), rf"\g<1>{ref}"),
    ]
    files = [*sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.*")), ROOT / "README.md",
             ROOT / "book" / "_config.yml"]
    texts = {}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        texts[path] = text
    return texts


def main() -> int:
    changed = []
    for path, text in pinned_texts().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    _, ref = repository_and_ref()
    names = ", ".join(path.relative_to(ROOT).as_posix() for path in changed)
    print(f"pinned to {ref}: {names or 'nothing to change'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
