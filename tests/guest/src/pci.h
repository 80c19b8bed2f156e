/* PCI on bus 0 through configuration mechanism #1 (ports 0xCF8/0xCFC): enumeration, BAR sizing
 * and assignment, capability lists. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include "types.h"

#define PCI_MAX_DEVICES 32

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_CLASS_REVISION 0x08
#define PCI_HEADER_TYPE 0x0E
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_ID 0x2E
#define PCI_CAPABILITY_LIST 0x34

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VENDOR 0x09

struct pci_bar {
    u64 base;
    u64 size;                           /* 0: not implemented */
    u8 is_io;
    u8 is_64;                           /* a 64-bit BAR; the next slot is its upper half */
    u8 prefetchable;
    u8 assigned_by_guest;
};

struct pci_device {
    u8 bus, slot, func;
    u16 vendor, device, subsystem;
    u32 class_code;                     /* class << 16 | subclass << 8 | prog-if */
    u8 header_type;
    struct pci_bar bars[6];
};

u8 pci_read8(const struct pci_device *d, u16 off);
u16 pci_read16(const struct pci_device *d, u16 off);
u32 pci_read32(const struct pci_device *d, u16 off);
void pci_write8(const struct pci_device *d, u16 off, u8 v);
void pci_write16(const struct pci_device *d, u16 off, u16 v);
void pci_write32(const struct pci_device *d, u16 off, u32 v);

/* Scans bus 0 (every function of multi-function devices), prints one line per function and
 * sizes the memory BARs of type-0 headers. Returns the number of devices found. */
int pci_enumerate(struct pci_device *devs, int max);

/* Gives an address to every implemented memory BAR that reads 0 - and to every memory BAR of
 * the devices for which reassign(d) is true - from the guest's windows (32-bit BARs from
 * 0xE0000000, 64-bit ones from 0x80_0000_0000), avoiding the BARs already placed, and enables
 * memory decoding where it did. Returns NULL or what went wrong. */
const char *pci_assign_bars(struct pci_device *devs, int n, int (*reassign)(const struct pci_device *d));

/* Config offset of the first capability with this id that follows the one at `after` (0: search
 * from the start of the list), or 0. Bounded: a looping list ends the walk. */
u8 pci_find_capability(const struct pci_device *d, u8 id, u8 after);

/* The guest-physical address of [off, off+len) inside memory BAR `bar`, made accessible (mapped
 * when above 4 GiB). Returns NULL or what is wrong: no such BAR, an I/O BAR, unassigned, or the
 * range runs past the BAR's size. */
const char *pci_bar_region(const struct pci_device *d, u8 bar, u64 off, u64 len, u64 *addr);

#endif
