# mk/soak.mk - soak, fault and memory checks of the real server (minutes; not part of `make test`).
# Included by the Makefile after its variables.
#
#   make soak        SOAK_SECONDS (600) of mixed traffic; RSS and open fds sampled every second
#   make faults      certificate rotation, SIGTERM in flight, kube-apiserver killed and restarted,
#                    1,000 idle connections, a one-byte-per-second client (about 2 minutes)
#   make soak-scale  live mode at cluster scale: 5,000 KubeVirt workers, 2,000 DataSources served by
#                    the stand-in kube-apiserver, 500 node events a second for SOAK_SECONDS, RSS
#                    printed every 10 s (scripts/bench/memory.sh)
#   make valgrind    build/itest with the server under valgrind memcheck, and build/unit_tests
#   make fresh-root-test  make test and make run as a newcomer: a clone inside a fresh Debian 12 root
#                    (debootstrap: build-essential, git, ca-certificates, curl only); 20-30 minutes

SOAK_GOAL_BEFORE := $(.DEFAULT_GOAL)
SOAK_SECONDS ?= 600
VALGRIND_SUITES ?=
LOAD_COMMON_SRC := tests/load/loadutil.c tests/itest_util.c tests/testutil.c
LOAD_COMMON_OBJ = $(patsubst %.c,$(B)/obj/%.o,$(LOAD_COMMON_SRC))
KUBEFAKE_SERVER_OBJ = $(patsubst %.c,$(B)/obj/%.o,tests/load/kubefake_main.c tests/kubefake.c tests/testutil.c)

.PHONY: soak soak-scale faults valgrind fresh-root-test

$(B)/soak: $(LIB_OBJ) $(LOAD_COMMON_OBJ) $(B)/obj/tests/load/soak.o
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

$(B)/faults: $(LIB_OBJ) $(LOAD_COMMON_OBJ) $(B)/obj/tests/load/faults.o
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

$(B)/kubefake_server: $(LIB_OBJ) $(KUBEFAKE_SERVER_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

$(B)/obj/tests/load/%.o: CFLAGS_ALL += -Itests

soak: $(B)/archgate $(B)/soak
	ARCHGATE_BIN=$${ARCHGATE_BIN:-$(B)/archgate} $(B)/soak $(SOAK_SECONDS)

soak-scale: deps $(B)/archgate $(B)/kubefake_server certs
	MEM_MODES=live MEM_CHURN_SECONDS=$(SOAK_SECONDS) MEM_SAMPLE=10 MEM_VERBOSE=1 scripts/bench/memory.sh

fresh-root-test:
	scripts/fresh-root-test.sh

faults: $(B)/archgate $(B)/faults $(B)/kubefake_server
	ARCHGATE_BIN=$${ARCHGATE_BIN:-$(B)/archgate} KUBEFAKE_BIN=$(B)/kubefake_server $(B)/faults

# The integration suite with every archgate it starts under memcheck (scripts/valgrind-archgate.sh),
# then the unit tests under memcheck. VALGRIND_SUITES selects itest suites (default: all); fails on
# a memcheck error or definite leak, and on a failed test only with VALGRIND_STRICT=1.
valgrind: $(B)/archgate $(B)/itest $(B)/unit_tests
	@command -v valgrind >/dev/null 2>&1 || { echo "valgrind not found: apt-get install valgrind" >&2; exit 1; }
	@scripts/valgrind-run.sh $(B) $(VALGRIND_SUITES)

# Included before the Makefile's first rule, these rules must not become the default goal.
.DEFAULT_GOAL := $(SOAK_GOAL_BEFORE)
