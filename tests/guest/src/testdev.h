/* The `testdev` mode: jvmm's test device (jvmm-testdev, PCI 1af4:10fe, class ff0000), checked
 * with the host's help. BAR0 holds registers, BAR1 the MSI-X table (0) and PBA (2048), BAR2 RAM
 * the host shares (64-bit, prefetchable). The host side lives in the tests module
 * (KvmTestDeviceTest, VfioUserTestGuestTestDeviceTest), which knows these numbers too. */
#ifndef GUEST_TESTDEV_H
#define GUEST_TESTDEV_H

#include "pci.h"

#define TESTDEV_VENDOR 0x1AF4
#define TESTDEV_DEVICE 0x10FE
#define TESTDEV_MAGIC 0x544D564AU       /* "JVMT" */
#define TESTDEV_REG_MAGIC 0x00
#define TESTDEV_REG_DOORBELL 0x04       /* a 4-byte write is one doorbell (an ioeventfd under KVM) */
#define TESTDEV_REG_DOORBELLS 0x08      /* doorbells the device has counted */
#define TESTDEV_REG_RAM_SIZE 0x0C       /* BAR2's size (low 32 bits) */
#define TESTDEV_REG_VECTORS 0x10        /* MSI-X vectors */
#define TESTDEV_REGS_LEN 0x14

/* Before the guest starts, the host writes word i (i < HOST_WORDS) at HOST_STRIDE * i of BAR2. */
#define TESTDEV_HOST_WORDS 16
#define TESTDEV_HOST_STRIDE 4096
#define TESTDEV_HOST_BASE 0xC0DE0000U
/* The guest writes GUEST_WORDS words GUEST_BASE + i from GUEST_OFFSET on, for the host to read. */
#define TESTDEV_GUEST_OFFSET 0x10000
#define TESTDEV_GUEST_WORDS 256
#define TESTDEV_GUEST_BASE 0xA5000000U
/* Doorbells rung and counted; then one more, the "ready" doorbell: MSI-X entry MSIX_ENTRY is
 * programmed and the guest waits for it. The host then writes TOKEN at TOKEN_OFFSET of BAR2 and
 * raises that vector (TestPciDevice.raise(1)). So the device counts DOORBELLS + 1 in all. */
#define TESTDEV_DOORBELLS 10
#define TESTDEV_MSIX_ENTRY 1
#define TESTDEV_TOKEN_OFFSET 8
#define TESTDEV_TOKEN 0xC0DEF00DU
/* BAR2 must hold all of the above: a power of two above GUEST_OFFSET + 4 * GUEST_WORDS. */
#define TESTDEV_MIN_RAM 0x20000

/* Whether d is a jvmm-testdev function. */
int testdev_match(const struct pci_device *d);

/* Runs every check on the first jvmm-testdev among devs, routing MSI-X entry TESTDEV_MSIX_ENTRY
 * to `vector` on the APIC `bsp_apic`; prints one line per check and fails the guest on the first
 * that does not hold (or when there is no such device). Needs interrupts on and the APIC timer. */
void testdev_run(const struct pci_device *devs, int n, u8 vector, u8 bsp_apic);

#endif
