/* MSI-X: the capability, its table in a BAR, and routing a table entry to a local-APIC vector. */
#ifndef GUEST_MSIX_H
#define GUEST_MSIX_H

#include "pci.h"

struct msix {
    const struct pci_device *dev;
    u8 cap;                             /* config-space offset of the capability */
    u16 entries;
    u64 table;                          /* guest-physical address of entry 0 */
};

/* Finds the capability and locates (and maps) its table. Returns NULL or what is wrong. */
const char *msix_init(struct msix *m, const struct pci_device *d);
/* Entry -> fixed, edge-triggered delivery of `vector` to the APIC `dest_apic_id`, unmasked. */
const char *msix_route(struct msix *m, u16 entry, u8 vector, u8 dest_apic_id);
/* Sets MSI-X Enable and clears Function Mask in Message Control. */
void msix_enable(struct msix *m);
/* Masks or unmasks one table entry (Vector Control), as Linux does around a message update. */
void msix_mask_entry(struct msix *m, u16 entry, int masked);
/* Sets or clears Function Mask in Message Control. */
void msix_function_mask(struct msix *m, int masked);

#endif
