# SPDX-License-Identifier: MIT
# coring — build, test, bench, install.
#
#   make                 lib/libcoring.a, lib/libcoring.so.$(VERSION), coring.pc
#                        (installs nothing: a missing package is named, not fetched)
#   make test            installs what is missing, builds with -Werror, runs the suite
#   make test SANITIZE=address,undefined   (or thread) the same suite under sanitizers
#   make bench           the benchmark suite against its peers (docs/bench.md)
#   make install         prefix=/usr/local DESTDIR= libdir= includedir= mandir=
#   make check-aarch64   cross-build the AArch64 context switch and run its test in qemu
#
# Packagers: CFLAGS, CPPFLAGS and LDFLAGS from the command line or the
# environment are appended to coring's own flags (never replace them), so
# distribution hardening flags apply; -Werror is used only by `make test`
# (WERROR=-Werror) and CI.

comma    := ,
VERSION  := 0.1.0
SOMAJOR  := 0
PREFIX   ?= /usr/local
prefix   ?= $(PREFIX)
libdir   ?= $(prefix)/lib
includedir ?= $(prefix)/include
mandir   ?= $(prefix)/share/man
pkgconfigdir ?= $(libdir)/pkgconfig
DESTDIR  ?=
CC       ?= gcc
CXX      ?= g++
SANITIZE ?=
WERROR   ?=
CFLAGS   ?= -O2 -g
MACHINE  := $(shell uname -m)

ifeq ($(MACHINE),x86_64)
ARCH_SRC := lib/arch/x86_64-sysv.S
else ifeq ($(MACHINE),aarch64)
ARCH_SRC := lib/arch/aarch64-aapcs64.S
else
$(error coring has no context switch for $(MACHINE) yet)
endif

WARN     := -Wall -Wextra $(WERROR)
CORING_CFLAGS := -std=gnu11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) -Iinclude -Ilib
# TLS streams (lib/io/tls.c) link OpenSSL 3, found by pkg-config.
OPENSSL_LIBS := $(shell pkg-config --libs openssl 2>/dev/null || echo -lssl -lcrypto)
LDLIBS_BASE := -luring -lpthread $(OPENSSL_LIBS)

ifneq ($(SANITIZE),)
BUILD    ?= build/san-$(subst $(comma),-,$(SANITIZE))
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LIBDIR   := $(BUILD)
else
BUILD    ?= build/release
SANFLAGS :=
LIBDIR   ?= lib
endif

ALL_CFLAGS  := $(CORING_CFLAGS) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)

LIB_SRCS := $(wildcard lib/*/*.c)
LIB_HDRS := $(wildcard lib/*/*.h) include/coring.h $(wildcard include/coring/*.h)
LIB_OBJS := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS)) $(BUILD)/lib/arch.o
STATIC   := $(LIBDIR)/libcoring.a
SHARED   := $(LIBDIR)/libcoring.so.$(VERSION)

# One binary per test file, so a failure names its subsystem. TESTS= narrows it.
TESTS     ?= $(wildcard tests/test-*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TESTS))
CTX_TEST  := $(BUILD)/tests/ctx-selftest

.PHONY: all test test-build test-preempt test-no-uring deps bench install uninstall clean check-aarch64 examples docs check-docs tools
all: $(STATIC) $(SHARED) coring.pc $(BUILD)/tools/coring-info

# tools/coring-info: the backend and kernel features a loop gets here.
tools: $(BUILD)/tools/coring-info
$(BUILD)/tools/coring-info: tools/coring-info.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(LDLIBS_BASE)

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDRS) | deps-build
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/lib/arch.o: $(ARCH_SRC) lib/arch/ctx.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Bound at load (-z now, with full RELRO): a lazily bound first call runs the
# dynamic linker's resolver on the caller's stack, and it saves the whole
# extended register state there (~2.7 KiB with AVX-512) — more than a lean
# task's slot holds (docs/memory.md).
$(SHARED): $(LIB_OBJS) lib/coring.map
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libcoring.so.$(SOMAJOR) -Wl,--version-script=lib/coring.map \
	    -Wl,-z,noexecstack -Wl,-z,relro -Wl,-z,now $(ALL_LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS_BASE)
	ln -sf libcoring.so.$(VERSION) $(LIBDIR)/libcoring.so.$(SOMAJOR)
	ln -sf libcoring.so.$(SOMAJOR) $(LIBDIR)/libcoring.so

PC_SED = sed -e 's|@PREFIX@|$(prefix)|' -e 's|@LIBDIR@|$(libdir)|' \
             -e 's|@INCLUDEDIR@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|'
coring.pc: coring.pc.in Makefile
	$(PC_SED) $< > $@

# `make` and `make install` only check for the packages they need and name
# what is missing; `make test` and `make bench` install it (apt-get, with sudo
# when not root): DEPS=install.
DEPS ?= check
.PHONY: deps-build deps-test
deps-build:
	@tools/deps.sh build $(DEPS)
deps-test:
	@tools/deps.sh test $(DEPS)

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
	$(CC) $(ALL_CFLAGS) $(TEST_INC) -o $@ $< $(STATIC) $(ALL_LDFLAGS) $(TEST_LIBS) $(LDLIBS_BASE)

$(CTX_TEST): tests/ctx-selftest.c $(ARCH_SRC) lib/arch/ctx.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/ctx-selftest.c $(ARCH_SRC) $(ALL_LDFLAGS)

test-build: $(TEST_BINS) $(CTX_TEST)

# Runs every binary, prints each one's Criterion synthesis and one total line.
# Installs what is missing first, and builds with -Werror.
test:
	@tools/deps.sh test install
	@$(MAKE) --no-print-directory test-build WERROR=-Werror DEPS=install
	@tools/run-tests.sh $(CTX_TEST) $(TEST_BINS)

# The same suite with random "preemptions" injected (tools/preempt-shim.c):
# at random clock reads a thread spins up to 1 ms, as on a slow,
# loaded machine. An ordering test that leans on two timers expiring in the
# same loop turn fails here, not only on a slower CI machine.
PREEMPT_SHIM := $(BUILD)/tools/preempt-shim.so
$(PREEMPT_SHIM): tools/preempt-shim.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra $(WERROR) -shared -fPIC -o $@ $< -ldl

test-preempt:
ifneq ($(SANITIZE),)
	$(error test-preempt runs the release build: the sanitizers must come first in the link map)
endif
	@tools/deps.sh test install
	@$(MAKE) --no-print-directory test-build $(PREEMPT_SHIM) WERROR=-Werror DEPS=install
	@LD_PRELOAD=$(abspath $(PREEMPT_SHIM)) tools/run-tests.sh $(CTX_TEST) $(TEST_BINS)

# What a user in a container that refuses io_uring gets (Docker's default
# seccomp profile, gVisor, kernel.io_uring_disabled): the examples and the
# whole suite, with the loop's own choice, under a seccomp filter that refuses
# io_uring (tools/no-uring.c; tools/no-uring-check.sh says what is checked).
NO_URING := $(BUILD)/tools/no-uring
$(NO_URING): tools/no-uring.c tests/seccomp-helpers.h
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra $(WERROR) -o $@ $<

test-no-uring:
	@tools/deps.sh test install
	@$(MAKE) --no-print-directory test-build examples $(NO_URING) WERROR=-Werror DEPS=install
	@tools/no-uring-check.sh $(abspath $(NO_URING)) $(CTX_TEST) $(TEST_BINS)

check-aarch64:
	tools/check-aarch64.sh

# The API reference: HTML and section-3 man pages (one per public function,
# suffix 3coring, as OpenSSL's 3ssl) from the public headers' doc comments,
# by Doxygen (docs/Doxyfile). Needs Debian's doxygen.
docs:
	@tools/deps.sh docs $(DEPS)
	@rm -rf build/docs && mkdir -p build/docs
	doxygen docs/Doxyfile
	@echo "coring: API reference in build/docs/html/index.html, man pages in build/docs/man/man3"

# CI: every exported symbol has a page.
check-docs: all docs
	tools/check-docs.sh

examples: $(STATIC)
	$(MAKE) -C examples

bench:
	@tools/deps.sh build install
	@$(MAKE) --no-print-directory all
	@tools/deps.sh bench install
	$(MAKE) -C bench run

install: all
	install -d $(DESTDIR)$(libdir) $(DESTDIR)$(includedir)/coring $(DESTDIR)$(pkgconfigdir)
	install -m 644 include/coring.h $(DESTDIR)$(includedir)/
	install -m 644 include/coring/*.h $(DESTDIR)$(includedir)/coring/
	install -m 644 lib/libcoring.a $(DESTDIR)$(libdir)/
	install -m 755 lib/libcoring.so.$(VERSION) $(DESTDIR)$(libdir)/
	ln -sf libcoring.so.$(VERSION) $(DESTDIR)$(libdir)/libcoring.so.$(SOMAJOR)
	ln -sf libcoring.so.$(SOMAJOR) $(DESTDIR)$(libdir)/libcoring.so
	$(PC_SED) coring.pc.in > $(DESTDIR)$(pkgconfigdir)/coring.pc
	@# Man pages, if `make docs` made them: the public API's pages only
	@# (cr_*, CR_*, and the headers'), not Doxygen's pages for struct fields.
	@if [ -d build/docs/man/man3 ]; then \
	    install -d $(DESTDIR)$(mandir)/man3; \
	    for f in build/docs/man/man3/cr_*.3coring build/docs/man/man3/CR_*.3coring \
	             build/docs/man/man3/*.h.3coring; do \
	        [ -e "$$f" ] && install -m 644 "$$f" $(DESTDIR)$(mandir)/man3/; \
	    done; true; \
	else echo "coring: no man pages installed (run 'make docs' first: it needs doxygen)"; fi
	@# A root install to the live system: refresh the loader's cache, or say
	@# the one line that does (a staged DESTDIR install is the packager's).
	@if [ -z "$(DESTDIR)" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; \
	    else echo "coring: run 'sudo ldconfig' so programs find libcoring.so.$(SOMAJOR) in $(libdir)"; fi; \
	fi

uninstall:
	rm -rf $(DESTDIR)$(includedir)/coring.h $(DESTDIR)$(includedir)/coring \
	      $(DESTDIR)$(libdir)/libcoring.* $(DESTDIR)$(pkgconfigdir)/coring.pc \
	      $(DESTDIR)$(mandir)/man3/*.3coring

clean:
	rm -rf build lib/libcoring.a lib/libcoring.so* coring.pc
