/* Our own page tables: the first 4 GiB identity-mapped with 2 MiB pages (built statically in
 * entry.S), plus identity mappings made on demand for MMIO above 4 GiB (64-bit BARs). */
#ifndef GUEST_PAGING_H
#define GUEST_PAGING_H

#include "types.h"

/* Identity-maps [base, base+size) as uncached 2 MiB pages where it lies above 4 GiB (below is
 * mapped already). Returns NULL or what is wrong (address not canonical, table pool exhausted). */
const char *paging_map_mmio(u64 base, u64 size);

/* Lets CPL3 code use the identity-mapped [base, base+size) below 4 GiB: sets the user bit in
 * the 2 MiB page entries covering it and in the upper-level entries above them. Returns NULL or
 * what is wrong. (Without SMEP/SMAP, CPL0 still reaches these pages as before.) */
const char *paging_allow_user(u64 base, u64 size);

#endif
