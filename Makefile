# Two commands do all the set-up on a fresh machine (see README.md):
#   make book   create .venv, execute every chapter, render the HTML book into _build/html
#   make test   create .venv, lint, run the unit tests, check notebook pairs, re-run chapters with nbval
# Offline, point VAEBOOK_DATA at a folder holding MNIST/raw/ (CI uses ../shared/data).

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHAPTERS := $(wildcard notebooks/[0-9][0-9]_*.ipynb)

.PHONY: book test lint unit notebooks bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,book]"
	touch $(STAMP)

book: $(STAMP)
	$(PY) tools/run_chapters.py
	$(VENV)/bin/jupyter-book build . --config book/_config.yml --toc book/_toc.yml \
		--warningiserror --keep-going
	@echo "The book is in _build/html/index.html"

test: lint unit notebooks

lint: $(STAMP)
	$(VENV)/bin/ruff check vaebook tests tools benchmarks notebooks

unit: $(STAMP)
	$(PY) -m pytest tests

notebooks: $(STAMP)
	$(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		-p no:cacheprovider $(CHAPTERS)

bench: $(STAMP)
	$(PY) benchmarks/epoch_speed.py

clean:
	rm -rf _build
