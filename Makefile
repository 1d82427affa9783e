# Developer entry points. Everything runs inside .venv, which is created on first use.
#   make run    set up the demo project on SQLite and serve it on http://127.0.0.1:8000/
#   make test   run the whole test suite (SQLite, or the database in $DATABASE_URL)

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Touched after a successful install; reinstalls only when pyproject.toml is newer.
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint docs bench clean

$(VENV_PYTHON):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV_PYTHON)
	scripts/install-system-deps
	$(VENV_PYTHON) -m pip install --upgrade pip
	$(VENV_PYTHON) -m pip install -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV_PYTHON) manage.py migrate --noinput
	$(VENV_PYTHON) manage.py collectstatic --noinput
	$(VENV_PYTHON) manage.py demo_setup
	$(VENV_PYTHON) -m uvicorn project.asgi:application --host $(HOST) --port $(PORT) --lifespan off

test: $(STAMP)
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV_PYTHON) -m ruff check .
	$(VENV)/bin/lint-imports

# Figures, never assertions: SQLite, then PostgreSQL ($(BENCH_POSTGRES_URL)) when it answers.
BENCH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
bench: $(STAMP)
	$(VENV_PYTHON) -m benchmarks $(BENCH_ARGS)
	@if $(VENV_PYTHON) -c "import psycopg; psycopg.connect('$(BENCH_POSTGRES_URL)').close()" 2>/dev/null; then \
		DATABASE_URL=$(BENCH_POSTGRES_URL) $(VENV_PYTHON) -m benchmarks $(BENCH_ARGS); \
	else echo "PostgreSQL at $(BENCH_POSTGRES_URL) does not answer: its benchmarks did not run."; fi

# The admin's screenshots in docs/_static are retaken first, from a temporary demo, in the
# system's Chromium (skipped, with a message, where there is none; SCREENSHOTS=no skips them).
SCREENSHOTS ?= yes
docs: $(STAMP)
	@if [ "$(SCREENSHOTS)" != no ]; then $(VENV_PYTHON) scripts/screenshots --skip-without-browser; fi
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) .venv-django6 .venv-bench .static docs/_build build dist *.egg-info \
		.pytest_cache .ruff_cache db.sqlite3* test_db.sqlite3*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
