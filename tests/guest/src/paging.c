#include "paging.h"
#include "cpu.h"

#define PTE_PRESENT 0x001UL
#define PTE_WRITE 0x002UL
#define PTE_USER 0x004UL
#define PTE_PWT 0x008UL
#define PTE_PCD 0x010UL
#define PTE_LARGE 0x080UL
#define PTE_ADDR_MASK 0x000FFFFFFFFFF000UL
#define PAGE_2M (2 * MIB)
/* Lower half of a 48-bit address space: identity mappings cannot go higher. */
#define IDENTITY_LIMIT (1UL << 47)
/* Page-table pages for MMIO mappings; each PD covers 1 GiB, enough for a few BAR windows. */
#define TABLE_POOL_PAGES 8

extern u64 boot_pml4[512];              /* entry.S */

static u64 table_pool[TABLE_POOL_PAGES][512] ALIGNED(4096);
static unsigned tables_used;

/* The next-level table an entry points to, made (zeroed) if the entry is empty. */
static u64 *next_table(u64 *entry)
{
    if (*entry & PTE_PRESENT)
        return (u64 *)(*entry & PTE_ADDR_MASK);
    if (tables_used == TABLE_POOL_PAGES)
        return NULL;
    u64 *t = table_pool[tables_used++];
    for (int i = 0; i < 512; i++)
        t[i] = 0;
    *entry = (u64)t | PTE_PRESENT | PTE_WRITE;
    return t;
}

const char *paging_map_mmio(u64 base, u64 size)
{
    if (size == 0 || base + size < base || base + size > IDENTITY_LIMIT)
        return "MMIO range is empty or beyond the 47-bit identity-mappable space";
    if (base + size <= 4 * GIB)
        return NULL;
    int changed = 0;
    for (u64 a = (base < 4 * GIB ? 4 * GIB : base) & ~(PAGE_2M - 1); a < base + size; a += PAGE_2M) {
        u64 *pdpt = next_table(&boot_pml4[(a >> 39) & 511]);
        u64 *pd = pdpt ? next_table(&pdpt[(a >> 30) & 511]) : NULL;
        if (!pd)
            return "out of page-table pages for MMIO mappings above 4 GiB";
        u64 *pde = &pd[(a >> 21) & 511];
        if (!(*pde & PTE_PRESENT)) {
            *pde = a | PTE_PRESENT | PTE_WRITE | PTE_LARGE | PTE_PCD | PTE_PWT;
            changed = 1;
        }
    }
    if (changed)
        write_cr3(read_cr3());          /* flush any cached upper-level entries */
    return NULL;
}

const char *paging_allow_user(u64 base, u64 size)
{
    if (size == 0 || base + size < base || base + size > 4 * GIB)
        return "user range is empty or not inside the identity-mapped low 4 GiB";
    for (u64 a = base & ~(PAGE_2M - 1); a < base + size; a += PAGE_2M) {
        u64 *pml4e = &boot_pml4[(a >> 39) & 511];
        if (!(*pml4e & PTE_PRESENT))
            return "user range is not covered by the identity map (PML4)";
        u64 *pdpte = (u64 *)(*pml4e & PTE_ADDR_MASK) + ((a >> 30) & 511);
        if (!(*pdpte & PTE_PRESENT))
            return "user range is not covered by the identity map (PDPT)";
        u64 *pde = (u64 *)(*pdpte & PTE_ADDR_MASK) + ((a >> 21) & 511);
        if ((*pde & (PTE_PRESENT | PTE_LARGE)) != (PTE_PRESENT | PTE_LARGE))
            return "user range is not covered by 2 MiB identity-mapped pages";
        *pml4e |= PTE_USER;
        *pdpte |= PTE_USER;
        *pde |= PTE_USER;
    }
    write_cr3(read_cr3());              /* drop cached translations that lack the user bit */
    return NULL;
}
