# guest/guest.mk: builds the freestanding guest test kernels.
#
# Included by the top-level Makefile, or used alone from the repository root:
#     make -f guest/guest.mk              (the same as: make -f guest/guest.mk guest-kernels)
# Everything it builds goes under $(BUILD)/guest/.  Every variable and target
# it defines starts with GUEST_ or guest-, so it cannot collide with the
# Makefile that includes it.
#
# A test kernel is one ELF32 multiboot file with two halves (guest/lib/layout.h):
#   - the 32-bit half: the runtime in guest/lib compiled with -m32, plus the
#     kernel's 32-bit sources, linked at 1 MiB by lib/kernel32.ld.S;
#   - the 64-bit half: the same runtime compiled with -m64, plus the kernel's
#     64-bit sources, linked on its own as ELF64 at BLOB_BASE by
#     lib/blob64.ld.S, turned into a flat binary with objcopy, and .incbin'd
#     into the 32-bit image at that same address (lib/blob.S).
# A new test kernel lives in guest/NAME/ and is declared with one
# $(eval $(call GUEST_KERNEL,...)) line at the bottom of this file.

GUEST_STANDALONE := $(if $(filter 1,$(words $(MAKEFILE_LIST))),yes)
GUEST_PREV_GOAL := $(.DEFAULT_GOAL)
GUEST_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

BUILD ?= build
GUEST_OUT = $(BUILD)/guest

# Quiet by default; V=1 shows the commands.
GUEST_Q := $(if $(filter 1,$(V)),,@)
GUEST_SAY = $(if $(GUEST_Q),@printf '  %-9s %s\n' $(1) $(2))

GUEST_CC ?= gcc
GUEST_LD ?= ld
GUEST_OBJCOPY ?= objcopy

# Warnings and optimization (may be overridden); the rest is what a
# freestanding kernel needs and is not optional.
GUEST_CFLAGS ?= -O2 -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes
GUEST_CFLAGS_BASE := -std=gnu11 -ffreestanding -nostdlib -fno-pic -fno-pie \
	-fno-stack-protector -mgeneral-regs-only -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fcf-protection=none -fno-tree-loop-distribute-patterns \
	-fno-common -I$(GUEST_DIR)/lib -MMD -MP
GUEST_CFLAGS32 = -m32 -march=i686 $(GUEST_CFLAGS_BASE) $(GUEST_CFLAGS)
GUEST_CFLAGS64 = -m64 -mno-red-zone -mcmodel=small $(GUEST_CFLAGS_BASE) $(GUEST_CFLAGS)
GUEST_LDFLAGS = -nostdlib -static --no-dynamic-linker --build-id=none -z noexecstack \
	-z max-page-size=4096 --orphan-handling=error --no-warn-rwx-segments

# The runtime: C files compiled for both halves, then each half's own files.
GUEST_LIB_C := serial printf exit string desc trap access alloc paging cpumode check cmdline
GUEST_LIB32_C := $(GUEST_LIB_C) boot32 longcall32
GUEST_LIB32_S := start32 trap32 halt
GUEST_LIB64_C := $(GUEST_LIB_C) boot64
GUEST_LIB64_S := entry64 trap64 halt

GUEST_LIB32_COBJS = $(GUEST_LIB32_C:%=$(GUEST_OUT)/lib32/%.o)
GUEST_LIB32_SOBJS = $(GUEST_LIB32_S:%=$(GUEST_OUT)/lib32/%.o)
GUEST_LIB64_COBJS = $(GUEST_LIB64_C:%=$(GUEST_OUT)/lib64/%.o)
GUEST_LIB64_SOBJS = $(GUEST_LIB64_S:%=$(GUEST_OUT)/lib64/%.o)
GUEST_LIB32_OBJS = $(GUEST_LIB32_COBJS) $(GUEST_LIB32_SOBJS)
GUEST_LIB64_OBJS = $(GUEST_LIB64_COBJS) $(GUEST_LIB64_SOBJS)

GUEST_KERNELS :=

# The first target here, so that it is the default when this file is used alone;
# its prerequisites (every kernel declared below) are added at the end.
.PHONY: guest-kernels guest-clean
guest-kernels:

guest-clean:
	rm -rf $(GUEST_OUT)

$(GUEST_LIB32_COBJS): $(GUEST_OUT)/lib32/%.o: $(GUEST_DIR)/lib/%.c
	@mkdir -p $(@D)
	$(call GUEST_SAY,CC32,$@)
	$(GUEST_Q)$(GUEST_CC) $(GUEST_CFLAGS32) -c $< -o $@
$(GUEST_LIB32_SOBJS): $(GUEST_OUT)/lib32/%.o: $(GUEST_DIR)/lib/%.S
	@mkdir -p $(@D)
	$(call GUEST_SAY,AS32,$@)
	$(GUEST_Q)$(GUEST_CC) $(GUEST_CFLAGS32) -c $< -o $@
$(GUEST_LIB64_COBJS): $(GUEST_OUT)/lib64/%.o: $(GUEST_DIR)/lib/%.c
	@mkdir -p $(@D)
	$(call GUEST_SAY,CC64,$@)
	$(GUEST_Q)$(GUEST_CC) $(GUEST_CFLAGS64) -c $< -o $@
$(GUEST_LIB64_SOBJS): $(GUEST_OUT)/lib64/%.o: $(GUEST_DIR)/lib/%.S
	@mkdir -p $(@D)
	$(call GUEST_SAY,AS64,$@)
	$(GUEST_Q)$(GUEST_CC) $(GUEST_CFLAGS64) -c $< -o $@

# Linker scripts go through cpp for layout.h (-undef: no "i386" macro).
$(GUEST_OUT)/kernel32.ld $(GUEST_OUT)/blob64.ld: $(GUEST_OUT)/%.ld: $(GUEST_DIR)/lib/%.ld.S \
		$(GUEST_DIR)/lib/layout.h
	@mkdir -p $(@D)
	$(call GUEST_SAY,CPP,$@)
	$(GUEST_Q)$(GUEST_CC) -E -P -undef -x c -I$(GUEST_DIR)/lib $< -o $@

# $(call GUEST_KERNEL,name,32-bit sources,64-bit sources): sources are files
# in guest/name/ (.c or .S); the result is $(BUILD)/guest/name.elf.
define GUEST_KERNEL
GUEST_KERNELS += $(1)
GUEST_$(1)_COBJS32 := $$(patsubst %.c,$$(GUEST_OUT)/$(1)/32/%.o,$$(filter %.c,$(2)))
GUEST_$(1)_SOBJS32 := $$(patsubst %.S,$$(GUEST_OUT)/$(1)/32/%.o,$$(filter %.S,$(2)))
GUEST_$(1)_COBJS64 := $$(patsubst %.c,$$(GUEST_OUT)/$(1)/64/%.o,$$(filter %.c,$(3)))
GUEST_$(1)_SOBJS64 := $$(patsubst %.S,$$(GUEST_OUT)/$(1)/64/%.o,$$(filter %.S,$(3)))
GUEST_$(1)_OBJS32 := $$(GUEST_$(1)_COBJS32) $$(GUEST_$(1)_SOBJS32)
GUEST_$(1)_OBJS64 := $$(GUEST_$(1)_COBJS64) $$(GUEST_$(1)_SOBJS64)

$$(GUEST_$(1)_COBJS32): $$(GUEST_OUT)/$(1)/32/%.o: $$(GUEST_DIR)/$(1)/%.c
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,CC32,$$@)
	$$(GUEST_Q)$$(GUEST_CC) $$(GUEST_CFLAGS32) -I$$(GUEST_DIR)/$(1) -c $$< -o $$@
$$(GUEST_$(1)_SOBJS32): $$(GUEST_OUT)/$(1)/32/%.o: $$(GUEST_DIR)/$(1)/%.S
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,AS32,$$@)
	$$(GUEST_Q)$$(GUEST_CC) $$(GUEST_CFLAGS32) -I$$(GUEST_DIR)/$(1) -c $$< -o $$@
$$(GUEST_$(1)_COBJS64): $$(GUEST_OUT)/$(1)/64/%.o: $$(GUEST_DIR)/$(1)/%.c
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,CC64,$$@)
	$$(GUEST_Q)$$(GUEST_CC) $$(GUEST_CFLAGS64) -I$$(GUEST_DIR)/$(1) -c $$< -o $$@
$$(GUEST_$(1)_SOBJS64): $$(GUEST_OUT)/$(1)/64/%.o: $$(GUEST_DIR)/$(1)/%.S
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,AS64,$$@)
	$$(GUEST_Q)$$(GUEST_CC) $$(GUEST_CFLAGS64) -I$$(GUEST_DIR)/$(1) -c $$< -o $$@

$$(GUEST_OUT)/$(1)/half64.elf: $$(GUEST_$(1)_OBJS64) $$(GUEST_LIB64_OBJS) $$(GUEST_OUT)/blob64.ld
	$$(call GUEST_SAY,LD64,$$@)
	$$(GUEST_Q)$$(GUEST_LD) -m elf_x86_64 $$(GUEST_LDFLAGS) -T $$(GUEST_OUT)/blob64.ld -o $$@ \
		$$(GUEST_$(1)_OBJS64) $$(GUEST_LIB64_OBJS)
$$(GUEST_OUT)/$(1)/half64.bin: $$(GUEST_OUT)/$(1)/half64.elf
	$$(call GUEST_SAY,OBJCOPY,$$@)
	$$(GUEST_Q)$$(GUEST_OBJCOPY) -O binary $$< $$@
$$(GUEST_OUT)/$(1)/blob.o: $$(GUEST_DIR)/lib/blob.S $$(GUEST_OUT)/$(1)/half64.bin
	$$(call GUEST_SAY,INCBIN,$$@)
	$$(GUEST_Q)$$(GUEST_CC) -m32 -c -DBLOB_BIN='"$$(GUEST_OUT)/$(1)/half64.bin"' $$< -o $$@
$$(GUEST_OUT)/$(1).elf: $$(GUEST_$(1)_OBJS32) $$(GUEST_LIB32_OBJS) $$(GUEST_OUT)/$(1)/blob.o \
		$$(GUEST_OUT)/kernel32.ld
	$$(call GUEST_SAY,LD32,$$@)
	$$(GUEST_Q)$$(GUEST_LD) -m elf_i386 $$(GUEST_LDFLAGS) -T $$(GUEST_OUT)/kernel32.ld -o $$@ \
		$$(GUEST_$(1)_OBJS32) $$(GUEST_LIB32_OBJS) $$(GUEST_OUT)/$(1)/blob.o
endef

# mmutest: the MMU test kernel.  Its cases are written once against struct
# pgmode and built into both halves; each half runs the modes it can.
GUEST_MMUTEST_COMMON := harness.c t_paging.c t_ad.c t_invlpg.c t_cr3.c t_demand.c \
	t_perm.c t_rsvd.c t_reuse.c t_gbpages.c t_slotmove.c model.c
GUEST_MMUTEST_32 := main32.c t_nonpaging.c t_user.c user32.S $(GUEST_MMUTEST_COMMON)
GUEST_MMUTEST_64 := main64.c t_user.c user64.S t_spaces.c $(GUEST_MMUTEST_COMMON)
$(eval $(call GUEST_KERNEL,mmutest,$(GUEST_MMUTEST_32),$(GUEST_MMUTEST_64)))

# bench: the benchmark kernel's workloads (guest/bench/README.md).
$(eval $(call GUEST_KERNEL,bench,main32.c common.c w_mem.c,main64.c common.c w_mem.c pt4.c w_faults.c w_cr3.c w_ptwrite.c w_tlb.c w_calib.c calib64.S w_irq.c irq64.S))

# hostile: the hostile-guest suite (guest/hostile/README.md).
GUEST_HOSTILE_64 := main64.c common.c h_rsvd.c h_randpt.c h_phys.c h_selfmap.c h_cycle.c h_monitor.c \
	h_priv.c h_straddle.c h_spaces.c h_kill.c h_flood.c
$(eval $(call GUEST_KERNEL,hostile,main32.c,$(GUEST_HOSTILE_64)))

# irq: the local APIC and interrupt delivery kernel (guest/irq/README.md).
$(eval $(call GUEST_KERNEL,irq,main32.c,main64.c common.c t_apic.c t_sched.c t_legacy.c))

# oskernel: a kernel written like an ordinary OS, without guest/lib
# (guest/oskernel/README.md), built twice from the same sources.  The low
# variant: one 64-bit link at 1 MiB whose entry is 32-bit code, converted to
# ELF32 as multiboot loaders (QEMU's among them) want.  The higher-half
# variant (-DOSK_HIGHER_HALF, -mcmodel=kernel as Linux builds for
# 0xffffffff80000000): an ELF64 file whose multiboot header carries the
# a.out-kludge load addresses, since its addresses do not fit ELF32.
GUEST_OSK_SRC := boot.S entry.S main.c console.c desc.c trap.c proc.c user.c
GUEST_OSK_BASEFLAGS = -m64 -mno-red-zone $(filter-out -I%,$(GUEST_CFLAGS_BASE)) -I$(GUEST_DIR)/oskernel
GUEST_OSK_CFLAGS_oskernel = -mcmodel=small
GUEST_OSK_CFLAGS_oskernel-hh = -mcmodel=kernel -DOSK_HIGHER_HALF
GUEST_KERNELS += oskernel oskernel-hh

# $(call GUEST_OSK,variant): objects in $(GUEST_OUT)/variant/, linked into
# $(GUEST_OUT)/variant/kernel64.elf with kernel.ld.S preprocessed for it.
define GUEST_OSK
$$(GUEST_OUT)/$(1)/%.o: $$(GUEST_DIR)/oskernel/%.c
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,CC64,$$@)
	$$(GUEST_Q)$$(GUEST_CC) $$(GUEST_OSK_BASEFLAGS) $$(GUEST_OSK_CFLAGS_$(1)) $$(GUEST_CFLAGS) -c $$< -o $$@
$$(GUEST_OUT)/$(1)/%.o: $$(GUEST_DIR)/oskernel/%.S
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,AS64,$$@)
	$$(GUEST_Q)$$(GUEST_CC) $$(GUEST_OSK_BASEFLAGS) $$(GUEST_OSK_CFLAGS_$(1)) $$(GUEST_CFLAGS) -c $$< -o $$@
$$(GUEST_OUT)/$(1)/kernel.ld: $$(GUEST_DIR)/oskernel/kernel.ld.S $$(GUEST_DIR)/oskernel/layout.h
	@mkdir -p $$(@D)
	$$(call GUEST_SAY,CPP,$$@)
	$$(GUEST_Q)$$(GUEST_CC) -E -P -undef -x c -D__ASSEMBLER__ $$(filter -D%,$$(GUEST_OSK_CFLAGS_$(1))) \
		-I$$(GUEST_DIR)/oskernel $$< -o $$@
$$(GUEST_OUT)/$(1)/kernel64.elf: $$(patsubst %,$$(GUEST_OUT)/$(1)/%.o,$$(basename $$(GUEST_OSK_SRC))) \
		$$(GUEST_OUT)/$(1)/kernel.ld
	$$(call GUEST_SAY,LD64,$$@)
	$$(GUEST_Q)$$(GUEST_LD) -m elf_x86_64 $$(GUEST_LDFLAGS) -T $$(GUEST_OUT)/$(1)/kernel.ld -o $$@ \
		$$(patsubst %,$$(GUEST_OUT)/$(1)/%.o,$$(basename $$(GUEST_OSK_SRC)))
endef
$(eval $(call GUEST_OSK,oskernel))
$(eval $(call GUEST_OSK,oskernel-hh))

$(GUEST_OUT)/oskernel.elf: $(GUEST_OUT)/oskernel/kernel64.elf
	$(call GUEST_SAY,OBJCOPY,$@)
	$(GUEST_Q)$(GUEST_OBJCOPY) -O elf32-i386 $< $@
$(GUEST_OUT)/oskernel-hh.elf: $(GUEST_OUT)/oskernel-hh/kernel64.elf
	$(call GUEST_SAY,CP,$@)
	$(GUEST_Q)cp $< $@

guest-kernels: $(foreach k,$(GUEST_KERNELS),$(GUEST_OUT)/$(k).elf)

-include $(wildcard $(GUEST_OUT)/*/*.d $(GUEST_OUT)/*/*/*.d)

# Included: give the default goal back to the including Makefile.
ifeq ($(GUEST_STANDALONE),)
.DEFAULT_GOAL := $(GUEST_PREV_GOAL)
endif
