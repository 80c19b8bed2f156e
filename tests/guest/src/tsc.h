/* The TSC's frequency, measured against the 8254 PIT: no CPUID leaf gives it under KVM here. */
#ifndef GUEST_TSC_H
#define GUEST_TSC_H

#include "types.h"

/* Measures TSC cycles per millisecond against PIT channel 0 (reprogrammed as a free-running rate
 * generator; its IRQ 0 stays masked). Takes about 100 ms with interrupts off. Returns NULL or
 * what is wrong (a PIT that does not count, a TSC that does not advance). */
const char *tsc_measure_khz(u64 *khz);

#endif
