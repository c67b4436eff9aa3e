# scanbridge: every target does its own set-up on a fresh machine.
# `make run` installs only what serving needs; `make test` adds the test tools.
# Both skip what is already done (stamp files in the venv). V=1 shows every command.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# Debian packages the tests need (installed only when missing).
APT_PACKAGES ?= redis-server chromium
ifndef V
.SILENT:
endif

# What the extension is built from: a change in any of these rebuilds it.
RUST_SOURCES := Cargo.toml Cargo.lock pyproject.toml $(wildcard rust/*/Cargo.toml) \
	$(shell find rust/core/src rust/py/src -name '*.rs' 2>/dev/null)
# Stamps: the runtime dependencies and the built extension; the test tools.
RUNTIME_STAMP := $(VENV)/.scanbridge-runtime
TEST_STAMP := $(VENV)/.scanbridge-test
# The Python packages the tests and linters need (the runtime ones come from pyproject.toml).
TEST_PACKAGES := 'redis>=5' \
	'pytest>=8' 'pytest-asyncio>=0.23' 'pytest-benchmark>=4' 'pytest-timeout>=2' 'hypothesis>=6' \
	'websockets>=13' 'aiohttp>=3.9' 'picows>=1.5' 'ruff>=0.5' 'python-socketio[asyncio_client]>=5' \
	'mypy>=1.18'
# maturin's pip run lists every optional dependency it skips ("Ignoring pytest: markers ...").
QUIET_PIP := grep -v -e '^Ignoring ' -e '^Requirement already satisfied' || true

.PHONY: help setup setup-run dev release run test test-rust test-python fuzz lint fmt autobahn bench bench-micro bench-micro-save clean

help:
	@echo "make run          install what serving needs (once) and run the server (127.0.0.1:9998)"
	@echo "make test         also install the test tools, then run every test (cargo test + pytest)"
	@echo "make fuzz         libFuzzer on every network parser, FUZZ_SECONDS (60) each"
	@echo "make lint         cargo fmt --check, clippy -D warnings, ruff, mypy, stubtest (_core.pyi)"
	@echo "make autobahn     Autobahn fuzzingclient cases against scanbridge serve --echo"
	@echo "make bench        side-by-side comparison with picows and websockets"
	@echo "make bench-micro  microbenchmarks (release) compared with benches/baseline"

$(PY):
	echo "scanbridge: creating $(VENV)"
	python3 -m venv $(VENV)
	$(PIP) install -U pip

# What serving needs: pyproject.toml's dependencies, maturin, and the extension
# (debug profile); redone only when pyproject.toml, Cargo.* or a Rust source changed.
$(RUNTIME_STAMP): $(RUST_SOURCES) | $(PY)
	echo "scanbridge: installing the runtime dependencies, building the extension (debug)"
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
	  | $(PIP) install 'maturin>=1.7,<2' -r /dev/stdin
	set -o pipefail; VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q 2>&1 | { $(QUIET_PIP); }
	touch $@

setup-run: $(RUNTIME_STAMP)

# Everything the tests need: the above, the test tools, and Debian packages.
$(TEST_STAMP): pyproject.toml Makefile | $(PY)
	echo "scanbridge: installing the test tools"
	$(PIP) install $(TEST_PACKAGES)
	touch $@

setup: $(RUNTIME_STAMP) $(TEST_STAMP)
	if [ -n "$(APT_PACKAGES)" ]; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "scanbridge: apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

dev: $(PY)
	set -o pipefail; VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q 2>&1 | { $(QUIET_PIP); }
	touch $(RUNTIME_STAMP)

release: $(PY)
	set -o pipefail; VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q --release 2>&1 | { $(QUIET_PIP); }
	rm -f $(RUNTIME_STAMP)  # the next `make run` builds the debug profile again

run: $(RUNTIME_STAMP)
	$(VENV)/bin/scanbridge serve --echo --scanner demo

test: setup test-rust test-python

test-rust:
	cargo test -p scanbridge-core --quiet

test-python:
	$(VENV)/bin/pytest -q -p no:cacheprovider tests benches/test_micro.py --benchmark-disable

# Coverage-guided fuzzing on the stable toolchain (rust/core/fuzz/README.md):
# replays the kept corpus and crash regressions, then each target FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v c++ >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++; }
	rust/core/fuzz/run.sh $(FUZZ_SECONDS)

# The type check: mypy over the package, configured in pyproject.toml [tool.mypy].
# The stub check: mypy's stubtest compares python/scanbridge/_core.pyi with the
# built extension (every name, signature and default, both ways).
lint: $(RUNTIME_STAMP) $(TEST_STAMP)
	cargo fmt --all -- --check
	cargo clippy -p scanbridge-core -p scanbridge-py --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy python/scanbridge
	$(PY) -m mypy.stubtest scanbridge._core

fmt:
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches

autobahn: release
	$(PY) benches/autobahn.py

bench: release
	$(PIP) install -q matplotlib
	$(PY) benches/compare.py --all --quiet-wait 10 --markdown --chart benches/results/ratios.png

# Microbenchmarks of the hot functions on a release build, compared with the stored
# baseline (benches/baseline, saved by bench-micro-save on the machine of BENCHMARKS.md).
MICRO := $(VENV)/bin/pytest -q -p no:cacheprovider benches/test_micro.py --benchmark-only \
	--benchmark-storage=file://$(CURDIR)/benches/baseline --benchmark-columns=min,median,mean,ops

bench-micro: release
	$(MICRO) --benchmark-compare --benchmark-group-by=name

bench-micro-save: release
	$(MICRO) --benchmark-save=release

clean:
	rm -rf $(VENV) target
