# Every target sets up what it needs on a fresh machine (idempotent, fast when done).
# `make test` is the command CI runs (.ci/run) and the README gives.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL ?=
ENGINE ?=
LANGUAGE_TOKEN ?=
OUT ?= model.tar.gz
PYTEST_ARGS ?=
# make test runs the test files side by side, one worker per core (at most 4: each worker
# loads its own models); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 4 ? n : 4 )))
# Side by side, PyTorch's OpenMP threads (the transformers engine on CPU) must sleep when
# idle instead of spinning on cores another worker needs: two workers each decoding 2.5 min
# with it took 121 s with spinning, 52 s without (alone: 44 and 42 s).
TEST_ENV = OMP_WAIT_POLICY=PASSIVE
# make eval: a manifest.tsv (or its folder), model folders ([NAME=]DIR, space-separated;
# default: the offline Whisper base), more `twi-asr eval` options (e.g. --probe-language)
MANIFEST ?= $(or $(TWI_ASR_SHARED),../shared)/data/twi/manifest.tsv
MODELS ?=
EVAL_ARGS ?=
# jsii (under aws-cdk-lib) warns on every run that Node 20 is past its end of life; it works.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help setup ffmpeg node test test-fast lint types check demo bench eval package synth deploy clean

help:
	@echo "make demo     offline S3 -> Lambda -> endpoint -> S3 flow on this machine"
	@echo "make test     set up and run the whole test suite"
	@echo "make check    lint + types + tests"
	@echo "make bench    throughput/WER benchmark against the baselines"
	@echo "make eval     WER/CER per clip on ../shared/data/twi [MANIFEST=<tsv>] [MODELS='<dir> <name>=<dir>']"
	@echo "make package  MODEL=<dir> [ENGINE=ctranslate2|transformers] [LANGUAGE_TOKEN=yo|none] -> model.tar.gz"
	@echo "make synth    synthesize the CDK stack (offline)   make deploy   cdk deploy"

# --- set-up ----------------------------------------------------------------------------
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[endpoint,infra,dev]"
	@touch $(STAMP)

setup: $(STAMP) ffmpeg

# ffmpeg decodes what libsndfile cannot (m4a, opus-in-webm, amr...). The SageMaker DLC has it.
ffmpeg:
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "installing ffmpeg (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q ffmpeg >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q ffmpeg >/dev/null; }; \
	  command -v ffmpeg >/dev/null; }

# The CDK CLI, pinned in infra/package.json (+ package-lock.json): `npm ci` installs exactly that.
node: infra/node_modules/.installed
infra/node_modules/.installed: infra/package.json infra/package-lock.json
	@command -v npm >/dev/null || { echo "the CDK CLI needs Node.js >= 20 and npm (e.g. apt-get install nodejs npm)"; exit 2; }
	cd infra && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# --- quality ---------------------------------------------------------------------------
test: setup node
	$(TEST_ENV) $(PY) -m pytest $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

types: $(STAMP)
	$(PY) -m mypy
	$(PY) -m mypy tests

check: lint types test

# --- product ---------------------------------------------------------------------------
demo: setup
	$(PY) -m twi_asr.demo $(if $(MODEL),--model $(MODEL))

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

# Through the endpoint's handler; the Twi clips come with ../shared (skipped without it).
eval: setup
	@if [ ! -e "$(MANIFEST)" ]; then \
	  echo "make eval: skipped: no manifest at $(MANIFEST) (the Twi clips come with ../shared/data/twi); make eval MANIFEST=<manifest.tsv> runs another"; \
	else set -x; $(PY) -m twi_asr.cli eval "$(MANIFEST)" $(foreach m,$(MODELS),--model "$(m)") $(EVAL_ARGS); fi

package: setup
	@test -n "$(MODEL)" || { echo "usage: make package MODEL=<model dir> [ENGINE=ctranslate2|transformers] [LANGUAGE_TOKEN=yo|none]"; exit 2; }
	$(PY) -m twi_infra.package --model "$(MODEL)" $(if $(ENGINE),--engine $(ENGINE)) \
	  $(if $(LANGUAGE_TOKEN),--language-token $(LANGUAGE_TOKEN)) --out $(OUT)

# Offline: no AWS credentials, no lookups, no version check, no notices or telemetry.
# Options: CDK_ARGS='-c min_instances=1 -c model_data=s3://bucket/model.tar.gz' (see README).
synth: setup node
	cd infra && CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1 npx cdk synth --quiet $(CDK_ARGS) && echo "template: $$(pwd)/cdk.out/TwiAsrStack.template.json"

deploy: setup node
	cd infra && CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=1 npx cdk deploy $(CDK_ARGS)

clean:
	rm -rf $(VENV) .cache infra/cdk.out infra/node_modules .pytest_cache .mypy_cache .ruff_cache
