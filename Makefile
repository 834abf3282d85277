# The README's two commands are `make demo` and `make test`; each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MESH ?= demo-mesh
SCALE ?= 1
DEMO_SQL := SELECT c.country, p.card_brand, count(*) AS bookings, sum(p.amount) AS revenue, min(c.email) AS sample_email FROM bookings.reservations b JOIN customers.profiles c ON c.customer_id = b.customer_id JOIN payments.transactions p ON p.booking_id = b.booking_id GROUP BY ALL ORDER BY revenue DESC LIMIT 10

.PHONY: demo test test-slow lint install clean bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# The web catalog's browser tests drive Debian's chromium headless (Playwright's own
# browser download is not used). Installed here when missing and we are root; otherwise
# a clear message, and those tests skip.
CHROMIUM ?= /usr/bin/chromium
$(BIN)/.browser: | $(BIN)/.installed
	@if [ -x "$(CHROMIUM)" ]; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  && touch $@; \
	else echo "NOTE: $(CHROMIUM) is missing and this is not root: run 'apt-get install chromium' as root; the browser tests are skipped until then" >&2; fi

$(MESH)/duckmesh.yaml: | $(BIN)/.installed
	$(BIN)/duckmesh demo $(MESH) --scale $(SCALE)

demo: $(BIN)/.installed $(MESH)/duckmesh.yaml
	@echo "== revenue by customer country and card brand, as ana (analyst, region EU) =="
	$(BIN)/duckmesh --mesh $(MESH) query --user ana "$(DEMO_SQL)"
	@echo "== the same query explained: governed SQL and every policy decision =="
	$(BIN)/duckmesh --mesh $(MESH) explain --user ana "$(DEMO_SQL)"

lint: $(BIN)/.installed
	$(BIN)/ruff check federation connectors products tests benchmarks
	$(BIN)/mypy

test: lint $(BIN)/.browser
	$(BIN)/pytest -q

# TPC-H as a governed three-domain mesh vs raw DuckDB (docs/benchmarks.md). SF=10 for more.
SF ?= 1
$(BIN)/.bench-installed: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $@

# ENGINE=spark: governed Spark vs raw Spark on the same files, and DuckDB in the same run.
ENGINE ?= duckdb
bench: $(BIN)/.bench-installed
	$(BIN)/python -m benchmarks.tpch --sf $(SF) --engine $(ENGINE)

test-slow: $(BIN)/.installed
	$(BIN)/pytest -q -m slow

clean:
	rm -rf $(VENV) $(MESH) .bench .pytest_cache .mypy_cache .ruff_cache
