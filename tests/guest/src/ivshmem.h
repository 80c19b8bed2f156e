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

/* Runs the exchange on the first ivshmem function among devs, with MSI-X entry 0 routed to
 * `vector` on APIC `bsp_apic`; prints what it did and fails the guest when a check does not hold.
 * Needs interrupts on and the APIC timer. */
void ivshmem_run(const struct pci_device *devs, int n, u8 vector, u8 bsp_apic);

#endif
