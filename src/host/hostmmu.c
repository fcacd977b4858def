/*
 * Host MMU detection.  Order matters: a host may have several KVM modules
 * loaded; the vendor module whose parameters say EPT/NPT is on wins, then
 * kvm_pvm (always shadow), then a vendor module with EPT/NPT off.
 */
#include "hostmmu.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* First character of a sysfs parameter file, or 0 when it is absent. */
static char param(const char *sysroot, const char *module, const char *name)
{
	char path[512], buf[8] = { 0 };
	FILE *f;

	snprintf(path, sizeof(path), "%s/sys/module/%s/parameters/%s", sysroot, module, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return buf[0];
}

static int module_loaded(const char *sysroot, const char *module)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/sys/module/%s", sysroot, module);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int yes(char c)
{
	return c == 'Y' || c == 'y' || c == '1';
}

void hostmmu_detect(const char *sysroot, struct hostmmu *out)
{
	char ept = param(sysroot, "kvm_intel", "ept");
	char npt = param(sysroot, "kvm_amd", "npt");
	char tdp = param(sysroot, "kvm", "tdp_mmu");

	memset(out, 0, sizeof(*out));
	out->tdp_mmu = tdp ? yes(tdp) : -1;
	if (yes(ept)) {
		out->kind = HOSTMMU_EPT;
		snprintf(out->module, sizeof(out->module), "kvm_intel");
		snprintf(out->summary, sizeof(out->summary),
			 "EPT (Intel two-dimensional paging, kvm_intel ept=Y)");
	} else if (yes(npt)) {
		out->kind = HOSTMMU_NPT;
		snprintf(out->module, sizeof(out->module), "kvm_amd");
		snprintf(out->summary, sizeof(out->summary),
			 "NPT (AMD two-dimensional paging, kvm_amd npt=1)");
	} else if (module_loaded(sysroot, "kvm_pvm")) {
		out->kind = HOSTMMU_SHADOW;
		snprintf(out->module, sizeof(out->module), "kvm_pvm");
		snprintf(out->summary, sizeof(out->summary),
			 "shadow paging (kvm_pvm: KVM's shadow MMU, no EPT/NPT on this host)");
	} else if (ept || npt) {
		out->kind = HOSTMMU_SHADOW;
		snprintf(out->module, sizeof(out->module), ept ? "kvm_intel" : "kvm_amd");
		snprintf(out->summary, sizeof(out->summary),
			 "shadow paging (%s with %s off: KVM's shadow MMU)", out->module,
			 ept ? "ept" : "npt");
	} else {
		out->kind = HOSTMMU_UNKNOWN;
		snprintf(out->summary, sizeof(out->summary),
			 "unknown (no kvm_intel, kvm_amd or kvm_pvm parameters in %s/sys/module)", sysroot);
	}
}

const char *hostmmu_kind_name(enum hostmmu_kind k)
{
	switch (k) {
	case HOSTMMU_EPT:    return "ept";
	case HOSTMMU_NPT:    return "npt";
	case HOSTMMU_SHADOW: return "shadow";
	default:             return "unknown";
	}
}
