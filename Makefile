# vmm: one static binary (musl), tests, benchmarks.
# ARCH: x86 or arm64 (default: this host's). On x86, `make ARCH=arm64` cross-builds vmm-arm64 with
# aarch64-linux-gnu-gcc against the arm64 musl and libfdt that tests/arm64/fetch.sh unpacks.
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86)
ARCH    ?= $(HOST_ARCH)
HOSTCC  ?= gcc
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wvla -Wformat=2
comma   := ,

ifeq ($(ARCH),x86)
CC      := musl-gcc
MUSL_LIB := /usr/lib/x86_64-linux-musl
KHDR    := /usr/include
KASM    := /usr/include/x86_64-linux-gnu/asm
FDT_INC := /usr/include
else ifeq ($(ARCH),arm64)
ARM64_SYSROOT ?= build/arm64/sysroot
ifeq ($(HOST_ARCH),arm64)
CC      := musl-gcc
MUSL_LIB := /usr/lib/aarch64-linux-musl
KHDR    := /usr/include
KASM    := /usr/include/aarch64-linux-gnu/asm
FDT_INC := /usr/include
FDT_LIB := /usr/lib/aarch64-linux-gnu/libfdt.a
else
CC      := aarch64-linux-gnu-gcc -nostdinc -isystem $(ARM64_SYSROOT)/usr/include/aarch64-linux-musl \
           -isystem $(shell aarch64-linux-gnu-gcc -print-file-name=include) -mno-outline-atomics
MUSL_LIB := $(ARM64_SYSROOT)/usr/lib/aarch64-linux-musl
KHDR    := /usr/aarch64-linux-gnu/include
KASM    := /usr/aarch64-linux-gnu/include/asm
FDT_INC := $(ARM64_SYSROOT)/usr/include
FDT_LIB := $(ARM64_SYSROOT)/usr/lib/aarch64-linux-gnu/libfdt.a
endif
else
$(error ARCH=$(ARCH): x86 or arm64)
endif
BIN     := $(if $(filter $(HOST_ARCH),$(ARCH)),vmm,vmm-$(ARCH))
BUILD   := build/$(if $(filter x86,$(ARCH)),,$(ARCH))
BUILD   := $(patsubst %/,%,$(BUILD))
INC     := $(BUILD)/include

CFLAGS  := -std=gnu11 -g -D_GNU_SOURCE $(WARN) -fstack-protector-strong -fPIE -ffunction-sections -fdata-sections \
           -I$(ARCH) -isystem $(INC) -MMD -MP
# Static PIE: musl-gcc's specs link -static-pie as a dynamic PIE with Scrt1.o, so
# name the self-relocating rcrt1.o and the PIE crt files ourselves and tell ld
# "static, no interpreter". `file vmm` says "static-pie linked".
CRT_BEGIN := $(MUSL_LIB)/rcrt1.o $(MUSL_LIB)/crti.o $(shell $(CC) -print-file-name=crtbeginS.o)
CRT_END := $(shell $(CC) -print-file-name=crtendS.o) $(MUSL_LIB)/crtn.o
LDFLAGS := -static-pie -nostartfiles -Wl,-static,--no-dynamic-linker,-z,text,--gc-sections \
           -Wl,-z,noexecstack -Wl,-z,relro -Wl,-z,now
ifeq ($(ARCH),arm64)
# ld for arm64 ends RELRO on a 64 KiB boundary, which padded the file by 25 KiB (258 KiB in all).
# musl's static PIE start (rcrt1.o) never mprotects RELRO anyway, so nothing is lost; the
# segments stay 64 KiB-aligned, so the binary still loads on a 64 KiB-page kernel.
LDFLAGS += -Wl,-z,norelro
endif
ifneq ($(filter-out musl-gcc,$(CC)),)
LDFLAGS += -nostdlib
LIBS    := $(FDT_LIB) -L$(MUSL_LIB) -lc -lgcc
else
LIBS    := $(FDT_LIB)
endif

# Every source of the binary, in link order. vmm.c holds main(). Shared code, then the architecture's:
# x86: x86/ (arch hooks, CPUID), apic/ (IOAPIC, LAPIC, MSI format), boot/ (bzImage, PVH, multiboot,
# ACPI), dev/platform.c (PC ports); arm64: arm64/ (GICv3 + ITS, device tree, Image, arch hooks).
COMMON_SRCS := vmm.c run.c vm.c vcpu.c options.c kvm.c mem.c io.c log.c irq.c boot/initramfs.c \
        dev/console.c dev/exit.c dev/msix.c dev/pci.c dev/serial.c \
        $(sort $(wildcard virtio/*.c)) \
        $(sort $(wildcard sandbox/*.c))
X86_SRCS := $(sort $(wildcard x86/*.c)) $(sort $(wildcard apic/*.c)) \
        $(filter-out boot/initramfs.c,$(sort $(wildcard boot/*.c))) dev/platform.c
ARM64_SRCS := $(sort $(wildcard arm64/*.c))
SRCS := $(COMMON_SRCS) $(if $(filter x86,$(ARCH)),$(X86_SRCS),$(ARM64_SRCS))
LIB_SRCS := $(filter-out vmm.c,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/rel/%.o)

.PHONY: all debug test unit guest nested bench fuzz fuzzers clean demo install uninstall
all: $(BIN) $(BIN)-debug

# Private kernel header links (never /usr/include itself: glibc's headers break a musl build) and libfdt's.
$(INC)/.stamp:
	mkdir -p $(INC)
	ln -sfn $(abspath $(KHDR))/linux $(INC)/linux
	ln -sfn $(abspath $(KASM)) $(INC)/asm
	ln -sfn $(abspath $(KHDR))/asm-generic $(INC)/asm-generic
	for h in libfdt.h libfdt_env.h fdt.h; do ln -sfn $(abspath $(FDT_INC))/$$h $(INC)/$$h; done
	touch $@

# Size first (the binary stays under 256 KiB); speed where a request's data path runs. No unwind
# tables in the stripped binary (C, no exceptions; vmm-debug keeps its debug info for backtraces).
OPT := -Os -fno-asynchronous-unwind-tables -fno-unwind-tables
HOT := virtio/virtq.c virtio/blk.c virtio/net.c
$(HOT:%.c=$(BUILD)/rel/%.o): OPT := -O2 -fno-asynchronous-unwind-tables -fno-unwind-tables
$(BUILD)/rel/%.o: %.c $(INC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OPT) -DNDEBUG -c $< -o $@
$(BUILD)/dbg/%.o: %.c $(INC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O0 -c $< -o $@

$(BIN): $(OBJS)
	$(CC) $(LDFLAGS) -s $(CRT_BEGIN) $^ $(LIBS) $(CRT_END) -o $@
$(BIN)-debug: $(SRCS:%.c=$(BUILD)/dbg/%.o)
	$(CC) $(LDFLAGS) $(CRT_BEGIN) $^ $(LIBS) $(CRT_END) -o $@

# ---- unit tests: host compiler, ASan+UBSan, each test links the library objects it needs ----
UNIT_CFLAGS := -std=gnu11 -O1 -g -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
               -fsanitize=address,undefined -fno-sanitize-recover=all -I. -Ix86
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(sort $(wildcard tests/unit/test_*.c)))
$(BUILD)/unit/libvmm.a: $(LIB_SRCS:%.c=$(BUILD)/unit/obj/%.o)
	rm -f $@; ar rcs $@ $^
$(BUILD)/unit/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/unit/%: tests/unit/%.c tests/unit/unit.h tests/unit/no_kvm_msi.h $(BUILD)/unit/libvmm.a
	@mkdir -p $(dir $@)
	$(HOSTCC) $(UNIT_CFLAGS) $< $(BUILD)/unit/libvmm.a -o $@

# The same unit tests under ThreadSanitizer (make test runs them: a data race fails the run).
TSAN_CFLAGS := $(filter-out -fsanitize=address$(comma)undefined,$(UNIT_CFLAGS)) -fsanitize=thread -Wno-tsan
TSAN_TESTS := $(UNIT_TESTS:$(BUILD)/unit/%=$(BUILD)/tsan/%)
$(BUILD)/tsan/libvmm.a: $(LIB_SRCS:%.c=$(BUILD)/tsan/obj/%.o)
	rm -f $@; ar rcs $@ $^
$(BUILD)/tsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(HOSTCC) $(TSAN_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/tsan/%: tests/unit/%.c tests/unit/unit.h tests/unit/no_kvm_msi.h $(BUILD)/tsan/libvmm.a
	@mkdir -p $(dir $@)
	$(HOSTCC) $(TSAN_CFLAGS) $< $(BUILD)/tsan/libvmm.a -o $@

unit: $(UNIT_TESTS) $(TSAN_TESTS)
guest: vmm
	$(MAKE) -C tests/guest
# (defined before its use: make expands a rule's prerequisites when it reads the rule)
HAVE_CLANG := $(shell command -v clang 2>/dev/null)
test: vmm vmm-debug unit $(if $(HAVE_CLANG),fuzzers)
	@$(MAKE) -s -C tests/guest
	@# the arm64 build, where tests/arm64/fetch.sh can unpack Debian's arm64 musl and libfdt (else the arm64 suite SKIPs)
	@if sh tests/arm64/fetch.sh >/dev/null 2>&1; then $(MAKE) -s ARCH=arm64 vmm-arm64; fi
	@sh tests/run.sh

demo: vmm
	@sh tests/demo.sh

# ARCH=arm64: vmm-arm64 against QEMU -M virt inside an arm64 L1 (tests/bench/arm64.sh)
bench: $(if $(filter arm64,$(ARCH)),$(BIN),vmm)
	@$(if $(filter arm64,$(ARCH)),VMM_ARM64=./$(BIN) sh tests/bench/arm64.sh,sh tests/bench/run.sh)

# ---- fuzzing: libFuzzer harnesses (clang, ASan+UBSan); tests/fuzz/run.sh runs them from their seed corpora ----
FUZZ_SECS ?= 120
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -Ix86 -fsanitize=fuzzer,address,undefined
FUZZ_LIB := io.c log.c
FUZZ_VIRTIO := virtio/virtq.c virtio/dev.c virtio/pci.c dev/pci.c dev/msix.c
FUZZ_HARNESSES := boot virtq virtio_blk pci ioapic virtio_net uart options fuse
FUZZERS := $(FUZZ_HARNESSES:%=$(BUILD)/fuzz/fuzz_%)
$(BUILD)/fuzz/fuzz_boot: tests/fuzz/fuzz_boot.c $(wildcard boot/*.c) $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_virtq: tests/fuzz/fuzz_virtq.c virtio/virtq.c $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_virtio_blk: tests/fuzz/fuzz_virtio_blk.c virtio/blk.c $(FUZZ_VIRTIO) $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_pci: tests/fuzz/fuzz_pci.c $(FUZZ_VIRTIO) $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_ioapic: tests/fuzz/fuzz_ioapic.c apic/ioapic.c $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_uart: tests/fuzz/fuzz_uart.c dev/serial.c $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_fuse: tests/fuzz/fuzz_fuse.c virtio/fs.c virtio/virtq.c virtio/dev.c $(FUZZ_LIB)
$(BUILD)/fuzz/fuzz_options: tests/fuzz/fuzz_options.c options.c sandbox/selftest.c sandbox/policy.c
# virtio/net.c is #included by its harness (for its static functions): a prerequisite, not a source
$(BUILD)/fuzz/fuzz_virtio_net: tests/fuzz/fuzz_virtio_net.c virtio/net.c $(FUZZ_VIRTIO) sandbox/policy.c $(FUZZ_LIB)
$(FUZZERS): $(wildcard *.h */*.h tests/unit/no_kvm_msi.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(filter-out virtio/net.c,$(filter %.c,$^)) -o $@
fuzzers: $(FUZZERS)
# every harness for FUZZ_SECS, growing a corpus kept in build/fuzz/corpus/ across runs
fuzz: $(FUZZERS)
	@FUZZ_TEST_SECS=$(FUZZ_SECS) FUZZ_KEEP=1 sh tests/fuzz/run.sh

# ---- make install / make uninstall: the binary, the man page and the systemd unit, under DESTDIR ----
# UNITDIR: systemd reads units from /usr/local/lib/systemd/system and /usr/lib/systemd/system, so
# PREFIX=/usr/local (the default) and PREFIX=/usr need nothing more; with another PREFIX, also give
# UNITDIR=/etc/systemd/system. The unit's ExecStart is rewritten to $(BINDIR)/vmm.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
install: vmm
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(UNITDIR)
	install -m 755 vmm $(DESTDIR)$(BINDIR)/vmm
	install -m 644 vmm.1 $(DESTDIR)$(MANDIR)/man1/vmm.1
	sed 's|^ExecStart=/usr/local/bin/vmm |ExecStart=$(BINDIR)/vmm |' dist/vmm@.service > $(BUILD)/vmm@.service
	install -m 644 $(BUILD)/vmm@.service $(DESTDIR)$(UNITDIR)/vmm@.service
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vmm $(DESTDIR)$(MANDIR)/man1/vmm.1 $(DESTDIR)$(UNITDIR)/vmm@.service

clean:
	rm -rf $(BUILD) vmm vmm-debug
	$(MAKE) -C tests/guest clean

-include $(shell find $(BUILD)/rel $(BUILD)/dbg $(BUILD)/unit $(BUILD)/tsan -name '*.d' -type f 2>/dev/null)
