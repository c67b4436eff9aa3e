# scanbridge: every target does its own set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export CARGO_TARGET_DIR ?= $(CURDIR)/target
# Debian packages the tests need (installed only when missing).
APT_PACKAGES ?= redis-server chromium

.PHONY: help setup dev release run test test-rust test-python fuzz lint fmt autobahn bench bench-micro bench-micro-save clean

help:
	@echo "make run          set up and run the server (127.0.0.1:9998)"
	@echo "make test         set up and run every test (cargo test + pytest)"
	@echo "make fuzz         libFuzzer on every network parser, FUZZ_SECONDS (60) each"
	@echo "make lint         cargo fmt --check, clippy -D warnings, ruff"
	@echo "make autobahn     Autobahn fuzzingclient cases against scanbridge serve --echo"
	@echo "make bench        side-by-side comparison with picows and websockets"
	@echo "make bench-micro  microbenchmarks (release) compared with benches/baseline"

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q -U pip

# Python dependencies (runtime + test) and the Rust extension, debug profile.
setup: $(PY)
	@if [ -n "$(APT_PACKAGES)" ]; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; fi; \
	fi
	$(PIP) install -q maturin 'msgspec>=0.18' 'uvloop>=0.19' 'click>=8.1' 'segno>=1.5' 'pyjwt[crypto]>=2.8' 'redis>=5' \
	  'pytest>=8' 'pytest-asyncio>=0.23' 'pytest-benchmark>=4' 'pytest-timeout>=2' 'hypothesis>=6' \
	  'websockets>=13' 'aiohttp>=3.9' 'picows>=1.5' 'ruff>=0.5' 'python-socketio[asyncio_client]>=5'
	$(MAKE) dev

dev: $(PY)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q

release: $(PY)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q --release

run: setup
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

lint: $(PY)
	cargo fmt --all -- --check
	cargo clippy -p scanbridge-core -p scanbridge-py --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches

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
