# vmm: one static binary (musl), tests, benchmarks.
CC      := musl-gcc
HOSTCC  ?= gcc
BUILD   := build
INC     := $(BUILD)/include
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wvla -Wformat=2
CFLAGS  := -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN) -fstack-protector-strong \
           -isystem $(INC) -MMD -MP
LDFLAGS := -static -Wl,-z,noexecstack -Wl,-z,relro -Wl,-z,now
LIBFDT  := /usr/lib/x86_64-linux-gnu/libfdt.a

# Every source of the binary, in link order. vmm.c holds main().
SRCS := vmm.c options.c kvm.c io.c log.c \
        $(sort $(wildcard boot/*.c)) \
        $(sort $(wildcard apic/*.c)) \
        $(sort $(wildcard dev/*.c)) \
        $(sort $(wildcard virtio/*.c)) \
        $(sort $(wildcard sandbox/*.c))
LIB_SRCS := $(filter-out vmm.c,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/rel/%.o)

.PHONY: all debug test unit guest nested bench fuzz clean demo
all: vmm vmm-debug

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
	$(CC) $(LDFLAGS) -s $^ -o $@
vmm-debug: $(SRCS:%.c=$(BUILD)/dbg/%.o)
	$(CC) $(LDFLAGS) $^ -o $@

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

unit: $(UNIT_TESTS)
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
