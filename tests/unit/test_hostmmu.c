/*
 * Unit tests for host MMU detection (src/host/hostmmu.c).
 *
 * Each test builds a fake sysfs tree in a fresh temporary directory
 * (mkdtemp): sys/module/<module>/parameters/<param> files holding what the
 * kernel prints for module parameters ("Y"/"N" for bools, "1"/"0" for ints,
 * with a newline), and points hostmmu_detect at it.  Checked: kvm_intel
 * ept=Y is EPT, kvm_amd npt=1/Y is NPT, kvm_pvm is shadow, a vendor module
 * with EPT/NPT off is shadow, nothing is unknown, and kvm's tdp_mmu
 * parameter.
 */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/hostmmu.h"

static char root[64];

static void mkdirs(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

/* Create sys/module/<module>/ and, when param is given, the parameter file. */
static void fake_param(const char *module, const char *param, const char *contents)
{
	char rel[256], path[512];
	FILE *f;

	snprintf(rel, sizeof(rel), "sys/module/%s/parameters", module);
	mkdirs(rel);
	if (!param)
		return;
	snprintf(path, sizeof(path), "%s/%s/%s", root, rel, param);
	f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(contents, f);
	fclose(f);
}

static void fake_module_dir(const char *module)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "sys/module/%s", module);
	mkdirs(rel);
}

static void setup(void)
{
	snprintf(root, sizeof(root), "/tmp/ombra-hostmmu-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	if (root[0])
		nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(hostmmu, .init = setup, .fini = teardown);

Test(hostmmu, intel_ept_on)
{
	struct hostmmu h;

	fake_param("kvm_intel", "ept", "Y\n");
	fake_param("kvm", "tdp_mmu", "Y\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_EPT);
	cr_expect_str_eq(h.module, "kvm_intel");
	cr_expect_gt(strlen(h.summary), 0);
	cr_expect_eq(h.tdp_mmu, 1);
	cr_expect_str_eq(hostmmu_kind_name(h.kind), "ept");
}

Test(hostmmu, amd_npt_on_int_style)
{
	struct hostmmu h;

	fake_param("kvm_amd", "npt", "1\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_NPT);
	cr_expect_str_eq(h.module, "kvm_amd");
	cr_expect_str_eq(hostmmu_kind_name(h.kind), "npt");
}

Test(hostmmu, amd_npt_on_bool_style)
{
	/* Newer kernels declare npt as a bool parameter: it reads "Y". */
	struct hostmmu h;

	fake_param("kvm_amd", "npt", "Y\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_NPT);
}

Test(hostmmu, pvm_is_shadow)
{
	struct hostmmu h;

	fake_module_dir("kvm_pvm");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_SHADOW);
	cr_expect_str_eq(h.module, "kvm_pvm");
	cr_expect_str_eq(hostmmu_kind_name(h.kind), "shadow");
}

Test(hostmmu, pvm_with_params_dir_is_shadow)
{
	struct hostmmu h;

	fake_param("kvm_pvm", NULL, NULL);
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_SHADOW);
}

Test(hostmmu, intel_ept_off_is_shadow)
{
	struct hostmmu h;

	fake_param("kvm_intel", "ept", "N\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_SHADOW);
	cr_expect_str_eq(h.module, "kvm_intel");
	cr_expect(strstr(h.summary, "ept") != NULL, "summary says why: %s", h.summary);
}

Test(hostmmu, amd_npt_off_is_shadow)
{
	struct hostmmu h;

	fake_param("kvm_amd", "npt", "0\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_SHADOW);
	cr_expect_str_eq(h.module, "kvm_amd");
}

Test(hostmmu, nothing_is_unknown)
{
	struct hostmmu h;

	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_UNKNOWN);
	cr_expect_eq(h.tdp_mmu, -1, "no kvm module: tdp_mmu unknown");
	cr_expect_gt(strlen(h.summary), 0);
	cr_expect_str_eq(hostmmu_kind_name(h.kind), "unknown");
}

Test(hostmmu, only_kvm_is_unknown)
{
	struct hostmmu h;

	fake_param("kvm", "tdp_mmu", "N\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_UNKNOWN);
	cr_expect_eq(h.tdp_mmu, 0);
}

Test(hostmmu, missing_root_is_unknown)
{
	struct hostmmu h;

	hostmmu_detect("/nonexistent/ombra/test/root", &h);
	cr_expect_eq(h.kind, HOSTMMU_UNKNOWN);
	cr_expect_eq(h.tdp_mmu, -1);
}

Test(hostmmu, tdp_mmu_yes)
{
	struct hostmmu h;

	fake_param("kvm_amd", "npt", "1\n");
	fake_param("kvm", "tdp_mmu", "Y\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.tdp_mmu, 1);
}

Test(hostmmu, tdp_mmu_no)
{
	struct hostmmu h;

	fake_param("kvm_intel", "ept", "Y\n");
	fake_param("kvm", "tdp_mmu", "N\n");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_EPT);
	cr_expect_eq(h.tdp_mmu, 0);
}

Test(hostmmu, tdp_mmu_absent)
{
	struct hostmmu h;

	fake_param("kvm_intel", "ept", "Y\n");
	fake_param("kvm", NULL, NULL);         /* module there, parameter not */
	hostmmu_detect(root, &h);
	cr_expect_eq(h.tdp_mmu, -1);
}

Test(hostmmu, ept_on_wins_over_pvm)
{
	/* Several KVM modules loaded: the one with two-dimensional paging on is used. */
	struct hostmmu h;

	fake_param("kvm_intel", "ept", "Y\n");
	fake_module_dir("kvm_pvm");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_EPT);
}

Test(hostmmu, pvm_wins_over_ept_off)
{
	struct hostmmu h;

	fake_param("kvm_intel", "ept", "N\n");
	fake_module_dir("kvm_pvm");
	hostmmu_detect(root, &h);
	cr_expect_eq(h.kind, HOSTMMU_SHADOW);
	cr_expect_str_eq(h.module, "kvm_pvm");
}

Test(hostmmu, kvm_intel_without_ept_param_is_not_ept)
{
	struct hostmmu h;

	fake_param("kvm_intel", NULL, NULL);
	hostmmu_detect(root, &h);
	cr_expect_neq(h.kind, HOSTMMU_EPT);
	cr_expect_neq(h.kind, HOSTMMU_NPT);
}

/* First character of a real sysfs file, 0 when it cannot be read. */
static char sys_char(const char *path)
{
	FILE *f = fopen(path, "r");
	int c;

	if (!f)
		return 0;
	c = fgetc(f);
	fclose(f);
	return c == EOF ? 0 : (char)c;
}

static int sys_yes(char c) { return c == 'Y' || c == 'y' || c == '1'; }

Test(hostmmu, real_sysfs_matches_the_module_parameters)
{
	/* This host's real /sys, read here by docs/host.md's table: ept = Y is
	 * EPT, npt = 1/Y is NPT, else kvm_pvm present or ept/npt = N is shadow,
	 * else unknown (EPT/NPT on wins over kvm_pvm, which wins over a vendor
	 * module with it off); tdp_mmu Y/N is 1/0, absent -1. */
	char ept = sys_char("/sys/module/kvm_intel/parameters/ept");
	char npt = sys_char("/sys/module/kvm_amd/parameters/npt");
	char tdp = sys_char("/sys/module/kvm/parameters/tdp_mmu");
	struct stat st;
	int pvm = stat("/sys/module/kvm_pvm", &st) == 0 && S_ISDIR(st.st_mode);
	enum hostmmu_kind want;
	const char *module, *name;
	struct hostmmu h;

	if (sys_yes(ept))
		want = HOSTMMU_EPT, module = "kvm_intel", name = "ept";
	else if (sys_yes(npt))
		want = HOSTMMU_NPT, module = "kvm_amd", name = "npt";
	else if (pvm)
		want = HOSTMMU_SHADOW, module = "kvm_pvm", name = "shadow";
	else if (ept || npt)
		want = HOSTMMU_SHADOW, module = ept ? "kvm_intel" : "kvm_amd", name = "shadow";
	else
		want = HOSTMMU_UNKNOWN, module = "", name = "unknown";
	cr_log_info("this host: %s (%s), tdp_mmu %c", name, module, tdp ? tdp : '-');

	hostmmu_detect("", &h);
	cr_expect_eq(h.kind, want, "kind %d (%s), the sysfs files say %s", h.kind,
		     hostmmu_kind_name(h.kind), name);
	cr_expect_str_eq(h.module, module);
	cr_expect_str_eq(hostmmu_kind_name(h.kind), name);
	cr_expect_gt(strlen(h.summary), 0);
	cr_expect_eq(h.tdp_mmu, tdp ? sys_yes(tdp) : -1, "tdp_mmu %d, the file says %c", h.tdp_mmu,
		     tdp ? tdp : '-');
}
