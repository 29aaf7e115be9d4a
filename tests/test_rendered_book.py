"""The rendered book, as a reader's browser shows it: headless Chromium opens every chapter page
from a local web server and we check its title, rendered math, figures and console, and that
no display equation is wider than the text column of a 1280-pixel window.

Needs the built book (`make html`) and Debian's `chromium`. Skipped when either is missing,
unless VAEBOOK_REQUIRE_BOOK=1 (as `make test` sets it), which turns the skip into a failure.
A screenshot of every chapter is kept in _build/screenshots/.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("VAEBOOK_REQUIRE_BOOK") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server():
    _require((HTML / "index.html").is_file(), "the book is not built: run `make html`")
    _require(CHROMIUM is not None, "no chromium: install Debian's `chromium` package")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output for failures
        pass

    def do_GET(self):
        """A page asked for with ?measure gets _MEASURE_SCRIPT before </body>."""
        if not self.path.endswith("?measure"):
            return super().do_GET()
        page = Path(self.translate_path(self.path.removesuffix("?measure")))
        body = page.read_bytes().replace(b"</body>", _MEASURE_SCRIPT.encode() + b"</body>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# Once MathJax has typeset the page, every display equation whose rendered width exceeds the
# width of the box it sits in (the text column) is listed, by the start of its TeX source, in the
# body's data-wide-equations attribute, which --dump-dom then shows.
_MEASURE_SCRIPT = """<script>
(function measure() {
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    return setTimeout(measure, 200);
  }
  MathJax.startup.promise.then(() => {
    const wide = [];
    for (const item of MathJax.startup.document.math) {
      const root = item.typesetRoot;
      const math = root && root.querySelector("mjx-math");
      if (!item.display || !math) continue;
      const column = root.parentElement.getBoundingClientRect().width;
      const width = math.getBoundingClientRect().width;
      if (width > column + 1) {
        wide.push(Math.round(width) + ">" + Math.round(column) + ": "
                  + item.math.trim().slice(0, 60));
      }
    }
    document.body.setAttribute("data-wide-equations", JSON.stringify(wide));
  });
})();
</script>"""


def _chromium(*args: str) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-extensions", "--enable-logging=stderr", "--v=0",
               "--virtual-time-budget=20000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


_PAGES: dict[str, subprocess.CompletedProcess] = {}


def _page(server: str, notebook: Path) -> subprocess.CompletedProcess:
    """The chapter's DOM after MathJax, at a 1280-pixel window, with the equation-measuring script
    run (``?measure``), and its screenshot in SCREENSHOTS; loaded once, by one Chromium start
    (about 4 s), and shared by the tests of the page."""
    url = f"{server}/notebooks/{notebook.stem}.html?measure"
    if url not in _PAGES:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _PAGES[url] = _chromium("--dump-dom", "--window-size=1280,1800",
                                f"--screenshot={SCREENSHOTS / f'{notebook.stem}.png'}", url)
    return _PAGES[url]


def _title(notebook: Path) -> str:
    source = notebook.with_suffix(".py").read_text(encoding="utf-8")
    return re.search(r"^# # (.+)$", source, re.M).group(1)


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_renders_title_math_and_figures_without_console_errors(server, notebook):
    url = f"{server}/notebooks/{notebook.stem}.html"
    page = _page(server, notebook)
    dom = page.stdout
    text = html.unescape(re.sub(r"<[^>]+>", "", dom))
    # Sphinx typesets straight quotes as curly ones
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    assert _title(notebook) in text, f"title missing from {url}"
    assert "<mjx-container" in dom, f"no math rendered by MathJax on {url}"
    images = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    assert any(src.startswith("../_images/") or src.startswith("data:image") for src in images), \
        f"no figure on {url}"
    for src in images:
        if src.startswith("../"):
            assert (HTML / src[3:]).is_file(), f"{url} shows a missing image {src}"
    errors = [line for line in page.stderr.splitlines()
              if "CONSOLE" in line and re.search(r"error|uncaught|failed", line, re.I)]
    assert not errors, f"console errors on {url}: {errors}"
    shot = SCREENSHOTS / f"{notebook.stem}.png"  # taken with the DOM, by _page
    assert shot.is_file() and shot.stat().st_size > 10_000, f"no screenshot of {url}"


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_display_equations_fit_the_column_of_a_1280_pixel_window(server, notebook):
    url = f"{server}/notebooks/{notebook.stem}.html?measure"
    dom = _page(server, notebook).stdout
    found = re.search(r'data-wide-equations="([^"]*)"', dom)
    assert found, f"the measuring script did not finish on {url}"
    wide = json.loads(html.unescape(found.group(1)))
    assert not wide, (f"{len(wide)} display equations on {url} are wider than the column "
                      f"(width>column in px: TeX); break them over lines: {wide}")


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_links_to_colab_at_the_release_and_to_its_notebook(notebook, pin_install):
    _require((HTML / "index.html").is_file(), "the book is not built: run `make html`")
    repository, ref = pin_install.repository_and_ref()
    slug = repository.removeprefix("https://github.com/")
    page = (HTML / "notebooks" / f"{notebook.stem}.html").read_text(encoding="utf-8")
    colab = f'"https://colab.research.google.com/github/{slug}/blob/{ref}/notebooks/{notebook.name}"'
    assert colab in page, f"{notebook.stem}.html has no Colab button for {colab}"
    assert f'href="../_sources/notebooks/{notebook.name}"' in page, "no download link to the notebook"
    assert (HTML / "_sources" / "notebooks" / notebook.name).is_file()


def test_pages_load_nothing_from_other_hosts(server):
    for page in [HTML / "index.html", *sorted((HTML / "notebooks").glob("*.html"))]:
        text = page.read_text(encoding="utf-8")
        scripts = re.findall(r'<script[^>]+src="(https?://[^"]+)"', text)
        assert not scripts, f"{page.name} loads scripts from the internet: {scripts}"
