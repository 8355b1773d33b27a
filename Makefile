# make run: create .venv, install, run Video2Vec end to end on its embedded stand-in videos.
# make test: the fast suite on eight fake CPU devices. make test-all: also the slow checks.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERAS_STAMP := $(VENV)/.installed-keras
TB_STAMP := $(VENV)/.installed-tensorboard
export XLA_FLAGS ?= --xla_force_host_platform_device_count=8

RUN_EXPERIMENT ?= video2vec:synthetic
RUN_WORKDIR ?= runs/$(subst :,_,$(RUN_EXPERIMENT))

BENCH_EXPERIMENT ?= imagenet_vgg_f:synthetic

# make tensorboard: every run under TB_LOGDIR (one workdir or a folder of them) at
# http://localhost:$(TB_PORT)
TB_LOGDIR ?= runs
TB_PORT ?= 6006

.PHONY: run test test-all bench tensorboard clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# TensorFlow + Keras, for the weight converter's comparisons against Keras (slow tests only).
$(KERAS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[test,keras]'
	touch $(KERAS_STAMP)

$(TB_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[tensorboard]'
	touch $(TB_STAMP)

run: $(STAMP)
	XLA_FLAGS= $(PY) -m launch.run --experiment=$(RUN_EXPERIMENT) --workdir=$(RUN_WORKDIR)

# CPU commands run under mimalloc (launch/malloc.py; ZOO_MALLOC=system: the C library's).
MALLOC = env $$($(PY) -m launch.malloc)

# The fast suite compiles far more than it runs: XLA optimises its programs less (README).
test: $(STAMP)
	ZOO_TEST_XLA_FLAGS=--xla_backend_optimization_level=0 $(MALLOC) $(PY) -m pytest -q -n 2 -m "not slow"

test-all: $(KERAS_STAMP)
	$(MALLOC) $(PY) -m pytest -q -n 2
	$(MALLOC) $(PY) -m launch.smoke_table

bench: $(STAMP)
	XLA_FLAGS= $(PY) -m benchmarks.step --experiment=$(BENCH_EXPERIMENT)

tensorboard: $(TB_STAMP)
	$(PY) -m tensorboard.main --logdir $(TB_LOGDIR) --port $(TB_PORT)

clean:
	rm -rf $(VENV) runs .pytest_cache
