/*
 * The host side of KVM: /dev/kvm, the capabilities ombra relies on, creating
 * the VM and its vCPU, registering memslots.  Every failure says which ioctl
 * or file failed and what to do about it.
 */
#ifndef OMBRA_KVM_H
#define OMBRA_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


struct kvm_cap_info {
	int cap;            /* KVM_CAP_* */
	const char *name;   /* as in the KVM API documentation */
	bool required;      /* ombra cannot run without it */
	const char *why;    /* what ombra uses it for */
};

struct kvm_host {
	int fd;             /* /dev/kvm */
	int api_version;    /* KVM_GET_API_VERSION, 12 */
	int vcpu_mmap_size; /* KVM_GET_VCPU_MMAP_SIZE */
};

struct kvm_vm {
	struct kvm_host *host;
	int fd;              /* VM ioctls */
	int vcpu_fd;         /* vCPU ioctls (one vCPU) */
	struct kvm_run *run; /* the shared kvm_run page of the vCPU */
	int vm_stats_fd;     /* KVM_GET_STATS_FD on the VM, or -1 */
	int vcpu_stats_fd;   /* KVM_GET_STATS_FD on the vCPU, or -1 */
};

/* The capabilities ombra asks about, for `ombra info` and the checks. */
const struct kvm_cap_info *kvm_caps(size_t *n);

int kvm_host_open(struct kvm_host *h, const char *path, char *err, size_t errlen);
void kvm_host_close(struct kvm_host *h);
int kvm_host_check_cap(const struct kvm_host *h, int cap);

/* The VM (and its TSS address); then the mode's in-kernel devices, which
 * KVM wants before any vCPU; then the one vCPU, its kvm_run page and the
 * stats files.  On failure both undo everything (kvm_vm_destroy). */
int kvm_vm_create(struct kvm_host *h, struct kvm_vm *vm, char *err, size_t errlen);
int kvm_vcpu_create(struct kvm_vm *vm, char *err, size_t errlen);
/* Give the vCPU ombra's CPUID table; with umip, also CPUID.7:ECX.UMIP, so
 * that shadow mode can set CR4.UMIP on the real CPU, and with pku
 * CPUID.7:ECX.PKU, for CR4.PKE (the guest still sees the table, answered
 * by ombra under CPUID faulting). */
int kvm_vm_set_cpuid(struct kvm_vm *vm, bool umip, bool pku, char *err, size_t errlen);
/* Write or read one MSR of the vCPU (set-up, and the first use of the
 * guest's TSC offset: not on the hot path). */
int kvm_vm_set_msr(struct kvm_vm *vm, uint32_t index, uint64_t value);
int kvm_vm_get_msr(struct kvm_vm *vm, uint32_t index, uint64_t *value);
void kvm_vm_destroy(struct kvm_vm *vm);

/* CPUID features in ombra's table that this host's KVM cannot give a guest
 * (KVM_GET_SUPPORTED_CPUID), as one line for people ("" when none).
 * Guests that use them fault in tdp mode on this host. */
void kvm_host_cpuid_gaps(const struct kvm_host *h, char *out, size_t len);

/* KVM_SET_USER_MEMORY_REGION: slot id maps [mpa, mpa + size) to hva
 * (size 0 removes the slot).  0 or -errno. */
int kvm_vm_set_region(struct kvm_vm *vm, uint32_t id, uint32_t flags, uint64_t mpa, uint64_t size,
		      void *hva);

#endif
