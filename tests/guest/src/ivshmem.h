/* The `ivshmem` mode: two guests, each with an ivshmem-doorbell (PCI 1af4:1110, QEMU's layout:
 * BAR0 registers, BAR1 MSI-X, BAR2 the shared memory) on the same ivshmem server, find each other
 * through the shared memory and ring each other's vector 0 in turn. The host side is in the tests
 * module (KvmIvshmemTestGuestsTest), which knows these numbers too. */
#ifndef GUEST_IVSHMEM_H
#define GUEST_IVSHMEM_H

#include "pci.h"

#define IVSHMEM_VENDOR 0x1AF4
#define IVSHMEM_DEVICE 0x1110
#define IVSHMEM_REG_IVPOSITION 0x08
#define IVSHMEM_REG_DOORBELL 0x0C
/* Each guest writes PRESENT at SLOTS + 4 * its id once its MSI-X vector 0 is routed and enabled;
 * at the end it writes the interrupts it took at COUNTS + 4 * id. Ids 0..MAX_ID-1 are looked at. */
#define IVSHMEM_SLOTS 0x100
#define IVSHMEM_COUNTS 0x200
#define IVSHMEM_PRESENT 0x49565348U     /* "HSVI" */
#define IVSHMEM_MAX_ID 64
/* Doorbells each guest rings (and interrupts each takes): in turn, the lower id first. */
#define IVSHMEM_ROUNDS 100

/* ivshmem-plain (no MSI-X capability, IVPosition 0): the host writes PLAIN_HOST_BASE + i at
 * PLAIN_HOST_STRIDE * i of BAR2 (i < PLAIN_HOST_WORDS) before the guest starts; the guest checks
 * them and writes PLAIN_GUEST_BASE + i at PLAIN_GUEST_OFFSET + 4 * i for the host to read. */
#define IVSHMEM_PLAIN_HOST_WORDS 16
#define IVSHMEM_PLAIN_HOST_STRIDE 4096
#define IVSHMEM_PLAIN_HOST_BASE 0x5EED0000U
#define IVSHMEM_PLAIN_GUEST_OFFSET 0x20000
#define IVSHMEM_PLAIN_GUEST_WORDS 64
#define IVSHMEM_PLAIN_GUEST_BASE 0x6E570000U

/* Runs the exchange (or, on an ivshmem-plain, the shared-memory check) on the first ivshmem function among devs, with MSI-X entry 0 routed to
 * `vector` on APIC `bsp_apic`; prints what it did and fails the guest when a check does not hold.
 * Needs interrupts on and the APIC timer. */
void ivshmem_run(const struct pci_device *devs, int n, u8 vector, u8 bsp_apic);

#endif
