# coring — build, test, bench, install.
#
#   make                 lib/libcoring.a, lib/libcoring.so.$(VERSION), coring.pc
#   make test            installs what is missing, builds and runs the Criterion suite
#   make test SANITIZE=address,undefined   (or thread) the same suite under sanitizers
#   make bench           the benchmark suite against its peers (see bench/README.md)
#   make install PREFIX=/usr/local DESTDIR=
#   make check-aarch64   cross-build the AArch64 context switch and run its test in qemu

comma    := ,
VERSION  := 0.1.0
SOMAJOR  := 0
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= gcc
CXX      ?= g++
SANITIZE ?=
MACHINE  := $(shell uname -m)

ifeq ($(MACHINE),x86_64)
ARCH_SRC := lib/arch/x86_64-sysv.S
else ifeq ($(MACHINE),aarch64)
ARCH_SRC := lib/arch/aarch64-aapcs64.S
else
$(error coring has no context switch for $(MACHINE) yet)
endif

WARN     := -Wall -Wextra -Werror
CFLAGS_BASE := -std=gnu11 -D_GNU_SOURCE -O2 -g -fPIC -fvisibility=hidden $(WARN) -Iinclude -Ilib
# TLS streams (lib/io/tls.c) link OpenSSL 3, found by pkg-config.
OPENSSL_LIBS := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
LDLIBS_BASE := -luring -lpthread $(OPENSSL_LIBS)

comma := ,
ifneq ($(SANITIZE),)
BUILD    ?= build/san-$(subst $(comma),-,$(SANITIZE))
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LIBDIR   := $(BUILD)
else
BUILD    ?= build/release
SANFLAGS :=
LIBDIR   ?= lib
endif

CFLAGS   := $(CFLAGS_BASE) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS  := $(SANFLAGS)

LIB_SRCS := $(wildcard lib/*/*.c)
LIB_HDRS := $(wildcard lib/*/*.h) include/coring.h $(wildcard include/coring/*.h)
LIB_OBJS := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS)) $(BUILD)/lib/arch.o
STATIC   := $(LIBDIR)/libcoring.a
SHARED   := $(LIBDIR)/libcoring.so.$(VERSION)

# One binary per test file, so a failure names its subsystem. TESTS= narrows it.
TESTS     ?= $(wildcard tests/test-*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TESTS))
CTX_TEST  := $(BUILD)/tests/ctx-selftest

.PHONY: all test test-build deps bench install uninstall clean check-aarch64 examples
all: $(STATIC) $(SHARED) coring.pc

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDRS) | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/lib/arch.o: $(ARCH_SRC) lib/arch/ctx.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJS) lib/coring.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libcoring.so.$(SOMAJOR) -Wl,--version-script=lib/coring.map \
	    -Wl,-z,noexecstack $(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS_BASE)
	ln -sf libcoring.so.$(VERSION) $(LIBDIR)/libcoring.so.$(SOMAJOR)
	ln -sf libcoring.so.$(SOMAJOR) $(LIBDIR)/libcoring.so

coring.pc: coring.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# Installs (or names) the Debian packages a target needs.
.PHONY: deps-build deps-test
deps-build:
	@tools/deps.sh build
deps-test:
	@tools/deps.sh test

# Under TSan the suites build against tests/lite (see the header there).
ifneq ($(findstring thread,$(SANITIZE)),)
TEST_INC  := -Itests/lite
TEST_LIBS :=
else
TEST_INC  :=
TEST_LIBS := -lcriterion
endif

$(BUILD)/tests/test-%: tests/test-%.c tests/*.h tests/lite/criterion/criterion.h $(STATIC) | deps-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_INC) -o $@ $< $(STATIC) $(LDFLAGS) $(TEST_LIBS) $(LDLIBS_BASE)

$(CTX_TEST): tests/ctx-selftest.c $(ARCH_SRC) lib/arch/ctx.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ tests/ctx-selftest.c $(ARCH_SRC) $(LDFLAGS)

test-build: $(TEST_BINS) $(CTX_TEST)

# Runs every binary, prints each one's Criterion synthesis and one total line.
test: test-build
	@tools/run-tests.sh $(CTX_TEST) $(TEST_BINS)

check-aarch64:
	tools/check-aarch64.sh

examples: $(STATIC)
	$(MAKE) -C examples

bench: all
	@tools/deps.sh bench
	$(MAKE) -C bench run

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -d $(DESTDIR)$(PREFIX)/include/coring
	install -m 644 include/coring.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/coring/*.h $(DESTDIR)$(PREFIX)/include/coring/
	install -m 644 lib/libcoring.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 lib/libcoring.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcoring.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcoring.so.$(SOMAJOR)
	ln -sf libcoring.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libcoring.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' coring.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/coring.pc

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/include/coring.h $(DESTDIR)$(PREFIX)/include/coring $(DESTDIR)$(PREFIX)/lib/libcoring.* \
	      $(DESTDIR)$(PREFIX)/lib/pkgconfig/coring.pc

clean:
	rm -rf build lib/libcoring.a lib/libcoring.so* coring.pc
