/*
 * Which MMU the host's KVM uses for a guest: EPT (Intel), NPT (AMD), or a
 * shadow MMU (no two-dimensional paging: kvm_pvm, or kvm_intel with ept=N).
 * Read from sysfs; sysroot lets unit tests point it at a fake tree.
 */
#ifndef OMBRA_HOSTMMU_H
#define OMBRA_HOSTMMU_H

enum hostmmu_kind {
	HOSTMMU_UNKNOWN,
	HOSTMMU_EPT,        /* Intel VMX with extended page tables */
	HOSTMMU_NPT,        /* AMD SVM with nested page tables */
	HOSTMMU_SHADOW,     /* KVM's shadow MMU: no EPT/NPT */
};

struct hostmmu {
	enum hostmmu_kind kind;
	char module[32];     /* kvm_intel, kvm_amd, kvm_pvm */
	char summary[160];   /* one line for people */
	int tdp_mmu;         /* kvm.tdp_mmu: 1, 0, or -1 unknown */
};

/* sysroot is "" for the real /sys, or a directory holding sys/module/... */
void hostmmu_detect(const char *sysroot, struct hostmmu *out);
const char *hostmmu_kind_name(enum hostmmu_kind k);

#endif
