# Two commands do all the set-up on a fresh machine (see README.md):
#   make book   create .venv, execute every chapter, render the HTML book into _build/html
#   make test   create .venv, lint, run the unit tests, check notebook pairs, re-run chapters with nbval,
#               render the book, check its pages in headless Chromium, and run every chapter
#               in a simulated fresh Colab session
# Offline, point VAEBOOK_DATA at a folder holding MNIST/raw/ (CI uses ../shared/data).

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHAPTERS := $(wildcard notebooks/[0-9][0-9]_*.ipynb)

.PHONY: book html test lint unit notebooks browser colab bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,book]"
	touch $(STAMP)

MATHJAX := book/_static/mathjax/tex-chtml.js

book: $(STAMP)
	$(PY) tools/run_chapters.py
	$(MAKE) html

# Render the committed, executed notebooks (no execution): fast, and warnings are errors.
html: $(STAMP) $(MATHJAX)
	$(VENV)/bin/jupyter-book build . --config book/_config.yml --toc book/_toc.yml \
		--warningiserror --keep-going
	@echo "The book is in _build/html/index.html"

# MathJax from the npm registry, served by the book itself: math renders without internet access.
$(MATHJAX): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	rm -rf book/_static/mathjax && mkdir -p book/_static
	cp -r node_modules/mathjax/es5 book/_static/mathjax

test: lint unit notebooks html browser colab

lint: $(STAMP)
	$(VENV)/bin/ruff check vaebook tests tools benchmarks notebooks book/_ext

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/test_rendered_book.py

notebooks: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		-p no:cacheprovider $(CHAPTERS)

# Every chapter page in headless Chromium: title, rendered math, figures, no console errors.
browser: $(STAMP)
	VAEBOOK_REQUIRE_BOOK=1 $(PY) -m pytest tests/test_rendered_book.py

# Every chapter in a simulated fresh Colab session (see tools/colab_sim.py).
colab: $(STAMP)
	$(PY) tools/colab_sim.py

bench: $(STAMP)
	$(PY) benchmarks/epoch_speed.py
	$(PY) benchmarks/tsne_speed.py

clean:
	rm -rf _build
