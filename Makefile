# fhirip — make serve | make test | make bench
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8080
DATA_DIR ?= ./data
WORKERS ?= 2
STAMP := $(VENV)/.installed

.PHONY: venv serve test bench postgres clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Development server: trusts the development token keys in DATA_DIR/keys and accepts the
# synthetic identity numbers of the demo data. Production sets FHIRIP_JWKS and leaves both off.
serve: venv
	FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS=$${FHIRIP_ALLOW_SYNTHETIC_IDENTIFIERS:-true} \
	FHIRIP_SUBSCRIPTION_ENDPOINTS=$${FHIRIP_SUBSCRIPTION_ENDPOINTS:-http://127.0.0.1,http://localhost} \
	$(BIN)/fhirip serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) --workers $(WORKERS)

# PostgreSQL for the suite: Debian's server package; the tests run initdb in a temp dir.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL (Debian package postgresql)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# Test files run in parallel processes (pytest-xdist), each file's tests in one process, so a
# module's fixtures are set up once; each process starts its own PostgreSQL cluster.
TEST_PROCESSES ?= auto
test: venv postgres
	$(BIN)/pytest -q -n $(TEST_PROCESSES) --maxprocesses 4 --dist loadfile

# The benchmark (bench/README.md): fhirip beside its floor, an unenforced build and the sekmet-fhir peer.
# A subset: make bench BENCH_ARGS="--stores sqlite --seconds 2 --workloads read,search --no-peer"
bench: venv postgres
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
