# mk/fuzz.mk - the libFuzzer targets besides fuzz_review (included by the Makefile):
#   build/fuzz_cluster  cluster-state object loaders (tests/fuzz/fuzz_cluster.c, seeds corpus-cluster/)
#   build/fuzz_patch    JSON Patch builder, pointer escaping, base64 (fuzz_patch.c, corpus-patch/)
#   build/fuzz_watch    watch-stream lines into the live-cluster store, and VM/VMI watch lines and
#                       list pages into the audit inventory (fuzz_watch.c, corpus-watch/)
#   build/fuzz_registry image references, manifests/indexes/configs, challenges, Docker config
#                       files and token answers (fuzz_registry.c, corpus-registry/)
#   build/fuzz_yaml     manifest text (YAML/JSON) into documents for archgate check (fuzz_yaml.c, corpus-yaml/)
#
#   make fuzz-all       every target (fuzz_review too) for $(FUZZ_LONG_SECONDS) s each, one at a
#                       time; new inputs go to build/fuzz-corpus*/, never to tests/fuzz/
#   make fuzz-brief     the five targets above for $(FUZZ_BRIEF_SECONDS) s each (scripts/fuzz-brief.sh)

FUZZ_BRIEF_SECONDS ?= 15
FUZZ_EXTRA_NAMES := cluster patch watch registry yaml
FUZZ_EXTRA_BINS := $(patsubst %,$(B)/fuzz_%,$(FUZZ_EXTRA_NAMES))
FUZZ_ALL_BINS := $(B)/fuzz_review $(FUZZ_EXTRA_BINS)
# libFuzzer options shared by every run (as fuzz-run uses for fuzz_review)
FUZZ_RUN_OPTS := -timeout=10 -rss_limit_mb=2048 -print_final_stats=1

.PHONY: fuzz-all fuzz-brief

# Every target above is one tests/fuzz/fuzz_<name>.c linked with the library sources.
$(FUZZ_EXTRA_BINS): $(B)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC)
	@mkdir -p $(B)
	@echo "  FUZZ    $@"
	@$(CLANG) $(FUZZ_FLAGS) -o $@ $^ $(PKG_LIBS)

# One target after another (a crash in one does not stop the others; the run fails at the end).
fuzz-all: $(FUZZ_ALL_BINS)
	@failed=""; \
	$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_LONG_SECONDS) || failed="$$failed review"; \
	for t in $(FUZZ_EXTRA_NAMES); do \
	    mkdir -p $(B)/fuzz-corpus-$$t; \
	    case $$t in patch) len=4096;; *) len=65536;; esac; \
	    echo "$(B)/fuzz_$$t for $(FUZZ_LONG_SECONDS) s"; \
	    $(B)/fuzz_$$t -max_total_time=$(FUZZ_LONG_SECONDS) -max_len=$$len $(FUZZ_RUN_OPTS) \
	        -artifact_prefix=$(B)/fuzz-corpus-$$t- $(B)/fuzz-corpus-$$t tests/fuzz/corpus-$$t \
	        || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz-all: crashes in:$$failed"; exit 1; fi

fuzz-brief: $(FUZZ_EXTRA_BINS)
	@B=$(B) FUZZ_BRIEF_SECONDS=$(FUZZ_BRIEF_SECONDS) scripts/fuzz-brief.sh
