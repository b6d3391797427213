# Developer and CI entry point.  Every target bootstraps its own
# virtualenv in $(VENV) from the project's files, so a clean clone needs
# nothing installed by hand.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SOURCES := setup.py pyproject.toml $(wildcard src/fastlock/*.pyx src/fastlock/*.pxd)

.PHONY: build servers lint test test-oslo test-pure stress bench bench-quick bench-eventlet annotate \
	debug dist dist-check docs matrix clean

$(VENV)/.installed: $(SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[test,test-oslo,bench,dev]'
	touch $@

build: $(VENV)/.installed

# The requirements of one of the project's extras (dist, docs, matrix),
# read from the installed metadata, so pyproject.toml stays the one list.
$(VENV)/.extra-%: $(VENV)/.installed
	$(PY) -m pip install -q $$($(PY) .ci/extra.py $*)
	touch $@

# cython-lint runs pycodestyle from PATH.
lint: build
	$(VENV)/bin/ruff check .
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/cython-lint src/
	$(PY) -m mypy
	$(PY) -m mypy.stubtest --mypy-config-file pyproject.toml fastlock._core_c

test: build servers
	$(PY) -m pytest $(PYTEST_ARGS)

# oslo.concurrency's own lockutils tests (from its installed package) with
# fastlock swapped in: threads and eventlet-patched, compiled core and twin.
test-oslo: build
	$(PY) tests/oslo/run.py

test-pure: build
	FASTLOCK_NO_EXTENSIONS=1 $(PY) -m pytest --no-c-extensions $(PYTEST_ARGS)

bench: build
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: build
	$(PY) bench/run.py --quick $(BENCH_ARGS)

# Only the green-thread scenarios (monkey-patched interpreters).
bench-eventlet: build
	$(PY) bench/run.py --parts eventlet $(BENCH_ARGS)

annotate: build
	$(VENV)/bin/cython -3 -a -I src src/fastlock/_core_c.pyx

debug:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	FASTLOCK_DEBUG_BUILD=1 $(PY) -m pip install -e '.[test,bench,dev]'

# sdist + wheel, the wheel repaired to a manylinux tag; fails on a
# deprecation warning in the build log, a module over 400 KiB or a
# description PyPI would reject, or a cibuildwheel matrix other than the
# one promised (no container engine here: only its build list is checked).
# LDSHARED: a pyenv interpreter's own
# carries -rpath to its lib folder, which must not ship in a wheel.
dist: $(VENV)/.extra-dist
	rm -rf dist
	mkdir -p build
	LDSHARED="$${CC:-cc} -shared" $(PY) -m build --outdir dist . > build/dist.log 2>&1 \
		|| { cat build/dist.log; exit 1; }
	! grep -i -B2 -A8 deprecat build/dist.log
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel repair -w dist dist/*-linux_*.whl
	rm dist/*-linux_*.whl
	$(VENV)/bin/cibuildwheel --platform linux --print-build-identifiers > build/cibw-ids.txt
	$(PY) .ci/check_dist.py dist build/cibw-ids.txt
	$(VENV)/bin/twine check --strict dist/*

# The HTML documentation in docs/_build/html; warnings are errors.
docs: $(VENV)/.extra-docs
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The whole suite on every CPython in the classifiers (noxfile.py),
# each from an installed wheel.
matrix: $(VENV)/.extra-matrix
	$(VENV)/bin/nox $(NOX_ARGS)

# The tests run from an empty folder: a stray module in /tmp (a bisect.py
# seen here) would shadow the standard library for a run started there.
dist-check: build
	rm -rf dist $(VENV)-dist
	$(PY) -m pip install -q build
	$(PY) -m build
	$(PYTHON) -m venv $(VENV)-dist
	$(VENV)-dist/bin/pip install -q "$$(ls dist/*.whl)[test]"
	cd "$$(mktemp -d)" && $(CURDIR)/$(VENV)-dist/bin/python -m pytest -p no:cacheprovider \
		$(CURDIR)/tests

clean:
	rm -rf build dist *.egg-info fastlock/*.so src/fastlock/*.c \
		src/fastlock/*.html .benchmarks $(VENV)-dist docs/_build .nox

# The stress and fault suite for longer: 10 s of load per test, 10x cycles.
stress: build
	FASTLOCK_STRESS_SECONDS=10 FASTLOCK_STRESS_SCALE=10 $(PY) -m pytest tests/stress $(PYTEST_ARGS)

# The lock servers the coordination tests start (Debian packages, installed
# only when missing; needs root, otherwise those tests skip outside CI).
servers:
	bash .ci/install-servers
