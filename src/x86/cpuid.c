/*
 * The CPUID table.  docs/cpuid.md lists every leaf and bit with the reason
 * it is there; keep the two in step.
 */
#include "cpuid.h"

#include <string.h>

#define B(n) (1u << (n))

/* CPUID.1:EDX */
#define F1D_FPU   B(0)
#define F1D_DE    B(2)
#define F1D_PSE   B(3)
#define F1D_TSC   B(4)
#define F1D_MSR   B(5)
#define F1D_PAE   B(6)
#define F1D_CX8   B(8)
#define F1D_APIC  B(9)
#define F1D_PGE   B(13)
#define F1D_CMOV  B(15)
#define F1D_PAT   B(16)
#define F1D_PSE36 B(17)
#define F1D_CLFSH B(19)
#define F1D_MMX   B(23)
#define F1D_FXSR  B(24)
#define F1D_SSE   B(25)
#define F1D_SSE2  B(26)
/* CPUID.1:ECX */
#define F1C_CX16  B(13)
#define F1C_TSC_DEADLINE B(24)
#define F1C_HYPERVISOR B(31)
/* CPUID.80000001h */
#define X1C_LAHF  B(0)
#define X1D_SYSCALL B(11)
#define X1D_NX    B(20)
#define X1D_PDPE1GB B(26)
#define X1D_LM    B(29)

/* "GenuineIntel" in EBX, EDX, ECX order. */
#define VENDOR_EBX 0x756e6547u  /* "Genu" */
#define VENDOR_EDX 0x49656e69u  /* "ineI" */
#define VENDOR_ECX 0x6c65746eu  /* "ntel" */

/* "ombra virtual CPU" brand string, 48 bytes, NUL padded (little-endian words). */
#define BRAND(a, b, c, d) a, b, c, d

static const struct cpuid_entry table[] = {
	{ 0x00000000, 0, 0x00000007, VENDOR_EBX, VENDOR_ECX, VENDOR_EDX },
	/* family 15, model 6, stepping 1 (QEMU's kvm64); CLFLUSH 64 bytes, 1 logical CPU, APIC ID 0 */
	{ 0x00000001, 0, 0x00000f61, 0x00010800,
	  F1C_CX16 | F1C_TSC_DEADLINE | F1C_HYPERVISOR,
	  F1D_FPU | F1D_DE | F1D_PSE | F1D_TSC | F1D_MSR | F1D_PAE | F1D_CX8 | F1D_APIC |
	  F1D_PGE | F1D_CMOV | F1D_PAT | F1D_PSE36 | F1D_CLFSH | F1D_MMX | F1D_FXSR |
	  F1D_SSE | F1D_SSE2 },
	{ 0x00000002, 0, 0x00000001, 0, 0, 0 },   /* no cache descriptors */
	{ 0x00000003, 0, 0, 0, 0, 0 },
	{ 0x00000004, 0, 0, 0, 0, 0 },            /* no deterministic cache leaf */
	{ 0x00000005, 0, 0, 0, 0, 0 },            /* no MONITOR/MWAIT */
	{ 0x00000006, 0, 0, 0, 0, 0 },
	{ 0x00000007, 0, 0, 0, 0, 0 },            /* no SMEP, SMAP, FSGSBASE, ... */
	{ 0x80000000, 0, 0x80000008, VENDOR_EBX, VENDOR_ECX, VENDOR_EDX },
	{ 0x80000001, 0, 0x00000f61, 0, X1C_LAHF, X1D_SYSCALL | X1D_NX | X1D_PDPE1GB | X1D_LM },
	{ 0x80000002, 0, BRAND(0x72626d6f, 0x69762061, 0x61757472, 0x5043206c) }, /* "ombra virtual CPU" */
	{ 0x80000003, 0, BRAND(0x00000055, 0x00000000, 0x00000000, 0x00000000) },
	{ 0x80000004, 0, BRAND(0x00000000, 0x00000000, 0x00000000, 0x00000000) },
	{ 0x80000005, 0, 0, 0, 0, 0 },
	{ 0x80000006, 0, 0, 0, 0, 0 },
	{ 0x80000007, 0, 0, 0, 0, 0 },
	/* 40 physical address bits, 48 linear address bits */
	{ 0x80000008, 0, 0x00003028, 0, 0, 0 },
};

const struct cpuid_entry *cpuid_table(size_t *n)
{
	*n = sizeof(table) / sizeof(table[0]);
	return table;
}

/* The entry for function, or NULL. */
static const struct cpuid_entry *find(uint32_t function)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].function == function)
			return &table[i];
	return NULL;
}

/*
 * KVM's rule for a leaf that is not in the table (get_out_of_range_cpuid_entry):
 * inside a class whose top leaf covers it, zeros; past the top of its class,
 * or in a class the table does not have, the highest basic leaf, as Intel
 * CPUs do.  Shadow mode answers CPUID itself with the same rule.
 */
void cpuid_lookup(uint32_t function, uint32_t index, uint32_t out[4])
{
	const struct cpuid_entry *e = find(function), *class;

	(void)index;                        /* no leaf here depends on ECX */
	if (!e) {
		if (function >= 0x40000000u && function <= 0x4fffffffu)
			class = find(function & 0xffffff00u);
		else if (function >= 0xc0000000u)
			class = find(0xc0000000u);
		else
			class = find(function & 0x80000000u);
		if (!class || function > class->eax)
			e = find(table[0].eax);
	}
	if (!e) {
		memset(out, 0, 4 * sizeof(uint32_t));
		return;
	}
	out[0] = e->eax;
	out[1] = e->ebx;
	out[2] = e->ecx;
	out[3] = e->edx;
}
