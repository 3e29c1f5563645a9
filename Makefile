# Transcode Flow. `make run` and `make test` work on a bare Linux machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# MinIO for the bucket-notification test: MinIO's documented install (`go install`),
# pinned to a commit because the project is in maintenance mode.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
TOOLS  := $(CURDIR)/.tools
MINIO  := $(TOOLS)/bin/minio

.PHONY: run test test-fast lint install minio bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/tflow up

# Builds MinIO when Go is present; without Go the MinIO test skips and says so.
minio:
	@if command -v go >/dev/null 2>&1; then \
	  test -x $(MINIO) || GOBIN=$(TOOLS)/bin GOFLAGS=-mod=mod go install github.com/minio/minio@$(MINIO_VERSION); \
	else echo "go not found: the MinIO notification test will be skipped"; fi

# ruff (with bugbear) and mypy (strict on contracts/, media/, readmodel/), as configured in pyproject.toml
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(STAMP) minio lint
	TFLOW_MINIO_BINARY=$(MINIO) $(PY) -m pytest -q -ra

test-fast: $(STAMP) lint
	$(PY) -m pytest -q -ra -m 'not slow and not minio'

bench: $(STAMP) minio
	TFLOW_MINIO_BINARY=$(MINIO) $(PY) bench/ingest_latency.py
	$(PY) bench/transcode.py
	$(PY) bench/whisper.py
	$(PY) bench/security_overhead.py
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/api_load.py

clean:
	rm -rf $(VENV) .pytest_cache
