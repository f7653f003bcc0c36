# mbox-vault - plain `make` builds ./mbox-vault.
# `make check` installs missing Debian packages (as root), builds, and runs
# every test, including a sanitizer (ASan + UBSan) build.  See README.md.

CC ?= cc
PKGS = libsodium libzstd libcurl libarchive openssl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
       -Wmissing-prototypes -Wvla -Wformat=2 -Wconversion -Wno-sign-conversion
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(WARN) $(CFLAGS) -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -pthread
LIBS = $(PKG_LIBS) -pthread

# SANITIZE=1 builds into build/asan with ASan + UBSan and test hooks.
# TESTHOOKS=1 builds into build/test with test hooks (deterministic
# randomness, write-count crash injection) and no sanitizers.
ifeq ($(SANITIZE),1)
  B = build/asan
  ALL_CFLAGS += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer -DMV_TEST_HOOKS
  LIBS += -fsanitize=address,undefined
else ifeq ($(TESTHOOKS),1)
  B = build/test
  ALL_CFLAGS += -DMV_TEST_HOOKS
else
  B = build/release
endif

LIB_SRC = $(filter-out src/main.c src/cmd_%.c src/cli_%.c,$(wildcard src/*.c))
CLI_SRC = src/main.c $(wildcard src/cmd_*.c) $(wildcard src/cli_*.c)
LIB_OBJ = $(LIB_SRC:src/%.c=$(B)/%.o)
CLI_OBJ = $(CLI_SRC:src/%.c=$(B)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(B)/unit/%)
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%-replay)

.PHONY: all check demo bench fuzz clean deps unit tools
all: $(B)/mbox-vault
ifeq ($(B),build/release)
all: mbox-vault
mbox-vault: $(B)/mbox-vault
	cp $< $@
endif

$(B)/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/libmv.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/mbox-vault: $(CLI_OBJ) $(B)/libmv.a
	$(CC) -o $@ $(CLI_OBJ) $(B)/libmv.a $(LIBS)

$(B)/unit/%: tests/unit/%.c tests/unit/t.h $(B)/libmv.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(B)/libmv.a $(LIBS)

$(B)/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c $(B)/libmv.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< tests/fuzz/replay.c $(B)/libmv.a $(LIBS)

# The archive vector forger (tests/vectors/gen.sh, vectors/README.md).
$(B)/forge: tests/vectors/forge.c $(B)/libmv.a
	$(CC) $(ALL_CFLAGS) -o $@ $< $(B)/libmv.a $(LIBS)

tools: $(B)/mbox-vault $(UNIT_BIN) $(FUZZ_REPLAY) $(B)/forge

deps:
	@sh tests/install-deps.sh

check: deps
	@sh tests/run.sh

demo: deps
	@sh tests/demo.sh

bench: deps
	@sh bench/run.sh

# libFuzzer needs clang; each target runs for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz:
	@sh tests/fuzz/run-libfuzzer.sh $(FUZZ_SECONDS)

clean:
	rm -rf build mbox-vault
