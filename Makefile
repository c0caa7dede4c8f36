# Signpost: two commands on a fresh machine. `make run` starts everything,
# `make test` runs the whole suite. Needs Python 3.11+, Java 17, Maven and Go (Go builds helm).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: bytecode run demo test lint typecheck unit schemas safety kafka chromium clean stop bench bench-router bench-audit bench-growth chaos helm kubernetes

# uv installs the same pins from constraints.txt as pip did, in 14 s against pip's 109 s with empty caches.
# Unlike pip, uv compiles no bytecode unless asked, and where PYTHONDONTWRITEBYTECODE is set (this machine's
# environment, many CI images) Python never caches it either: every process compiled its libraries from source
# again, 2.2-3.6 s of CPU for each service start against 0.9-1.2 s compiled (a test stack started in 7.4 s, now 2.7).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The project's own modules, for the same reason (the editable install leaves them in the tree); only the ones
# changed since the last run are compiled again.
bytecode: $(STAMP)
	@$(PY) -m compileall -q signpost services schemas toolbox deploy benchmarks safety tests

# Standard library only, so that `make test` resolves the jars beside the virtualenv's install.
kafka:
	$(PYTHON) -m deploy.kafka.local resolve >/dev/null

# The local stack is secured like production (Kafka SASL_SSL, HTTPS) but signs in with the committed
# development identities (deploy/dev/), which only development mode accepts.
run: bytecode kafka
	SIGNPOST_DEVELOPMENT_MODE=1 $(PY) -m toolbox.cli run

demo: bytecode kafka
	SIGNPOST_DEVELOPMENT_MODE=1 $(PY) -m toolbox.cli demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP) helm
	$(VENV)/bin/pytest tests/unit -q

# mypy and the helm build run beside the tests (they mostly wait on Kafka and the services; mypy wants a core for
# half a minute, a cold helm build minutes, niced); their logs are printed after them, and any of the three failing
# fails `make test`. The modules that render the chart wait for the build's status file (tests/support/helm_build.py)
# and fail with its log. The tests run on TEST_WORKERS pytest-xdist workers, each with its own broker, database and
# ports, the longest modules first, a module never split (tests/support/distribution.py); a failure on any worker
# fails the run; TEST_WORKERS=0 runs them in one process. Two is the default since service starts stopped compiling
# from source: on this 2-core machine a clean clone's pytest took 410 s on two workers against 646 s in one (three
# workers before that fix took 665 s against 729 s, and three stacks at once made three tests fail; NOTES.md).
# Every step prints its elapsed seconds; pytest prints its 30 slowest tests and keeps each test's time in a JUnit file.
TEST_WORKERS ?= 2
PYTEST_ARGS := -q --durations=30 --junitxml=$(VENV)/junit.xml \
	$(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)
HELM_LOG := $(VENV)/helm-build.log

# $(call timed,STEP,COMMAND): runs COMMAND, prints "make test: STEP N.N s" and fails if it failed.
timed = t0=$$(date +%s%N); $(2); rc=$$?; t=$$(( ($$(date +%s%N) - t0) / 100000000 )); \
	echo "make test: $(1) $$((t / 10)).$$((t % 10)) s$$([ $$rc -eq 0 ] || echo ' (failed)')"; [ $$rc -eq 0 ]

test:
	@{ $(call timed,kafka jars (beside the virtualenv),$(MAKE) --no-print-directory kafka); } & jars=$$!; \
	{ $(call timed,chromium (beside the virtualenv),$(MAKE) --no-print-directory chromium); } & browser=$$!; \
	$(call timed,virtualenv,$(MAKE) --no-print-directory bytecode); venv=$$?; \
	wait $$jars; kafka=$$?; wait $$browser; [ $$? -eq 0 ] && [ $$kafka -eq 0 ] && [ $$venv -eq 0 ]
	@$(call timed,lint,$(MAKE) --no-print-directory lint)
	@rm -f $(HELM_LOG) $(HELM_LOG).status; export SIGNPOST_HELM_BUILD_LOG=$(abspath $(HELM_LOG)); \
	{ $(call timed,helm build (beside the tests),nice -n 10 $(MAKE) --no-print-directory helm); \
	  echo $$? > $(HELM_LOG).status.tmp; mv $(HELM_LOG).status.tmp $(HELM_LOG).status; } > $(HELM_LOG) 2>&1 & built=$$!; \
	{ $(call timed,mypy (beside the tests),$(VENV)/bin/mypy); } > $(VENV)/mypy.log 2>&1 & types=$$!; \
	echo "make helm & $(VENV)/bin/mypy (beside the tests) & $(VENV)/bin/pytest $(PYTEST_ARGS)"; \
	$(call timed,pytest,$(VENV)/bin/pytest $(PYTEST_ARGS)); tests=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.log; wait $$built; cat $(HELM_LOG); \
	[ "$$(cat $(HELM_LOG).status)" = 0 ] && [ $$tests -eq 0 ] && [ $$typed -eq 0 ]

# The operations page is tested in Debian's Chromium, driven by Playwright (never Playwright's own download).
chromium:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		{ echo "install Debian's chromium (apt-get install -y chromium) for the operations page test" >&2; exit 1; }

# Helm renders the Kubernetes chart in the tests: built from the Go module proxy into the virtualenv (no binary download).
# Cold (empty module and build caches) it took 423 s on the loaded 2-core machine, so `make test` builds it beside the
# tests. Without the symbol table and DWARF (-s -w) its link took 12.5 s against 16.2 s, and the binary is 79 MB, not 110.
HELM_VERSION := v3.22.0
HELM_STAMP := $(VENV)/.helm-$(HELM_VERSION)

$(HELM_STAMP): | $(STAMP)
	@command -v go >/dev/null || { echo "Go is needed to build helm $(HELM_VERSION) (go install from the module proxy)" >&2; exit 1; }
	GOBIN=$(abspath $(VENV))/bin GOFLAGS=-buildvcs=false go install -ldflags='-s -w' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	touch $(HELM_STAMP)

helm: $(HELM_STAMP)

# The chart under deploy/kubernetes: its Kafka topics and ACLs regenerated from signpost/topics.py and
# deploy/kafka/acls.py, then rendered and validated against the Kubernetes and operator schemas. The agencies come from
# the directory and the registry the local launchers use (the development one: a deployer's own adds its agencies).
kubernetes: $(STAMP) helm
	SIGNPOST_DEVELOPMENT_MODE=1 $(PY) -m deploy.kubernetes.generate
	$(PY) -m deploy.kubernetes.render | $(PY) -m deploy.kubernetes.validate -

schemas: $(STAMP)
	$(PY) -m schemas.generate

# The hazard log's rendering (docs/safety/hazard-log.md) from safety/hazard-log.yaml; a test fails when it is stale.
safety: $(STAMP)
	$(PY) -m safety.render

stop: $(STAMP)
	$(PY) -m deploy.kafka.security stop
	$(PY) -m deploy.kafka.local stop
	$(PY) -m deploy.postgres.local stop

clean: stop
	rm -rf .signpost

# BENCH_ARGS, e.g. "--rates 12 50 --seconds 10 --intake-records 500 --pipeline-records 1000", sizes a run.
# Load tools send a whole area's referrals through one client, far past one practice's rate limit, and the
# bench's demo pharmacy reports on all of them (at 300/minute, 41 of its 341 reports were refused with 429, one of
# them a decline, which then read as a decline the router never rerouted).
LOAD_LIMITS := SIGNPOST_RATE_LIMIT_REFERRER=1000000/minute SIGNPOST_RATE_LIMIT_AGENCY=1000000/minute

bench: bytecode kafka
	SIGNPOST_DEVELOPMENT_MODE=1 $(LOAD_LIMITS) $(PY) -m benchmarks.pipeline $(BENCH_ARGS)

# The pure routing decision alone: decisions/s for 10 and 1,000 rules x 100 and 100,000 directory entries.
bench-router: $(STAMP)
	$(PY) -m benchmarks.router_decide

# The audit log's growth: bytes/row, rows/s recorded, GB per million referrals, verify time (PostgreSQL only; scratch database).
bench-audit: $(STAMP)
	SIGNPOST_DEVELOPMENT_MODE=1 $(PY) -m benchmarks.audit_growth

# CPU per referral per process, baseline vs a 1M-row audit log, 10x the agencies' topics, a 100k-entry directory:
# each case on a stack of its own (ports from SIGNPOST_BENCH_PORT_BASE, default 17700), the same load in every case.
bench-growth: bytecode kafka
	SIGNPOST_DEVELOPMENT_MODE=1 $(LOAD_LIMITS) $(PY) -m benchmarks.growth $(GROWTH_ARGS)

# Referrals under load while every service, the broker and PostgreSQL are killed; exit 1 on any loss or duplicate.
# INSTANCES=2: that many instances of every service instead, each relay-lock holder SIGKILLed in turn and started
# again, a third instance joining and leaving each consumer group; exit 1 on any loss, duplicate or reordering.
INSTANCES ?= 1
chaos: bytecode kafka
ifeq ($(INSTANCES),1)
	SIGNPOST_DEVELOPMENT_MODE=1 $(LOAD_LIMITS) $(PY) -m benchmarks.chaos --referrals 10000
else
	SIGNPOST_DEVELOPMENT_MODE=1 $(PY) -m benchmarks.scale_out --instances $(INSTANCES)
endif
