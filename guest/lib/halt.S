/*
 * halt.S: sti_hlt_cli (cpu.h), the one wait for an interrupt that loses
 * none: STI, then HLT in its one-instruction shadow, then CLI.  The same
 * bytes in both halves (no operand is 32- or 64-bit), assembled into each;
 * its HLT is labelled so interrupt handlers can tell an interrupt taken
 * there, inside the shadow (trap.h, sti_shadow_breaks).
 */
	.text
	.globl	sti_hlt_cli, sti_hlt_cli_hlt
sti_hlt_cli:
	sti
sti_hlt_cli_hlt:
	hlt
	cli
	ret
