# Two commands do all the set-up on a fresh machine (see README.md):
#   make book   create .venv, execute every chapter (storing its outputs), render the HTML book
#   make test   create .venv, lint, unit tests, notebook/text pairs in sync, every chapter run once
#               as a fresh Colab session would with its outputs compared to the stored ones, render
#               the book (warnings are errors) and check its pages in headless Chromium
# Offline, point VAEBOOK_DATA at a folder holding MNIST/raw/ (CI uses ../shared/data).

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHAPTERS := $(basename $(notdir $(wildcard notebooks/[0-9][0-9]_*.ipynb)))

# Jobs run two at a time, each on half the cores: on two cores, two chapters on one thread each
# get through 1.35 times the work of one chapter on both, and two chapters on two threads each
# fight over the cores and run 5 times slower.
JOBS ?= 2
THREADS ?= $(shell n=$$(( $$(nproc) / $(JOBS) )); echo $$(( n > 0 ? n : 1 )))
export OMP_NUM_THREADS := $(THREADS)
export MKL_NUM_THREADS := $(THREADS)

.PHONY: book execute seeds floors html test lint unit notebooks wheel browser bench venv clean FORCE

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt uv
	$(PY) -m uv pip install --quiet --python $(PY) -c constraints.txt -e ".[dev,book]"
	touch $(STAMP)

# A reader's build: every chapter executed and stored in notebooks/NN_name.ipynb, then the HTML.
# tools/run_chapters.py keeps every core busy (longest chain first; a chapter that waits for
# another chapter's model gives up its core; one that runs alone gets all the cores) and prints
# each chapter's wall time. The machine's own vectorized kernels and its GPU, if any: the fastest.
book: $(STAMP)
	$(PY) tools/run_chapters.py
	$(MAKE) html

# The outputs to commit: the same run on the CPU with ATen's portable kernels
# (ATEN_CPU_CAPABILITY=default, about 40 % slower), so that `make test`, which runs the
# vectorized kernels of the machine, always checks the stored outputs under other numerics. Run
# it after changing a chapter or the package, and commit what it writes.
execute: $(STAMP)
	ATEN_CPU_CAPABILITY=default CUDA_VISIBLE_DEVICES= $(PY) tools/run_chapters.py

# Every chapter's asserts under another seed (SEED=1 by default): no output is compared and
# nothing in notebooks/ changes; prints each failing cell and a table. Not part of CI.
SEED ?= 1
seeds: $(STAMP)
	$(PY) tools/run_chapters.py --seed $(SEED)

# The oldest versions pyproject.toml allows (uv's lowest-direct resolution, from the package
# registry) in a venv of their own: the unit tests and chapters 3 and 4, whose kernel is that
# venv's Python. pyparsing is held at 3.0.9, matplotlib 3.7's own era: newer ones deprecate the
# names matplotlib < 3.11 calls, and the tests turn warnings into errors. Not part of CI.
FLOORS := _build/floors
floors: $(STAMP)
	rm -rf $(FLOORS) && $(PY) -m uv venv -q -p 3.11 $(FLOORS)
	$(PY) -m uv pip install -q --python $(FLOORS)/bin/python --resolution lowest-direct \
		-e ".[dev]" "pyparsing==3.0.9"
	$(FLOORS)/bin/python -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__)"
	$(FLOORS)/bin/python -m pytest tests --ignore=tests/test_rendered_book.py -q -p no:cacheprovider
	$(FLOORS)/bin/python tools/run_chapters.py --seed 0 03_elbo 04_gradient_estimators

# Render the committed, executed notebooks (no execution): fast, and warnings are errors.
MATHJAX := book/_static/mathjax/tex-chtml.js
html: $(STAMP) $(MATHJAX)
	$(VENV)/bin/jupyter-book build . --config book/_config.yml --toc book/_toc.yml \
		--warningiserror --keep-going
	@echo "The book is in _build/html/index.html"

# MathJax from the npm registry, served by the book itself: math renders without internet access.
$(MATHJAX): package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	rm -rf book/_static/mathjax && mkdir -p book/_static
	cp -r node_modules/mathjax/es5 book/_static/mathjax

# Jobs start in this order, $(JOBS) at a time: chapter 5 (the longest) at once, beside it the unit
# tests and the chapters that train the models others load, then the chapters that load them.
# The wheel is built first: a job that waits for it is started last by make -j.
test: $(STAMP) wheel
	$(MAKE) -j$(JOBS) WHEEL_BUILT=1 check-05_vae unit lint notebooks browser

lint: $(STAMP)
	$(VENV)/bin/ruff check vaebook tests tools benchmarks notebooks book/_ext

unit: $(STAMP)
	$(PY) -m pytest tests --ignore=tests/test_rendered_book.py

# Every chapter once, as a fresh Colab session would, outputs compared with the stored ones. A
# chapter that loads a model another chapter's check trains waits for it inside colab_check.py
# (holding its job slot), so the order keeps waits short: the trainers first (chapter 5 saves its
# VAE about halfway through, and its digit classifier later), then chapters 9 and 11, which need
# that VAE, and chapters 8 and 10, which also need the classifier, last.
CHECK_FIRST := 05_vae 01_autoencoder 02_denoising_autoencoder 07_black_box_vi 06_tsne
CHECK_LAST := 11_discrete_codes 09_code_lengths 08_prior_hole 10_closing_the_gaps
notebooks: $(addprefix check-,$(CHECK_FIRST) $(filter-out $(CHECK_FIRST) $(CHECK_LAST),$(CHAPTERS)) \
	$(CHECK_LAST))

check-%: FORCE | $(if $(WHEEL_BUILT),,wheel)
	$(PY) -m tools.colab_check $*

# The wheel the chapters' install cells install in `make notebooks`, built once from this checkout.
wheel: $(STAMP)
	rm -rf _build/dist
	$(PY) -m uv build --quiet --wheel --out-dir _build/dist .

# Every chapter page in headless Chromium: title, rendered math, figures, no console errors.
browser: html
	VAEBOOK_REQUIRE_BOOK=1 $(PY) -m pytest tests/test_rendered_book.py

bench: $(STAMP)
	$(PY) benchmarks/epoch_speed.py
	$(PY) benchmarks/tsne_speed.py
	$(PY) benchmarks/nll_speed.py

clean:
	rm -rf _build

FORCE:
