# Lead scoring for Google Sheets — developer entry points.
# `make demo` and `make test` work on a fresh machine: they create .venv and install.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-py test-js lint bench clean sample model serve

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)  ## score the bundled sample sheet with the bundled model
	$(PY) -m backend score backend/sample/leads.csv -o scored_leads.csv

test: lint test-py test-js  ## every test: lint, Python, add-on (node), sidebar (Chromium)

test-py: $(STAMP)
	$(PY) -m pytest -q

test-js:  ## add-on: .gs code in node:vm fakes, payloads vs openapi.json, sidebar in Chromium
	@if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  npm ci --no-audit --no-fund; \
	fi
	node --test tests/addon/

lint: $(STAMP)  ## ruff
	$(PY) -m ruff check backend tests bench

sample: $(STAMP)  ## regenerate the bundled sample sheet
	$(PY) -m backend.sample --out backend/sample/leads.csv

model: $(STAMP)  ## retrain the bundled default model from the sample sheet
	$(PY) -m backend train backend/sample/leads.csv --target Status --positive Won --value MRR --out models

serve: $(STAMP)
	$(PY) -m backend serve

bench: $(STAMP)  ## every speed figure beside its floor, in one run (under 10 minutes on 2 cores)
	$(PY) bench/bench_latency.py --runs 300
	$(PY) bench/bench_http.py --requests 200 --concurrent-requests 200
	$(PY) bench/bench_files.py
	$(PY) bench/bench_dask.py --rows 200000
	$(PY) bench/bench_dask_train.py --rows 50000

clean:
	rm -rf $(VENV) node_modules .pytest_cache scored_leads.csv
