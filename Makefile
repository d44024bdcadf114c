# The two commands a newcomer needs: `make dev` brings the stack up, `make test` runs every test.
# Only Python 3.11+, git and make are assumed; everything else is installed from the lock file.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: dev test install lint typecheck imports unit check bench clean prometheus chromium kubectl

dev: $(VENV)/.installed
	$(BIN)/jan-models dev

test: $(VENV)/.installed lint typecheck imports prometheus chromium kubectl
	$(BIN)/pytest

# The alert and dashboard tests run a real Prometheus (Debian's package brings promtool too).
# Its package may start a system service; tests start their own, so any such one is stopped.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus && \
		{ service prometheus stop >/dev/null 2>&1 || true; }; }

# The console's browser tests drive Debian's chromium (never `playwright install`).
chromium:
	@command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

# kubesim's tests drive the real kubectl (tests marked `kubectl`); they fail, never skip,
# without it. Debian's own archive has none recent enough (kubernetes-client is 1.20): the
# apt package `kubectl` comes from an apt source that provides it (this machine image has
# it installed from the Google Cloud SDK's). Without one, stop and say what is missing.
kubectl:
	@command -v kubectl >/dev/null || { \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kubectl; } || { \
		echo "make: kubectl is not installed and apt could not install it (no apt source provides the"; \
		echo "      'kubectl' package here). Add one (Kubernetes' or the Google Cloud SDK's) or put a"; \
		echo "      kubectl binary on PATH, then run make test again."; exit 1; } >&2

install: $(VENV)/.installed

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy .

imports: $(VENV)/.installed
	$(BIN)/lint-imports

unit: $(VENV)/.installed
	$(BIN)/pytest -m "not integration and not e2e and not faults"

bench: $(VENV)/.installed
	$(BIN)/jan-models bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache
