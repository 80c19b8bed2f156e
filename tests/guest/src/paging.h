/* Our own page tables: the first 4 GiB identity-mapped with 2 MiB pages (built statically in
 * entry.S), plus identity mappings made on demand for MMIO above 4 GiB (64-bit BARs). */
#ifndef GUEST_PAGING_H
#define GUEST_PAGING_H

#include "types.h"

/* Identity-maps [base, base+size) as uncached 2 MiB pages where it lies above 4 GiB (below is
 * mapped already). Returns NULL or what is wrong (address not canonical, table pool exhausted). */
const char *paging_map_mmio(u64 base, u64 size);

#endif
