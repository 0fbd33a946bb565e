# Quick start:  make book   (build the book)      make test   (run the tests)
# Each target installs what it needs on first use (.venv from requirements.txt, Chromium for the
# browser test). Data come from LOTTERY_DATA (default data/) or the offline mirror LOTTERY_DATA_MIRROR,
# which defaults to ../shared/data when that folder exists.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= book
ifneq ($(wildcard ../shared/data),)
export LOTTERY_DATA_MIRROR ?= $(abspath ../shared/data)
endif

.PHONY: venv test test-fast book smoke rehearse-paper lint browser-deps bench gpu-check publish clean help

help:
	@echo "make book [PROFILE=smoke|book|paper]   execute the chapters and build the HTML book in _build/html"
	@echo "make rehearse-paper                    build every chapter in the paper profile on the CPU (stand-in data, 1 epoch)"
	@echo "make test                              run the whole test suite (library, notebooks, built book)"
	@echo "make test-fast                         library tests only"
	@echo "make bench                             print the training-speed benchmarks for this machine"
	@echo "make gpu-check [GPU_CHECK_JSON=path]   CUDA tests, a timed ResNet-20 epoch (fp32/bf16), mask invariant on the GPU"
	@echo "make lint                              ruff"

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Debian's Chromium drives the browser test of the built book (Playwright cannot download its own here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium chromium-driver (the browser test will be skipped)"; fi; }

test: venv browser-deps
	$(PY) -m pytest

test-fast: venv
	$(PY) -m pytest -m "not slow and not browser"

book: venv
	$(PY) -m concave_lottery.book build --profile $(PROFILE)

smoke:
	$(MAKE) book PROFILE=smoke

# The paper profile, rehearsed on a CPU: stand-in CIFAR-10/100 and Tiny ImageNet in the official formats
# (_build/rehearsal/data), sweeps/paper-rehearsal.toml (1 epoch, 1 round per run), profile rehearse-paper.
rehearse-paper: venv
	$(PY) -m concave_lottery.book.rehearsal

bench: venv
	$(PY) benchmarks/train_speed.py
	$(PY) benchmarks/step_speed.py

# <= 5 min on a CUDA machine; without CUDA a few-step CPU fallback, labelled so. Paste its summary into an issue.
GPU_CHECK_JSON ?= _build/gpu-check.json
gpu-check: venv
	$(PY) -m concave_lottery.runs.gpu_check --json $(GPU_CHECK_JSON)

lint: venv
	$(VENV)/bin/ruff check .

publish: book
	$(PY) -m concave_lottery.book publish

clean:
	rm -rf _build .book-cache
