# Ladder's commands. `make demo` and `make test` are all a newcomer types:
# each creates .venv and installs the project when needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What make demo and make run need; the full install (tests, lint) adds the dev tools.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-postgres run lint format bench bench-smoke clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# --no-compile: Python compiles what it imports when it first imports it, rather
# than pip compiling all of numpy, scipy and matplotlib up front (~20 s).
$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --no-compile -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

## demo: a new embedded SQLite database, a demo store, thirty simulated days, a report (docs/demo.md)
demo: $(RUNTIME_STAMP)
	$(BIN)/python manage.py demo --fresh

## test: the whole suite (embedded default, or PostgreSQL + Redis when DATABASE_URL/CELERY_BROKER_URL are set)
test: $(STAMP)
	$(BIN)/python -m pytest

## run: admin + API on http://127.0.0.1:8000/, plus a Celery worker with beat when CELERY_BROKER_URL is set
run: $(RUNTIME_STAMP)
	$(BIN)/python manage.py migrate --no-input -v0
	@echo "Admin: http://127.0.0.1:8000/admin/  (after make demo: user admin, password ladder-demo)"
	@echo "API docs: http://127.0.0.1:8000/api/v1/docs"
	@trap 'kill 0' EXIT; \
	if [ -n "$$CELERY_BROKER_URL" ]; then $(BIN)/celery -A config worker --beat --loglevel INFO & fi; \
	$(BIN)/python manage.py runserver 127.0.0.1:8000

## lint: ruff check and format check
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: every benchmark scenario at full size on PostgreSQL + Redis, one results file, the docs table (docs/performance.md; flags: make bench BENCH_ARGS="--scenarios webhooks")
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

## bench-smoke: every scenario at smoke size with all its checks, and the profilers once, small (~2-3 min; .ci/run runs it)
bench-smoke: $(STAMP)
	$(BIN)/python -m bench --quick --no-docs $(BENCH_ARGS)
	$(BIN)/python -m bench.delivery_profile --deliveries 1000 >/dev/null
	$(BIN)/python -m bench.delivery_profile --deliveries 1500 --sql 5 >/dev/null
	$(BIN)/python -m bench.delivery_profile --backend eml --database sqlite --deliveries 1000 >/dev/null
	$(BIN)/python -m bench.request_profile --deliveries 100 >/dev/null
	$(BIN)/python -m bench.delivery_ab --against . --slices 2 --per-slice 500 >/dev/null

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
