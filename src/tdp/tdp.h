/*
 * tdp mode: the guest runs at ring 0 in KVM and KVM's own MMU translates
 * guest-physical to host addresses (EPT/NPT on bare metal; on a host
 * without them, KVM's shadow MMU, reported as such).
 */
#ifndef OMBRA_TDP_H
#define OMBRA_TDP_H

#include "vmm/vm.h"

extern const struct vm_mode tdp_mode;

#endif
