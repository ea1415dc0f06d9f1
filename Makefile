# Vigil: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test footage protos bench bench-quick compose-check results-check clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "make: installing Vigil and its test/benchmark stack into $(VENV) (several minutes the first time)"
	$(PY) -m pip install --progress-bar on --upgrade pip
	$(PY) -m pip install --progress-bar on -c constraints.txt -e ".[dev]"
	-$(PY) -m pip check   # reported here, enforced by tests/deploy/test_dependencies.py
	touch $(STAMP)

install: $(STAMP)

footage: install
	$(PY) -m vigil.footage

demo: footage
	HF_HUB_OFFLINE=1 YOLO_CONFIG_DIR=$(CURDIR)/.cache/ultralytics $(PY) -m vigil_tools.demo $(DEMO_ARGS)

test: footage
	HF_HUB_OFFLINE=1 YOLO_CONFIG_DIR=$(CURDIR)/.cache/ultralytics $(PY) -m pytest -q -o tmp_path_retention_policy=failed

# The release gate: fails for each committed benchmark result whose measured code changed after it was measured
# (benchmarks/catalog.py names what each measures). Not part of `test`: refreshing a result means rerunning its benchmark.
results-check: install
	$(PY) -m pytest -q -m results tests/benchmarks/test_results_fresh.py

# Regenerate the committed gRPC stubs (tests/vigil/test_protos.py checks they match the .proto).
protos: install
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/vigil/v1/vigil.proto

bench-quick: footage
	$(PY) -m benchmarks.edge_gate --quick

# compose.yaml end to end with a real Docker engine (not part of `test`: minutes, and it needs an engine):
# builds the images, runs the default and the scale profile in demo mode, writes benchmarks/results/compose.json.
# Standard library only, so no install first.
compose-check:
	$(PYTHON) -m benchmarks.compose_check $(COMPOSE_CHECK_ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache
