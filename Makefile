# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv and installs the project with its test extras when missing or stale.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= build/demo

.PHONY: demo test install simulators rtl clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Icarus Verilog only comes from Debian; install it when running as root, skip quietly otherwise
simulators:
	@command -v iverilog >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null 2>&1) \
	  || echo "note: iverilog not installed; Icarus benches will be skipped"; }

test: $(STAMP) simulators
	$(PY) -m pytest -q

demo: $(STAMP)
	$(PY) -m hwaccel info models/cnn.onnx
	$(PY) -m hwaccel run models/cnn.onnx --input models/digits_sample.npz --engine float

clean:
	rm -rf build .pytest_cache sim_build
