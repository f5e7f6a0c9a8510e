# modelgate - plain, non-recursive GNU Make (see docs/ARCHITECTURE.md for why).
#
#   make deps    install missing Debian packages (idempotent; every target needs it)
#   make         release build: build/release/modelgate
#   make test    sanitizer build (ASan+UBSan) and every test; ends with "N passed, N failed"
#   make run     build and scan the example models
#   make check   clang-format and cppcheck
#   make fuzz T=NAME SECS=N   a libFuzzer campaign on one target
#   make bench   benchmarks (inputs generated under build/bench), results in bench/RESULTS.md
#   make fixtures  regenerate the committed test fixtures with Debian's Python libraries

SHELL := /bin/bash
.DEFAULT_GOAL := all

include mk/deps.mk

CC ?= cc
TEST_CC := clang
FUZZ_CC := clang

LIB_SRC := $(wildcard src/lib/*.c src/lib/util/*.c src/lib/formats/*.c src/lib/rules/*.c src/lib/policy/*.c)
# the command: subcommands, and the service's store and HTTP server (outside the library: they
# touch the network and the database, which libmodelgate never does)
CLI_SRC := $(wildcard src/cli/*.c src/common/*.c src/store/*.c src/server/*.c src/sources/*.c src/gateway/*.c)
# the OpenAPI document the service serves at /api/v1/openapi.json, and the dashboard (every file
# under web/, served at / and /ui/), compiled into the command
CLI_GEN := build/gen/openapi_json.c build/gen/web_assets.c
# web/'s files and folders (a folder's time changes when a file is added or removed)
WEB_FILES := $(shell find web -name '.?*' -prune -o -type f -print 2>/dev/null | grep -E '^[A-Za-z0-9._/-]+$$')
WEB_DIRS := $(shell find web -name '.?*' -prune -o -type d -print 2>/dev/null | grep -E '^[A-Za-z0-9._/-]+$$')
# every data file under src/lib/rules/ is compiled in as mg_data_<name>
# (pickle.rules -> mg_data_pickle_rules, tf_ops.txt -> mg_data_tf_ops_txt)
RULES_DATA := $(wildcard src/lib/rules/*.rules src/lib/rules/*.txt)
GEN_SRC := $(patsubst src/lib/rules/%,build/gen/data_%.c,$(RULES_DATA)) build/gen/data_index.c
LIBS := -ljansson -lcrypto -lz -larchive -lyaml -lmicrohttpd -lsqlite3 -lpq -lcurl -lexpat -lpthread

WARN := -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2 -Wno-unused-parameter
# libpq's header (the PostgreSQL store) is in its own folder on Debian
PQ_INC := $(or $(shell pkg-config --cflags-only-I libpq 2>/dev/null),-I/usr/include/postgresql)
INC := -Iinclude -Isrc/lib $(PQ_INC)
RELEASE_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) $(INC) -D_FORTIFY_SOURCE=2 \
	-fstack-protector-strong -fPIE -fstack-clash-protection -fcf-protection
RELEASE_LDFLAGS := -pie -Wl,-z,relro,-z,now,-z,noexecstack
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
TEST_CFLAGS := -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) $(INC) $(SAN)

# ---- generated: the rules text compiled into the library ----
build/gen/data_%.c: src/lib/rules/% mk/embed.sh
	@mkdir -p $(@D)
	mk/embed.sh mg_data_$(subst .,_,$*) $< > $@

# every embedded data file, so the rules version covers all of them
build/gen/data_index.c: $(RULES_DATA) mk/embed.sh Makefile
	@mkdir -p $(@D)
	mk/embed.sh --index $(foreach f,$(RULES_DATA),mg_data_$(subst .,_,$(notdir $(f)))) > $@

build/gen/openapi_json.c: docs/openapi.json mk/embed.sh
	@mkdir -p $(@D)
	mk/embed.sh mg_openapi_json $< > $@

build/gen/web_assets.c: $(WEB_FILES) $(WEB_DIRS) mk/embed_dir.sh
	@mkdir -p $(@D)
	mk/embed_dir.sh web > $@.tmp && mv $@.tmp $@

# ---- release ----
REL_OBJ := $(patsubst %.c,build/release/obj/%.o,$(LIB_SRC) $(GEN_SRC))
REL_CLI_OBJ := $(patsubst %.c,build/release/obj/%.o,$(CLI_SRC) $(CLI_GEN))

build/release/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(RELEASE_CFLAGS) -MMD -MP -c $< -o $@

build/release/libmodelgate.a: $(REL_OBJ)
	ar rcs $@ $^

build/release/modelgate: $(REL_CLI_OBJ) build/release/libmodelgate.a
	$(CC) $(RELEASE_LDFLAGS) -o $@ $^ $(LIBS)

all: deps build/release/modelgate

# ---- test build (ASan + UBSan) ----
TEST_OBJ := $(patsubst %.c,build/test/obj/%.o,$(LIB_SRC) $(GEN_SRC))
TEST_CLI_OBJ := $(patsubst %.c,build/test/obj/%.o,$(CLI_SRC) $(CLI_GEN))
UNIT_SRC := $(wildcard tests/unit/*.c)
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

build/test/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(TEST_CC) $(TEST_CFLAGS) -MMD -MP -c $< -o $@

build/test/libmodelgate.a: $(TEST_OBJ)
	ar rcs $@ $^

build/test/modelgate: $(TEST_CLI_OBJ) build/test/libmodelgate.a
	$(TEST_CC) $(SAN) -o $@ $^ $(LIBS)

# the unit tests also cover the command's network-free helpers: SigV4, AWS settings, S3 XML, the
# rate limits, and the SQLite store (on a file in a temporary directory)
UNIT_CLI_OBJ := $(patsubst %.c,build/test/obj/%.o,src/sources/sigv4.c src/sources/aws_env.c src/sources/s3_xml.c \
	src/server/ratelimit.c $(wildcard src/store/*.c))
build/test/unit: $(UNIT_SRC) build/test/libmodelgate.a $(UNIT_CLI_OBJ)
	$(TEST_CC) $(TEST_CFLAGS) -Itests/unit -Isrc -o $@ $(UNIT_SRC) $(UNIT_CLI_OBJ) build/test/libmodelgate.a $(LIBS)

# each fuzz target also builds as a plain program that replays its corpus
build/test/replay_%: fuzz/fuzz_%.c fuzz/replay_main.c build/test/libmodelgate.a
	$(TEST_CC) $(TEST_CFLAGS) -o $@ fuzz/fuzz_$*.c fuzz/replay_main.c $(filter %.o,$^) build/test/libmodelgate.a $(LIBS)
# targets over the command's parsers link their object too
build/test/replay_s3_list: build/test/obj/src/sources/s3_xml.o
build/fuzz/fuzz_s3_list: build/fuzz/obj/src/sources/s3_xml.o
build/test/replay_hub_tree: $(filter build/test/obj/src/sources/%,$(TEST_CLI_OBJ)) build/test/obj/src/common/lex.o
build/fuzz/fuzz_hub_tree: $(patsubst %.c,build/fuzz/obj/%.o,$(filter src/sources/%,$(CLI_SRC)) src/common/lex.c)
build/test/replay_gateway_route: build/test/obj/src/gateway/route.o build/test/obj/src/common/lex.o
build/fuzz/fuzz_gateway_route: build/fuzz/obj/src/gateway/route.o build/fuzz/obj/src/common/lex.o

# the S3 source against a local S3 server (tests/e2e/s3_test.py)
build/test/s3_probe: tests/e2e/s3_probe.c $(filter build/test/obj/src/sources/%,$(TEST_CLI_OBJ)) build/test/obj/src/common/lex.o build/test/libmodelgate.a
	$(TEST_CC) $(TEST_CFLAGS) -Isrc -o $@ $^ $(LIBS)

# the hub source against a stand-in hub (tests/e2e/hub_test.py)
build/test/hub_probe: tests/e2e/hub_probe.c $(filter build/test/obj/src/sources/%,$(TEST_CLI_OBJ)) build/test/obj/src/common/lex.o build/test/libmodelgate.a
	$(TEST_CC) $(TEST_CFLAGS) -Isrc -o $@ $^ $(LIBS)

# the staging of remote models against full reads, over a stand-in source
build/test/stage_check: tests/sources/stage_check.c src/sources/stage.c src/sources/stage.h build/test/libmodelgate.a
	$(TEST_CC) $(TEST_CFLAGS) -o $@ tests/sources/stage_check.c src/sources/stage.c build/test/libmodelgate.a $(LIBS)

TEST_BINS := build/test/modelgate build/test/unit build/test/stage_check build/test/s3_probe $(patsubst %,build/test/replay_%,$(FUZZ_TARGETS))

TEST_BINS += build/test/hub_probe

test: deps $(TEST_BINS) build/release/modelgate
	@tests/run.sh

# ---- fuzzing (libFuzzer) ----
FUZZ_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(LIB_SRC) $(GEN_SRC))
build/fuzz/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -O1 -g $(INC) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
build/fuzz/libmodelgate.a: $(FUZZ_OBJ)
	ar rcs $@ $^
build/fuzz/fuzz_%: fuzz/fuzz_%.c build/fuzz/libmodelgate.a
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -O1 -g $(INC) -fsanitize=fuzzer,address,undefined -o $@ fuzz/fuzz_$*.c \
		$(filter %.o,$^) build/fuzz/libmodelgate.a $(LIBS)

T ?= pickle
SECS ?= 60
fuzz: deps build/fuzz/fuzz_$(T)
	@mkdir -p build/fuzz/corpus_$(T)
	build/fuzz/fuzz_$(T) -max_total_time=$(SECS) -timeout=10 -rss_limit_mb=2048 \
		$(if $(wildcard fuzz/dict/$(T).dict),-dict=fuzz/dict/$(T).dict) \
		-artifact_prefix=build/fuzz/crash_$(T)_ build/fuzz/corpus_$(T) fuzz/corpus/$(T)

# ---- the rest ----
# scans the examples, then runs the service in the foreground on its embedded
# SQLite store in ./var (LISTEN=ADDR:PORT to change where; Ctrl-C stops it)
LISTEN ?= 127.0.0.1:8080
GATEWAY ?= 127.0.0.1:8081
run: all
	@for m in examples/clean-model examples/tampered-model; do \
	  echo "$$ modelgate scan $$m"; build/release/modelgate scan --format text $$m; \
	  rc=$$?; echo "(exit $$rc)"; echo; [ $$rc -le 1 ] || exit $$rc; \
	done
	@echo "$$ modelgate serve --listen $(LISTEN) --data var --root . --gateway $(GATEWAY)"
	@echo "(the Hub gateway: HF_ENDPOINT=http://$(GATEWAY) huggingface-cli download ...; docs/gateway.md)"
	@exec build/release/modelgate serve --listen $(LISTEN) --data var --root . --gateway $(GATEWAY)

check: deps
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) include/modelgate.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=missingIncludeSystem -D_GNU_SOURCE $(INC) src/lib src/cli src/common src/store src/server src/sources src/gateway

bench: all
	bench/run.sh
	bench/formats.sh
	bench/service.sh
	bench/gateway.sh
	bench/cluster.sh

fixtures: deps deps-fixtures
	@for g in tests/corpus/make_*_fixtures.py; do \
	  n=$${g#tests/corpus/make_}; n=$${n%_fixtures.py}; \
	  echo "$$g -> tests/corpus/$$n"; /usr/bin/python3 $$g tests/corpus/$$n || exit 1; \
	done

install: all
	install -D -m 0755 build/release/modelgate $(DESTDIR)/usr/local/bin/modelgate
	install -D -m 0644 include/modelgate.h $(DESTDIR)/usr/local/include/modelgate.h
	install -D -m 0644 build/release/libmodelgate.a $(DESTDIR)/usr/local/lib/libmodelgate.a

clean:
	rm -rf build

.PHONY: all test run check bench fuzz fixtures install clean
# generated sources are kept between runs (no needless recompiles)
.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
