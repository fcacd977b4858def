/*
 * /dev/kvm, the VM, the vCPU.  Library code: returns -errno with a message
 * in err; main decides what to do.
 */
#include "kvm.h"
#include "errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "x86/cpuid.h"

/* Where the Intel TSS region goes: three pages at the top of the 4 GiB hole,
 * where QEMU puts it, out of every guest's RAM. */
#define TSS_ADDR 0xfffbd000u

static const struct kvm_cap_info caps[] = {
	{ KVM_CAP_USER_MEMORY,    "KVM_CAP_USER_MEMORY",    true,  "guest RAM in ombra's own mappings (memslots)" },
	{ KVM_CAP_NR_MEMSLOTS,    "KVM_CAP_NR_MEMSLOTS",    false, "how many memslots the host allows" },
	{ KVM_CAP_EXT_CPUID,      "KVM_CAP_EXT_CPUID",      true,  "KVM_SET_CPUID2: the fixed CPUID table" },
	{ KVM_CAP_SET_TSS_ADDR,   "KVM_CAP_SET_TSS_ADDR",   false, "the TSS region VMX needs for real mode" },
	{ KVM_CAP_IRQCHIP,        "KVM_CAP_IRQCHIP",        false, "in-kernel PIC, IOAPIC and LAPIC (tdp mode)" },
	{ KVM_CAP_PIT2,           "KVM_CAP_PIT2",           false, "in-kernel 8254 PIT and port 0x61 (tdp mode)" },
	{ KVM_CAP_IRQ_ROUTING,    "KVM_CAP_IRQ_ROUTING",    false, "a PC's interrupt wiring: the PIT on IOAPIC pin 2 (tdp mode)" },
	{ KVM_CAP_SYNC_MMU,       "KVM_CAP_SYNC_MMU",       false, "KVM follows changes to ombra's mappings (MMU notifiers)" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", true,  "stopping a run on --timeout without a race" },
	{ KVM_CAP_READONLY_MEM,   "KVM_CAP_READONLY_MEM",   false, "read-only memslots" },
	{ KVM_CAP_BINARY_STATS_FD,"KVM_CAP_BINARY_STATS_FD",false, "KVM's own counters (pf_fixed, mmu_shadow_zapped, ...)" },
	{ KVM_CAP_SET_GUEST_DEBUG,"KVM_CAP_SET_GUEST_DEBUG",false, "single-stepping for traces" },
};

const struct kvm_cap_info *kvm_caps(size_t *n)
{
	*n = sizeof(caps) / sizeof(caps[0]);
	return caps;
}

int kvm_host_open(struct kvm_host *h, const char *path, char *err, size_t errlen)
{
	int e;

	memset(h, 0, sizeof(*h));
	h->fd = open(path, O_RDWR | O_CLOEXEC);
	if (h->fd < 0) {
		e = errno;
		if (e == ENOENT)
			return errmsg(err, errlen, -e,
				    "%s does not exist: load KVM (modprobe kvm_intel or kvm_amd) or run on a host with virtualization enabled",
				    path);
		if (e == EACCES || e == EPERM)
			return errmsg(err, errlen, -e,
				    "%s is not accessible: run as root or add yourself to the kvm group (usermod -aG kvm $USER)",
				    path);
		return errmsg(err, errlen, -e, "cannot open %s: %s", path, strerror(e));
	}
	h->api_version = ioctl(h->fd, KVM_GET_API_VERSION, 0);
	if (h->api_version != KVM_API_VERSION) {
		e = h->api_version < 0 ? errno : EINVAL;
		close(h->fd);
		h->fd = -1;
		if (h->api_version < 0)
			return errmsg(err, errlen, -e, "%s is not a KVM device (KVM_GET_API_VERSION: %s)",
				    path, strerror(e));
		return errmsg(err, errlen, -e, "%s speaks KVM API %d, ombra needs %d",
			    path, h->api_version, KVM_API_VERSION);
	}
	h->vcpu_mmap_size = ioctl(h->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (h->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		e = errno;
		close(h->fd);
		h->fd = -1;
		return errmsg(err, errlen, -e, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(e));
	}
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (caps[i].required && kvm_host_check_cap(h, caps[i].cap) <= 0) {
			close(h->fd);
			h->fd = -1;
			return errmsg(err, errlen, -ENOTSUP, "this host's KVM lacks %s (%s)",
				    caps[i].name, caps[i].why);
		}
	}
	return 0;
}

void kvm_host_close(struct kvm_host *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

int kvm_host_check_cap(const struct kvm_host *h, int cap)
{
	int r = ioctl(h->fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

int kvm_vm_create(struct kvm_host *h, struct kvm_vm *vm, char *err, size_t errlen)
{
	int e;

	memset(vm, 0, sizeof(*vm));
	vm->host = h;
	vm->fd = vm->vcpu_fd = vm->vm_stats_fd = vm->vcpu_stats_fd = -1;

	vm->fd = ioctl(h->fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return errmsg(err, errlen, -errno, "KVM_CREATE_VM failed: %s", strerror(errno));
	if (kvm_host_check_cap(h, KVM_CAP_SET_TSS_ADDR) &&
	    ioctl(vm->fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0) {
		e = errno;
		kvm_vm_destroy(vm);
		return errmsg(err, errlen, -e, "KVM_SET_TSS_ADDR failed: %s", strerror(e));
	}
	return 0;
}

int kvm_vcpu_create(struct kvm_vm *vm, char *err, size_t errlen)
{
	struct kvm_host *h = vm->host;
	int e;

	vm->vcpu_fd = ioctl(vm->fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0) {
		e = errno;
		kvm_vm_destroy(vm);
		return errmsg(err, errlen, -e, "KVM_CREATE_VCPU failed: %s", strerror(e));
	}
	vm->run = mmap(NULL, (size_t)h->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		e = errno;
		vm->run = NULL;
		kvm_vm_destroy(vm);
		return errmsg(err, errlen, -e, "mmap of the vCPU's kvm_run page failed: %s", strerror(e));
	}
	if (kvm_host_check_cap(h, KVM_CAP_BINARY_STATS_FD)) {
		vm->vm_stats_fd = ioctl(vm->fd, KVM_GET_STATS_FD, NULL);
		vm->vcpu_stats_fd = ioctl(vm->vcpu_fd, KVM_GET_STATS_FD, NULL);
	}
	return 0;
}

int kvm_vm_set_cpuid(struct kvm_vm *vm, bool umip, bool pku, char *err, size_t errlen)
{
	size_t n;
	const struct cpuid_entry *t = cpuid_table(&n);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
	int r = 0;

	if (!c)
		return -ENOMEM;
	c->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		c->entries[i].function = t[i].function;
		c->entries[i].index = t[i].index;
		c->entries[i].eax = t[i].eax;
		c->entries[i].ebx = t[i].ebx;
		c->entries[i].ecx = t[i].ecx;
		c->entries[i].edx = t[i].edx;
		if (umip && t[i].function == 7)
			c->entries[i].ecx |= 1u << 2;        /* UMIP */
		if (pku && t[i].function == 7)
			c->entries[i].ecx |= 1u << 3;        /* PKU */
	}
	if (ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		r = errmsg(err, errlen, -errno, "KVM_SET_CPUID2 failed: %s", strerror(errno));
	free(c);
	return r;
}

/* One MSR of the vCPU through KVM_GET_MSRS or KVM_SET_MSRS. */
static int one_msr(struct kvm_vm *vm, unsigned long req, uint32_t index, uint64_t *value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e.index = index;
	m.e.data = *value;
	if (ioctl(vm->vcpu_fd, req, &m) != 1)
		return -EINVAL;
	*value = m.e.data;
	return 0;
}

int kvm_vm_set_msr(struct kvm_vm *vm, uint32_t index, uint64_t value)
{
	return one_msr(vm, KVM_SET_MSRS, index, &value);
}

int kvm_vm_get_msr(struct kvm_vm *vm, uint32_t index, uint64_t *value)
{
	*value = 0;
	return one_msr(vm, KVM_GET_MSRS, index, value);
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
	if (vm->run)
		munmap(vm->run, (size_t)vm->host->vcpu_mmap_size);
	if (vm->vcpu_stats_fd >= 0)
		close(vm->vcpu_stats_fd);
	if (vm->vm_stats_fd >= 0)
		close(vm->vm_stats_fd);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->fd >= 0)
		close(vm->fd);
	vm->run = NULL;
	vm->fd = vm->vcpu_fd = vm->vm_stats_fd = vm->vcpu_stats_fd = -1;
}

int kvm_vm_set_region(struct kvm_vm *vm, uint32_t id, uint32_t flags, uint64_t mpa, uint64_t size,
		      void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = id,
		.flags = flags,
		.guest_phys_addr = mpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};

	return ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* Names of the CPUID bits ombra's table sets, for messages. */
static const char *feature_name(uint32_t function, int reg, unsigned bit)
{
	static const struct { uint32_t f; int reg; unsigned bit; const char *name; } names[] = {
		{ 1, 3, 3, "PSE (4 MiB pages)" }, { 1, 3, 6, "PAE" }, { 1, 3, 13, "PGE (global pages)" },
		{ 1, 3, 17, "PSE-36" }, { 1, 3, 16, "PAT" }, { 1, 3, 9, "APIC" },
		{ 0x80000001, 3, 20, "NX" }, { 0x80000001, 3, 26, "PDPE1GB (1 GiB pages)" },
		{ 0x80000001, 3, 29, "LM (long mode)" }, { 0x80000001, 2, 0, "LAHF/SAHF in 64-bit mode" },
		{ 1, 2, 31, "HYPERVISOR" }, { 1, 2, 23, "POPCNT" }, { 1, 2, 13, "CX16" }, { 1, 2, 0, "SSE3" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].f == function && names[i].reg == reg && names[i].bit == bit)
			return names[i].name;
	return NULL;
}

void kvm_host_cpuid_gaps(const struct kvm_host *h, char *out, size_t len)
{
	size_t n, used = 0;
	const struct cpuid_entry *t = cpuid_table(&n);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(struct kvm_cpuid_entry2));

	out[0] = 0;
	if (!c)
		return;
	c->nent = 256;
	if (ioctl(h->fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		free(c);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct kvm_cpuid_entry2 *k = NULL;

		if (t[i].function != 1 && t[i].function != 0x80000001)
			continue;
		for (uint32_t j = 0; j < c->nent; j++)
			if (c->entries[j].function == t[i].function && c->entries[j].index == t[i].index)
				k = &c->entries[j];
		for (int reg = 2; reg <= 3; reg++) {
			uint32_t ours = reg == 2 ? t[i].ecx : t[i].edx;
			uint32_t theirs = k ? (reg == 2 ? k->ecx : k->edx) : 0;
			uint32_t missing = ours & ~theirs;

			for (unsigned bit = 0; bit < 32; bit++) {
				const char *name;
				int w;

				if (!(missing & (1u << bit)))
					continue;
				name = feature_name(t[i].function, reg, bit);
				w = name ? snprintf(out + used, len - used, "%s%s", used ? ", " : "", name)
					 : snprintf(out + used, len - used, "%sCPUID %#x %s bit %u", used ? ", " : "",
						    t[i].function, reg == 2 ? "ECX" : "EDX", bit);
				if (w > 0 && (size_t)w < len - used)
					used += (size_t)w;
			}
		}
	}
	free(c);
}
