/*
 * cpumode.c: turning paging on and off, and the control bits that change
 * what the walk allows (CR0.WP, EFER.NXE).
 *
 * The 32-bit half starts every case with paging off; paging_enter() picks
 * 2-level (CR4.PSE for 4 MiB pages) or PAE and sets CR0.PG, paging_leave()
 * clears it again, so the next case starts clean.  The 64-bit half cannot
 * turn paging off (long mode needs it): there a case enters by loading its
 * own CR3 and leaves by going back to the boot tables of entry64.S, and the
 * mode switch itself (nonpaging -> long mode -> nonpaging) happens around
 * every call into the 64-bit half (longcall32.c, entry64.S).
 */
#include "cpu.h"
#include "paging.h"

void paging_set_root(void *root)
{
	write_cr3((uintptr_t)root);
}

void cpu_set_wp(bool on)
{
	unsigned long cr0 = read_cr0();

	write_cr0(on ? cr0 | CR0_WP : cr0 & ~(unsigned long)CR0_WP);
}

void cpu_set_nxe(bool on)
{
	uint64_t efer = rdmsr(MSR_EFER);

	wrmsr(MSR_EFER, on ? efer | EFER_NXE : efer & ~(uint64_t)EFER_NXE);
}

#ifdef __x86_64__
extern char boot_pml4[]; /* entry64.S */

void paging_enter(const struct pgmode *m, void *root)
{
	if (m != &pgmode_4level)
		panic("the 64-bit half can only use 4-level paging, not %s", m->name);
	paging_set_root(root);
}

void paging_leave(void)
{
	paging_set_root(boot_pml4);
	cpu_set_wp(false);
	cpu_set_nxe(false);
}
#else
void paging_enter(const struct pgmode *m, void *root)
{
	unsigned long cr4 = read_cr4() & ~(unsigned long)(CR4_PSE | CR4_PAE);

	if (m == &pgmode_2level)
		cr4 |= CR4_PSE;
	else if (m == &pgmode_pae)
		cr4 |= CR4_PAE;
	else
		panic("the 32-bit half cannot use %s paging", m->name);
	write_cr4(cr4);
	paging_set_root(root);
	/* Setting PG makes the CPU read the four PDPTEs in PAE mode (and on every
	 * later CR3 write): they are never changed while paging is on. */
	write_cr0(read_cr0() | CR0_PG);
}

void paging_leave(void)
{
	write_cr0(read_cr0() & ~(unsigned long)(CR0_PG | CR0_WP));
	write_cr4(read_cr4() & ~(unsigned long)(CR4_PSE | CR4_PAE));
	write_cr3(0);
	cpu_set_nxe(false);
}
#endif
