# archgate - build, test and run. See README.md.
#
#   make            build build/archgate
#   make run        install missing packages, make dev certificates, serve the sample cluster
#   make install    build/archgate and the kubectl-archgate plugin link into $(PREFIX)/bin (/usr/local)
#   make test       install missing packages, build, and run every test (unit, sanitizers,
#                   integration over TLS, fuzzing for $(FUZZ_SECONDS) s)
#   make bench      decision, live-cluster and memory benchmarks (print figures; not tests)
#   make fuzz       run every fuzz target for $(FUZZ_LONG_SECONDS) s each
#   make load       the real server under wrk beside nginx (figures; see mk/load.mk)
#   make soak, make faults, make valgrind   minutes-long reliability runs (see mk/soak.mk)

CC      ?= cc
ifeq ($(origin CC),default)
CC      := gcc
endif
CLANG   ?= clang
PKGS    := libmicrohttpd libcjson openssl libcurl gnutls yaml-0.1
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
TEST_LIBS  = $(shell pkg-config --libs cunit 2>/dev/null) $(PKG_LIBS)
CFLAGS_ALL = $(CSTD) $(OPT) $(WARN) -Isrc $(PKG_CFLAGS) -MMD -MP $(CFLAGS)

# Modules live in src/ and, grouped by concern, in its sub-folders (src/<concern>/*.c); headers
# are included by their path below src/.
SRC      := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRC  := $(filter-out src/main.c,$(SRC))
UNIT_SRC := $(sort $(wildcard tests/test_*.c)) tests/unit_main.c tests/testutil.c $(wildcard tests/kubefake.c)
ITEST_SRC := $(sort $(wildcard tests/itest_*.c)) tests/itest_main.c tests/testutil.c $(wildcard tests/kubefake.c) tests/regharness.c
BENCH_SRC := tests/bench/bench_decide.c tests/testutil.c
BENCH_KUBE_SRC := tests/bench/bench_kube.c tests/testutil.c tests/kubefake.c
BENCH_REQ_SRC := tests/bench/bench_request.c tests/testutil.c
BENCH_REG_SRC := tests/bench/bench_registry.c tests/testutil.c tests/regharness.c
BENCH_AUDIT_SRC := tests/bench/bench_audit.c tests/testutil.c
BENCH_KUBE_OBJ = $(patsubst %.c,$(B)/obj/%.o,$(BENCH_KUBE_SRC))

B := build
OBJ       := $(patsubst %.c,$(B)/obj/%.o,$(SRC))
LIB_OBJ   := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC))
UNIT_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(UNIT_SRC))
ITEST_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(ITEST_SRC))
BENCH_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(BENCH_SRC))
BENCH_REQ_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(BENCH_REQ_SRC))
BENCH_REG_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(BENCH_REG_SRC))
BENCH_AUDIT_OBJ := $(patsubst %.c,$(B)/obj/%.o,$(BENCH_AUDIT_SRC))
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_LIB_OBJ  := $(patsubst %.c,$(B)/san/%.o,$(LIB_SRC))
SAN_UNIT_OBJ := $(patsubst %.c,$(B)/san/%.o,$(UNIT_SRC))

FUZZ_SECONDS ?= 60
FUZZ_LONG_SECONDS ?= 600
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g -O1 $(CSTD) -Isrc $(PKG_CFLAGS) -DARCHGATE_FUZZ
CERTS := $(B)/certs

.PHONY: all deps run test unit unit-san itest fuzz fuzz-run bench bench-memory certs clean lint install
all: $(B)/archgate

deps:
	@scripts/deps.sh

$(B)/archgate: $(OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(LDFLAGS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC SAN  $<"
	@$(CC) $(CFLAGS_ALL) $(SAN_FLAGS) -c -o $@ $<

$(B)/unit_tests: $(LIB_OBJ) $(UNIT_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

$(B)/unit_tests_san: $(SAN_LIB_OBJ) $(SAN_UNIT_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) $(SAN_FLAGS) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

$(B)/itest: $(LIB_OBJ) $(ITEST_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

# Every benchmark is the library and its own objects, linked by one rule.
BENCH_BINS := $(B)/bench_decide $(B)/bench_kube $(B)/bench_request $(B)/bench_registry $(B)/bench_audit
$(B)/bench_decide: $(BENCH_OBJ)
$(B)/bench_kube: $(BENCH_KUBE_OBJ)
$(B)/bench_request: $(BENCH_REQ_OBJ)
$(B)/bench_registry: $(BENCH_REG_OBJ)
$(B)/bench_audit: $(BENCH_AUDIT_OBJ)
$(BENCH_BINS): $(LIB_OBJ)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS_ALL) -o $@ $^ $(TEST_LIBS) $(LDFLAGS)

$(B)/fuzz_review: tests/fuzz/fuzz_review.c $(LIB_SRC)
	@mkdir -p $(B)
	@echo "  FUZZ    $@"
	@$(CLANG) $(FUZZ_FLAGS) -o $@ $^ $(PKG_LIBS)

certs: $(CERTS)/tls.crt
$(CERTS)/tls.crt: certs/gen-certs.sh
	certs/gen-certs.sh $(CERTS)

unit: $(B)/unit_tests
	$(B)/unit_tests

unit-san: $(B)/unit_tests_san
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 $(B)/unit_tests_san

itest: $(B)/archgate $(B)/itest
	$(B)/itest

fuzz-run: $(B)/fuzz_review
	@mkdir -p $(B)/fuzz-corpus
	$(B)/fuzz_review -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 $(B)/fuzz-corpus tests/fuzz/corpus

fuzz: deps
	$(MAKE) fuzz-all

# The README's test command. Each stage prints its own summary; the last line totals them.
test: deps
	@$(MAKE) --no-print-directory all $(B)/unit_tests $(B)/unit_tests_san $(B)/itest $(B)/fuzz_review \
	    $(FUZZ_EXTRA_BINS) $(BENCH_BINS)
	@echo "=== the same build with clang (warning-free under -Werror)"
	@$(MAKE) --no-print-directory B=$(B)/clang CC=$(CLANG) all $(B)/clang/unit_tests $(B)/clang/itest
	@scripts/run-tests.sh

# Benchmarks print figures; they pass or fail nothing. BENCH_KUBE_SECONDS shortens the
# live-cluster one (500 node events per second while reviews run).
BENCH_KUBE_SECONDS ?= 60
bench: deps $(BENCH_BINS) bench-memory
	$(B)/bench_decide
	$(B)/bench_audit
	$(B)/bench_request
	$(B)/bench_registry
	$(B)/bench_kube $(BENCH_KUBE_SECONDS)

# Memory at cluster scale (5,000 KubeVirt workers, 2,000 DataSources, 10,000 VMs), file and live
# mode, then MEM_CHURN_SECONDS (600) of churn; see scripts/bench/memory.sh for the knobs.
bench-memory: deps $(B)/archgate $(B)/kubefake_server certs
	scripts/bench/memory.sh

run: deps all certs
	$(B)/archgate serve --listen 127.0.0.1:8443 --tls-cert $(CERTS)/tls.crt --tls-key $(CERTS)/tls.key \
	    --cluster-state manifests/samples/cluster

# build/archgate into $(DESTDIR)$(PREFIX)/bin, with the kubectl plugin link kubectl-archgate beside it
# (kubectl runs kubectl-archgate for `kubectl archgate ...`).
PREFIX ?= /usr/local
install: $(B)/archgate
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(B)/archgate $(DESTDIR)$(PREFIX)/bin/archgate
	ln -sf archgate $(DESTDIR)$(PREFIX)/bin/kubectl-archgate

lint:
	@! grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|strtok|gets)\s*\(' src

clean:
	rm -rf $(B)

include mk/manifests.mk mk/load.mk mk/soak.mk mk/fuzz.mk

-include $(shell find $(B) -name '*.d' -type f 2>/dev/null)
