# Two commands on a fresh machine: `make repro` and `make test`. Both create .venv if needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: repro test clean-venv system

# CMU Flite and Festival (the synthetic source's fourth and fifth engines) are Debian packages,
# not wheels: installed here when missing and this is root; elsewhere the note says what to do.
DEBIAN := flite festival festvox-kdlpc16k festvox-us-slt-hts
system:
	@dpkg -s $(DEBIAN) >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN) >/dev/null; } || \
		echo "note: install Debian's $(DEBIAN) (apt-get install ...) or set data.synthetic.flite_speakers and festival_speakers to 0"

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

repro: system $(STAMP)  ## install the pinned requirements, then run the pipeline
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: system $(STAMP)  ## unit tests for every stage, then the end-to-end dvc repro test
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)

# Speed and memory benchmarks against the reference implementations (bench/README.md): writes
# bench/RESULTS.md and bench/results.json. BENCH_SIZE=tiny checks that they run (minutes);
# BENCH_REPRO=1 also times the default `dvc repro` in a copy; BENCH_REPRO_S=<s> records a timing.
BENCH_SIZE ?= full
.PHONY: bench
bench: $(STAMP)  ## benchmarks at BENCH_SIZE (full: the figures to report, 30-45 min on 2 cores)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.run --size $(BENCH_SIZE) \
		$(if $(filter 1,$(BENCH_REPRO)),--repro) $(if $(BENCH_REPRO_S),--repro-seconds $(BENCH_REPRO_S)) $(BENCH_ARGS)
