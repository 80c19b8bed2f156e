#include "msix.h"
#include "cpu.h"

#define MSIX_CONTROL 2
#define MSIX_TABLE 4
#define MSIX_CONTROL_ENABLE 0x8000
#define MSIX_CONTROL_FUNCTION_MASK 0x4000
#define MSIX_CONTROL_SIZE_MASK 0x07FF
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CONTROL 12
#define MSIX_ENTRY_MASKED 1
#define MSI_ADDRESS_BASE 0xFEE00000U    /* the x86 interrupt-message window */

const char *msix_init(struct msix *m, const struct pci_device *d)
{
    m->dev = d;
    m->cap = pci_find_capability(d, PCI_CAP_ID_MSIX, 0);
    if (!m->cap)
        return "no MSI-X capability";
    m->entries = (pci_read16(d, m->cap + MSIX_CONTROL) & MSIX_CONTROL_SIZE_MASK) + 1;
    u32 table = pci_read32(d, m->cap + MSIX_TABLE);
    return pci_bar_region(d, table & 7, table & ~7U, (u64)m->entries * MSIX_ENTRY_SIZE, &m->table);
}

const char *msix_route(struct msix *m, u16 entry, u8 vector, u8 dest_apic_id)
{
    if (entry >= m->entries)
        return "MSI-X table has too few entries";
    u64 e = m->table + (u64)entry * MSIX_ENTRY_SIZE;
    mmio_write32(e + MSIX_ENTRY_CONTROL, MSIX_ENTRY_MASKED);   /* never half-programmed live */
    mmio_write32(e + MSIX_ENTRY_ADDR_LO, MSI_ADDRESS_BASE | (u32)dest_apic_id << 12);
    mmio_write32(e + MSIX_ENTRY_ADDR_HI, 0);
    mmio_write32(e + MSIX_ENTRY_DATA, vector);                 /* fixed delivery, edge */
    mmio_write32(e + MSIX_ENTRY_CONTROL, 0);
    return NULL;
}

void msix_enable(struct msix *m)
{
    u16 ctl = pci_read16(m->dev, m->cap + MSIX_CONTROL);
    ctl = (ctl | MSIX_CONTROL_ENABLE) & ~MSIX_CONTROL_FUNCTION_MASK;
    pci_write16(m->dev, m->cap + MSIX_CONTROL, ctl);
}

void msix_mask_entry(struct msix *m, u16 entry, int masked)
{
    mmio_write32(m->table + (u64)entry * MSIX_ENTRY_SIZE + MSIX_ENTRY_CONTROL, masked ? MSIX_ENTRY_MASKED : 0);
}

void msix_function_mask(struct msix *m, int masked)
{
    u16 ctl = pci_read16(m->dev, m->cap + MSIX_CONTROL);
    ctl = masked ? ctl | MSIX_CONTROL_FUNCTION_MASK : ctl & ~MSIX_CONTROL_FUNCTION_MASK;
    pci_write16(m->dev, m->cap + MSIX_CONTROL, ctl);
}
