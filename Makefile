# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv and installs the project with its test extras when missing or stale.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_OUT ?= build/demo
TORCH_WHEELS ?= /opt/wheels

.PHONY: demo test check typecheck install simulators rtl clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@# torch (gpu engine, run on its CPU device in tests) only from a local CPU wheel: PyPI's is a multi-GB CUDA build
	-@if ls $(TORCH_WHEELS)/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then \
	  $(PY) -m pip install -q --find-links $(TORCH_WHEELS) 'torch==2.13.0'; \
	else echo "note: no local torch wheel in $(TORCH_WHEELS); gpu-engine tests will be skipped"; fi
	@touch $(STAMP)

install: $(STAMP)

# Icarus Verilog only comes from Debian; install it when running as root, skip quietly otherwise
simulators:
	@command -v iverilog >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null 2>&1) \
	  || echo "note: iverilog not installed; Icarus benches will be skipped"; }

# The whole suite, as CI runs it: the type check, then every test (slow and rtl included), one
# pytest worker per core, each test file on one worker (module fixtures build once)
PYTEST_PARALLEL ?= -n auto --dist loadfile

test: $(STAMP) simulators typecheck
	$(PY) -m pytest -q $(PYTEST_PARALLEL)

# The fast loop for daily work (a few minutes): the type check and the tests not marked slow or rtl
check: $(STAMP) typecheck
	$(PY) -m pytest -q $(PYTEST_PARALLEL) -m "not slow and not rtl"

typecheck: $(STAMP)
	$(PY) -m mypy hwaccel

HW := $(VENV)/bin/hwaccel

# The main job end to end on the zoo CNN: inspect, quantize, run the engines, compile to RTL,
# predict cycles, prove the Verilog bit-exact (and cycle-exact) on 100 digits in Verilator, and
# end with the bench table: onnxruntime and hwaccel cpu measured, FPGA (Yosys + nextpnr) and ASIC estimated
demo: $(STAMP)
	@mkdir -p $(DEMO_OUT)
	$(HW) info models/cnn.onnx
	$(HW) quantize models/cnn.onnx --calib models/digits_calib.npz -o $(DEMO_OUT)/cnn.qdq.onnx --force
	$(HW) run $(DEMO_OUT)/cnn.qdq.onnx --input models/digits_sample.npz --engine golden
	$(HW) run $(DEMO_OUT)/cnn.qdq.onnx --input models/digits_sample.npz --engine cpu
	$(HW) run $(DEMO_OUT)/cnn.qdq.onnx --input models/digits_sample.npz --engine onnxruntime
	$(HW) compile $(DEMO_OUT)/cnn.qdq.onnx -o $(DEMO_OUT)/cnn --force
	$(HW) simulate $(DEMO_OUT)/cnn --batch 100
	$(PY) -c "import numpy as np, sys; sys.path.insert(0, 'models'); import digits_data as d; \
	  x = d.load_split()[2][:100].reshape(-1, 1, 8, 8); np.savez('$(DEMO_OUT)/digits100.npz', input=x)"
	$(HW) verify $(DEMO_OUT)/cnn --input $(DEMO_OUT)/digits100.npz --count 100
	$(HW) bench $(DEMO_OUT)/cnn.qdq.onnx --float-model models/cnn.onnx --input $(DEMO_OUT)/digits100.npz \
	  --build $(DEMO_OUT)/cnn --fpga ecp5-85k --asic 45nm --plot $(DEMO_OUT)/bench.png --force

rtl: $(STAMP)
	$(PY) rtl/generate.py

clean:
	rm -rf build .pytest_cache sim_build
