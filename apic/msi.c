/* apic/msi.c: what an MSI means on x86: the SDM's address format in KVM's x2APIC-API form. */
#include <string.h>
#include <linux/kvm.h>

#include "apic.h"

#define MSI_ADDR_BASE  0xfee00000u
#define MSI_ADDR_MASK  0xfff00000u
#define MSI_EXT_SHIFT  5
#define MSI_EXT_MASK   (0x7fu << MSI_EXT_SHIFT)

bool msi_addr_to_kvm(uint64_t addr, uint32_t *lo, uint32_t *hi)
{
	uint32_t a = (uint32_t)addr;

	if ((addr >> 32) != 0 || (a & MSI_ADDR_MASK) != MSI_ADDR_BASE)
		return false;
	*lo = a & ~MSI_EXT_MASK;
	*hi = ((a & MSI_EXT_MASK) >> MSI_EXT_SHIFT) << 8;   /* destination bits 14:8 */
	return true;
}

bool arch_msi(uint64_t addr, uint32_t data, uint32_t devid, struct kvm_msi *out)
{
	memset(out, 0, sizeof(*out));
	out->data = data;
	return msi_addr_to_kvm(addr, &out->address_lo, &out->address_hi);
}
