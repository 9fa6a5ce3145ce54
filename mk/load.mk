# mk/load.mk - `make load` (included by the Makefile, after B is set): the real server under wrk
# over TLS beside nginx as the ceiling; prints a table of figures and passes or fails nothing.
# See scripts/load.sh for what it runs and its settings.
#
#   make load                      10 s per run, about 3.5 minutes in all
#   make load LOAD_SECONDS=5       shorter runs
#   make load LOAD_RT=1            servers and wrk SCHED_FIFO (a machine busy with other work)
#   make load LOAD_PERF=1          add perf profiles of archgate (16 keep-alive, 16 new connections)
#   make load LOAD_TRANSPORT=1     add archgate answering the same POST with a 405 (TLS+HTTP alone)

LOAD_SECONDS ?= 10
LOAD_RT ?= 0
LOAD_PERF ?= 0
LOAD_TRANSPORT ?= 0

.PHONY: load load-deps
load-deps:
	@scripts/deps.sh
	@scripts/load/deps.sh

load: load-deps
	@$(MAKE) --no-print-directory $(B)/archgate $(B)/bench_request
	LOAD_SECONDS=$(LOAD_SECONDS) LOAD_RT=$(LOAD_RT) LOAD_PERF=$(LOAD_PERF) LOAD_TRANSPORT=$(LOAD_TRANSPORT) scripts/load.sh $(B)/archgate
