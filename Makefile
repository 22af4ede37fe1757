# vmm: one static binary (musl), tests, benchmarks.
CC      := musl-gcc
HOSTCC  ?= gcc
BUILD   := build
INC     := $(BUILD)/include
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wvla -Wformat=2
CFLAGS  := -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN) -fstack-protector-strong -fPIE \
           -isystem $(INC) -MMD -MP
# Static PIE: musl-gcc's specs link -static-pie as a dynamic PIE with Scrt1.o, so
# name the self-relocating rcrt1.o and the PIE crt files ourselves and tell ld
# "static, no interpreter". `file vmm` says "static-pie linked".
MUSL_LIB := /usr/lib/x86_64-linux-musl
CRT_BEGIN := $(MUSL_LIB)/rcrt1.o $(MUSL_LIB)/crti.o $(shell $(CC) -print-file-name=crtbeginS.o)
CRT_END := $(shell $(CC) -print-file-name=crtendS.o) $(MUSL_LIB)/crtn.o
LDFLAGS := -static-pie -nostartfiles -Wl,-static,--no-dynamic-linker,-z,text \
           -Wl,-z,noexecstack -Wl,-z,relro -Wl,-z,now
comma   := ,

# Every source of the binary, in link order. vmm.c holds main(). Nothing but musl (and libgcc) is linked.
SRCS := vmm.c kvm.c mem.c io.c log.c \
        $(sort $(wildcard boot/*.c)) \
        $(sort $(wildcard apic/*.c)) \
        $(sort $(wildcard dev/*.c)) \
        $(sort $(wildcard virtio/*.c)) \
        $(sort $(wildcard sandbox/*.c))
LIB_SRCS := $(filter-out vmm.c,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/rel/%.o)

.PHONY: all debug test unit guest nested bench fuzz clean demo
all: vmm vmm-debug

# Private kernel header links; the libfdt headers are for later arm64 work (no libfdt is linked).
$(INC)/.stamp:
	mkdir -p $(INC)
	ln -sfn /usr/include/linux $(INC)/linux
	ln -sfn /usr/include/x86_64-linux-gnu/asm $(INC)/asm
	ln -sfn /usr/include/asm-generic $(INC)/asm-generic
	for h in libfdt.h libfdt_env.h fdt.h; do ln -sfn /usr/include/$$h $(INC)/$$h; done
	touch $@

$(BUILD)/rel/%.o: %.c $(INC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DNDEBUG -c $< -o $@
$(BUILD)/dbg/%.o: %.c $(INC)/.stamp
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O0 -c $< -o $@

vmm: $(OBJS)
	$(CC) $(LDFLAGS) -s $(CRT_BEGIN) $^ $(CRT_END) -o $@
vmm-debug: $(SRCS:%.c=$(BUILD)/dbg/%.o)
	$(CC) $(LDFLAGS) $(CRT_BEGIN) $^ $(CRT_END) -o $@

# ---- unit tests: host compiler, ASan+UBSan, each test links the library objects it needs ----
UNIT_CFLAGS := -std=gnu11 -O1 -g -D_GNU_SOURCE $(WARN) -Wno-missing-prototypes \
               -fsanitize=address,undefined -fno-sanitize-recover=all -I.
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
test: vmm vmm-debug unit
	@$(MAKE) -s -C tests/guest
	@sh tests/run.sh

demo: vmm
	@sh tests/demo.sh

bench: vmm
	@sh tests/bench/run.sh

# ---- fuzzing: libFuzzer harnesses (clang); FUZZ_SECS per harness ----
FUZZ_SECS ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -fsanitize=fuzzer,address,undefined
FUZZ_LIB := io.c log.c
$(BUILD)/fuzz/fuzz_boot: tests/fuzz/fuzz_boot.c $(wildcard boot/*.c) $(FUZZ_LIB)
	@mkdir -p $(dir $@); clang $(FUZZ_CFLAGS) $^ -o $@
$(BUILD)/fuzz/fuzz_virtq: tests/fuzz/fuzz_virtq.c virtio/virtq.c $(FUZZ_LIB)
	@mkdir -p $(dir $@); clang $(FUZZ_CFLAGS) $^ -o $@
$(BUILD)/fuzz/fuzz_virtio_blk: tests/fuzz/fuzz_virtio_blk.c virtio/virtq.c virtio/pci.c virtio/blk.c \
		dev/pci.c dev/msix.c $(FUZZ_LIB)
	@mkdir -p $(dir $@); clang $(FUZZ_CFLAGS) $^ -o $@
FUZZERS := $(BUILD)/fuzz/fuzz_boot $(BUILD)/fuzz/fuzz_virtq $(BUILD)/fuzz/fuzz_virtio_blk
fuzz: $(FUZZERS)
	@for f in $(FUZZERS); do echo "== $$f"; mkdir -p $$f.corpus; \
		$$f -max_total_time=$(FUZZ_SECS) -print_final_stats=1 $$f.corpus 2>&1 | tail -3 || exit 1; done

clean:
	rm -rf $(BUILD) vmm vmm-debug
	$(MAKE) -C tests/guest clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
