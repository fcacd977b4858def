# ombra: the top-level build.
#
#   make            build/ombra and the test kernels under build/guest/
#   make run        install what is missing, build, run the default test kernel
#   make test       build and run every test (unit, then end-to-end)
#   make hostile    the hostile-guest suite alone (also part of make test)
#   make nested     every end-to-end suite on the nested AMD-V host, NPT on and off
#   make nested-smoke  the part of it make test runs (docs/nested.md)
#   make compare-hosts one compare table: this host, NPT, KVM's shadow MMU (KERNEL=, APPEND=)
#   make docs      rerun the figures in docs/study.md and write them in (nested host)
#   make bench-nested  make bench on the nested host, NPT on and off
#   make linux     Debian's kernel and the bench initramfs in build/linux (guest/linux/README.md)
#   make linux-nested  Linux in every mode on the nested host, NPT on and off
#   make sanitize   the same tests on an ASan+UBSan build (build-asan/)
#   make bench      benchmarks (docs/performance.md)
#   make fuzz       libFuzzer on the loader, walker, emulator and trap path (FUZZ_SECONDS each)
#   make mutate     plant each bug of tests/mutations.txt, see which test layer catches it
#   make mutate-sample  three of them, unit layer only (docs/testing.md)
#   make V=1        show the commands
#
# The test kernels have their own flags and rules in guest/guest.mk.

BUILD    ?= build
CC       := gcc
CFLAGS   ?= -O2 -g
OMBRA_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -Wmissing-prototypes \
		-Wstrict-prototypes -Wno-missing-field-initializers -D_GNU_SOURCE \
		-MMD -MP
LIBS     := -lcapstone -ljansson

ifeq ($(V),1)
Q :=
else
Q := @
endif

# The core: everything a run needs, shared by ombra, the unit tests and the
# fuzzers.  Dependencies run one way (docs/architecture.md):
#   main -> report -> tdp, shadow -> vmm -> dev, host -> x86
CORE_DIRS := x86 host dev vmm tdp shadow
LIB_OBJS := $(patsubst %.c,%.o,$(sort $(foreach d,$(CORE_DIRS),$(wildcard src/$(d)/*.c)))) \
	src/shadow/monitor_blob.o

# What ombra adds on top: compare, the HTML report, the command line.
MAIN_OBJS := $(patsubst %.c,%.o,$(sort $(wildcard src/report/*.c))) src/main.o

# Every tests/unit/*.c: test_*.c are Criterion files, the rest their helpers.
UNIT_OBJS := $(patsubst %.c,%.o,$(sort $(wildcard tests/unit/*.c)))

# Small fixture kernels for the end-to-end tests of the loader, devices and
# failure reports (the test-kernel suite proper lives in guest/).
# The probe-* kernels tell a limit of the host's KVM from a bug in ombra.
E2E_KERNELS := $(addprefix $(BUILD)/tests/kernels/,echo.elf spin.elf triple.elf storm.elf sysregs.elf cpuid.elf tell.elf patch.elf explain.elf hotplug.elf counters.elf gdb.elf \
		probe-paging32.elf probe-pae.elf probe-1g.elf)

LIB_O  := $(addprefix $(BUILD)/,$(LIB_OBJS))
MAIN_O := $(addprefix $(BUILD)/,$(MAIN_OBJS))
UNIT_O := $(addprefix $(BUILD)/,$(UNIT_OBJS))

.PHONY: all run test unit e2e hostile deps clean bench bench-nested sanitize fuzz fuzz-smoke nested nested-smoke mutate mutate-sample compare-hosts docs linux linux-nested
.SECONDEXPANSION:
all: $(BUILD)/ombra guest-kernels

include guest/guest.mk

$(BUILD)/ombra: $(LIB_O) $(MAIN_O) $(BUILD)/.layers-ok
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $(LIB_O) $(MAIN_O) $(LIBS)

# Includes go one way only (scripts/check-layers.sh, docs/architecture.md).
$(BUILD)/.layers-ok: scripts/check-layers.sh $(wildcard src/*.c src/*/*.[ch])
	$(Q)sh scripts/check-layers.sh
	@mkdir -p $(dir $@) && touch $@

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(OMBRA_CFLAGS) $(CFLAGS) -Isrc -c -o $@ $<

# The monitor: flat 64-bit code assembled by nasm, linked in as a blob.
$(BUILD)/shadow/monitor.bin: src/shadow/monitor.asm
	@mkdir -p $(dir $@)
	@echo "  NASM    $<"
	$(Q)nasm -f bin -Werror -o $@ $<

$(BUILD)/src/shadow/monitor_blob.o: src/shadow/monitor_blob.S $(BUILD)/shadow/monitor.bin
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC) -c -DMONITOR_BIN='"$(BUILD)/shadow/monitor.bin"' -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(OMBRA_CFLAGS) $(CFLAGS) -Isrc -c -o $@ $<

$(BUILD)/tests/unit-tests: $(UNIT_O) $(LIB_O) $(BUILD)/src/report/outfile.o $(BUILD)/src/report/measure.o
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LIBS) -lcriterion

$(BUILD)/tests/kernels/%.elf: tests/e2e/kernels/%.asm tests/e2e/kernels/mb.inc tests/e2e/kernels/link.ld
	@mkdir -p $(dir $@)
	@echo "  NASM    $<"
	$(Q)nasm -f elf32 -Itests/e2e/kernels/ -o $(@:.elf=.o) $<
	$(Q)ld -m elf_i386 --no-warn-rwx-segments -T tests/e2e/kernels/link.ld -o $@ $(@:.elf=.o)

$(BUILD)/tests/kernels/probe-pae.elf: tests/e2e/kernels/probe-paging32.asm tests/e2e/kernels/mb.inc tests/e2e/kernels/link.ld
	@mkdir -p $(dir $@)
	@echo "  NASM    $< (PAE)"
	$(Q)nasm -f elf32 -DPAE -Itests/e2e/kernels/ -o $(@:.elf=.o) $<
	$(Q)ld -m elf_i386 --no-warn-rwx-segments -T tests/e2e/kernels/link.ld -o $@ $(@:.elf=.o)

$(BUILD)/tests/check-trace: tests/e2e/check_trace.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(OMBRA_CFLAGS) $(CFLAGS) -o $@ $< -ljansson

$(BUILD)/tests/check-json: tests/e2e/check_json.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(OMBRA_CFLAGS) $(CFLAGS) -o $@ $< -ljansson

$(BUILD)/bench/driver: bench/driver.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(OMBRA_CFLAGS) $(CFLAGS) -o $@ $< -ljansson -lm

# Benchmarks: every workload in every mode and under QEMU, REPS times each;
# bench/results.json and bench/results.md (docs/performance.md).  Reports,
# never fails on a timing.
REPS ?= 3
bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/driver
	$(Q)$(BUILD)/bench/driver $(BUILD) bench $(REPS)

# The same on the nested AMD-V host (docs/nested.md), with NPT (tdp mode is
# real TDP) and without (tdp mode is KVM's own shadow MMU, the anchor for
# shadow mode's traps per event): bench/nested-npt1.md and nested-npt0.md,
# with their .json.  For a host with no /dev/kvm of its own.
bench-nested: $(BUILD)/ombra guest-kernels $(BUILD)/bench/driver
	$(Q)for n in 1 0; do \
		NESTED_DIR=$(NESTED) sh scripts/nested/run.sh $$n $(NESTED)/bench-npt$$n scripts/nested/bench.sh \
			$(NESTED)/bench-npt$$n $(BUILD) $(REPS) >$(NESTED)/bench-npt$$n.log 2>&1 || \
			{ echo "bench-nested: npt=$$n failed (see $(NESTED)/bench-npt$$n.log)" >&2; exit 1; }; \
		cp $(NESTED)/bench-npt$$n/results.md bench/nested-npt$$n.md; \
		cp $(NESTED)/bench-npt$$n/results.json bench/nested-npt$$n.json; \
	done
	$(Q)echo "bench-nested: bench/nested-npt1.md, bench/nested-npt0.md"

# Install what is missing (Debian packages), once per checkout.
deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: scripts/setup.sh
	$(Q)sh scripts/setup.sh
	@mkdir -p $(BUILD) && touch $@

run: deps
	$(Q)$(MAKE) --no-print-directory all $(E2E_KERNELS)
	$(Q)sh scripts/run-default.sh $(BUILD)

# test_cli runs the ombra of the same build on bad input.
unit: $(BUILD)/tests/unit-tests $(BUILD)/ombra $(BUILD)/guest/mmutest.elf
	$(Q)OMBRA=$(BUILD)/ombra OMBRA_KERNEL=$(BUILD)/guest/mmutest.elf $(BUILD)/tests/unit-tests --jobs=2

e2e: $(BUILD)/ombra guest-kernels $(E2E_KERNELS) $(BUILD)/tests/check-json $(BUILD)/tests/check-trace
	$(Q)bash tests/e2e/report_test.sh $(BUILD)
	$(Q)bash tests/e2e/run.sh $(BUILD)
	$(Q)bash tests/e2e/hostile.sh $(BUILD)

# The hostile-guest suite alone (guest/hostile, tests/e2e/hostile.sh); make
# test runs it as part of e2e.
hostile: $(BUILD)/ombra guest-kernels $(BUILD)/tests/check-json
	$(Q)bash tests/e2e/hostile.sh $(BUILD)

test: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/tests/unit-tests
	$(Q)$(MAKE) --no-print-directory unit
	$(Q)$(MAKE) --no-print-directory mutate-sample
	$(Q)$(MAKE) --no-print-directory fuzz-smoke
	$(Q)$(MAKE) --no-print-directory e2e
	$(Q)$(MAKE) --no-print-directory nested-smoke

# The nested AMD-V host (docs/nested.md): Debian's kernel with kvm-amd,
# booted under QEMU TCG with -cpu max, runs ombra with real NPT (npt=1) and
# with KVM's own shadow MMU (npt=0).  The end-to-end suites run there
# against the QEMU TCG runs the e2e target made here (E2E_QEMU_REF), so e2e
# comes first.  nested-smoke (part of make test): the whole e2e and
# hostile suites with NPT, and mmutest under KVM's shadow MMU with the
# compare verdict; nested: the suites under both.
NESTED := $(BUILD)/nested
nested-smoke: $(BUILD)/ombra guest-kernels $(E2E_KERNELS) $(BUILD)/tests/check-json $(BUILD)/tests/check-trace linux
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 1 $(NESTED)/npt1 scripts/nested/e2e.sh $(NESTED)/npt1 $(BUILD) tdp:--mmu=tdp
	$(Q)REPORT_REAL=$(NESTED)/npt1/report E2E_OUT=$(BUILD)/e2e-report-nested bash tests/e2e/report_test.sh $(BUILD)
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 0 $(NESTED)/npt0-smoke scripts/nested/smoke.sh $(NESTED)/npt0-smoke $(BUILD)
	$(Q)NESTED_DIR=$(NESTED) bash scripts/docs-figures.sh check $(BUILD)

# The figures in the docs (docs/study.md, docs/strategies.md: every
# docs/*.md with a figure marker), rerun on the nested host and written into
# the blocks that hold them (scripts/docs-figures.sh); make test
# (nested-smoke) checks the deterministic ones against a rerun.
docs: $(BUILD)/ombra guest-kernels
	$(Q)NESTED_DIR=$(NESTED) bash scripts/docs-figures.sh write $(BUILD)

# One ombra compare table over hosts: columns label@host (docs/nested.md).
KERNEL ?= $(BUILD)/guest/mmutest.elf
APPEND ?= cases=demand64,cr3switch64,spaces64,nonpaging,paging64
compare-hosts: $(BUILD)/ombra guest-kernels
	$(Q)sh scripts/nested/compare-hosts.sh $(BUILD) $(KERNEL) "$(APPEND)" $(if $(JSON),--json)

nested: $(BUILD)/ombra guest-kernels $(E2E_KERNELS) $(BUILD)/tests/check-json $(BUILD)/tests/check-trace linux
	$(Q)$(MAKE) --no-print-directory e2e
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 1 $(NESTED)/npt1 scripts/nested/e2e.sh $(NESTED)/npt1 $(BUILD) $(LINUX_ALL)
	$(Q)REPORT_REAL=$(NESTED)/npt1/report E2E_OUT=$(BUILD)/e2e-report-nested bash tests/e2e/report_test.sh $(BUILD)
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 0 $(NESTED)/npt0 scripts/nested/e2e.sh $(NESTED)/npt0 $(BUILD) $(LINUX_ALL)

# The Linux guest (guest/linux/README.md): Debian's kernel package and
# busybox-static through apt, and the bench program built static, packed
# into an initramfs in $(LINUX) (rebuilt only when an input changes).
# linux-nested: it boots in every mode on the nested host (tests/e2e/linux.sh):
# tdp and each shadow strategy with NPT, tdp (KVM's shadow MMU) and shadow
# without.
LINUX := $(BUILD)/linux
LINUX_ALL := tdp:--mmu=tdp shadow-unsync:--mmu=shadow~--shadow-sync=unsync \
	shadow-wp:--mmu=shadow~--shadow-sync=wp shadow-vtlb:--mmu=shadow~--shadow-sync=vtlb
linux:
	$(Q)sh scripts/linux/build.sh $(LINUX)
linux-nested: $(BUILD)/ombra linux
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 1 $(NESTED)/linux-npt1 scripts/nested/linux.sh \
		$(NESTED)/linux-npt1 $(BUILD) $(LINUX_ALL)
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 0 $(NESTED)/linux-npt0 scripts/nested/linux.sh \
		$(NESTED)/linux-npt0 $(BUILD) $(LINUX_ALL)

# The same unit and end-to-end tests against an AddressSanitizer and
# UndefinedBehaviorSanitizer build of ombra in build-asan/.  Any finding
# fails: a sanitizer exits 99 (never one of ombra's statuses), and every
# stderr the end-to-end tests kept is searched for a report afterwards.
# LeakSanitizer cannot work under ombra's seccomp filter (its exit-time
# check needs ptrace and /proc), so the e2e suite runs with leak checks off
# and three whole runs follow with --no-seccomp and leak checks on.  Like
# make test, the part that needs KVM runs on the nested AMD-V host
# (scripts/nested/sanitize.sh), against this machine's QEMU TCG runs.
SAN_BUILD  := build-asan
SAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_ENV    := ASAN_OPTIONS=exitcode=99:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=99
SAN_E2E    := ASAN_OPTIONS=exitcode=99:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:exitcode=99
sanitize: deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CFLAGS="$(SAN_CFLAGS)" all $(SAN_BUILD)/tests/unit-tests linux
	$(Q)$(SAN_ENV) $(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CFLAGS="$(SAN_CFLAGS)" unit
	$(Q)$(SAN_E2E) $(MAKE) --no-print-directory BUILD=$(SAN_BUILD) CFLAGS="$(SAN_CFLAGS)" e2e
	$(Q)if grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" $(SAN_BUILD)/e2e/*.err $(SAN_BUILD)/hostile/*.err; then \
		echo "sanitize: the files above hold sanitizer reports"; exit 1; fi
	$(Q)NESTED_DIR=$(NESTED) sh scripts/nested/run.sh 1 $(SAN_BUILD)/nested scripts/nested/sanitize.sh \
		$(SAN_BUILD)/nested $(SAN_BUILD)
	@echo "sanitize: no findings"

# Fuzzing with libFuzzer (clang, ASan + UBSan): the multiboot loader, the
# guest page-table walker, shadow mode's instruction emulator and its trap
# path (tests/fuzz/).  make fuzz runs each for
# FUZZ_SECONDS on the committed corpus plus what it finds (new inputs go to
# build-fuzz/corpus-*, crashes to build-fuzz/crash-*); make test runs each
# briefly, writing nothing under tests/.
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 300
FUZZERS      := walk loader emulate trap irqchip
FUZZ_CFLAGS  := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -std=gnu11 \
		-D_GNU_SOURCE -Wall -Wextra -Werror -Isrc
FUZZ_SRC_walk   := src/x86/walk.c src/vmm/mem.c
FUZZ_SRC_loader := src/vmm/loader.c src/vmm/bzimage.c src/vmm/mem.c
FUZZ_SRC_irqchip := src/dev/pit.c src/dev/pic.c src/dev/ioapic.c src/dev/lapic.c
# The emulator and the trap path run on a shadow-mode machine built in
# memory (tests/fuzz/shadow_guest.c, with shadow_build); shadow.c and
# trap.c reach KVM set-up, the trace and the devices, so they link the core, and the
# monitor blob as the normal build assembles it.  kvm.c's struct kvm_msrs
# followed by an entry is a GNU extension clang warns about.
FUZZ_SRC_shadow := tests/fuzz/shadow_guest.c $(sort $(foreach d,$(CORE_DIRS),$(wildcard src/$(d)/*.c))) \
		$(BUILD)/src/shadow/monitor_blob.o
FUZZ_SRC_emulate  := $(FUZZ_SRC_shadow)
FUZZ_SRC_trap     := $(FUZZ_SRC_shadow)
FUZZ_FLAGS_emulate := -Wno-gnu-variable-sized-type-not-at-end $(LIBS)
FUZZ_FLAGS_trap    := $(FUZZ_FLAGS_emulate)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRC_$$*) $(wildcard src/*/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC_$*) $(FUZZ_FLAGS_$*)

fuzz: deps $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZERS))
	$(Q)for f in $(FUZZERS); do mkdir -p $(FUZZ_BUILD)/corpus-$$f; \
		$(FUZZ_BUILD)/fuzz_$$f $(FUZZ_BUILD)/corpus-$$f tests/fuzz/corpus/$$f -max_len=65556 \
		-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_BUILD)/crash-$$f- -print_final_stats=1 || exit 1; done

fuzz-smoke: $(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZERS))
	$(Q)for f in $(FUZZERS); do t=$$(mktemp -d); \
		$(FUZZ_BUILD)/fuzz_$$f $$t tests/fuzz/corpus/$$f -max_len=65556 -max_total_time=5 \
		-artifact_prefix=$(FUZZ_BUILD)/crash-$$f- >$(FUZZ_BUILD)/smoke-$$f.log 2>&1; r=$$?; rm -rf $$t; \
		if [ $$r != 0 ]; then tail -30 $(FUZZ_BUILD)/smoke-$$f.log; echo "fuzz: $$f found a crash"; exit 1; fi; \
		echo "fuzz: $$f $$(grep -o 'Done [0-9]* runs' $(FUZZ_BUILD)/smoke-$$f.log), no findings"; done

# The mutation check (docs/testing.md, scripts/mutate.sh): each small bug
# of tests/mutations.txt planted in a copy of the tree under build-mutate/,
# rebuilt, and run against the unit tests, its fuzz harness and (one boot
# of the nested AMD-V host for all of them) the guest kernels against QEMU
# TCG.  Fails when a mutation survives every layer.  mutate-sample: three
# mutations the unit tests catch, unit layer only (about a minute; make
# test runs it).
MUTATE_SAMPLE := walk-ignore-us,mmu-clean-writable,pic-imr-ignored
mutate: deps
	$(Q)bash scripts/mutate.sh

mutate-sample: deps
	$(Q)bash scripts/mutate.sh --only $(MUTATE_SAMPLE) --layers unit

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) build-mutate

-include $(LIB_O:.o=.d) $(MAIN_O:.o=.d) $(UNIT_O:.o=.d)
