/* String helpers (there is no libc). */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include "types.h"

int str_eq(const char *a, const char *b);
/* Parses a decimal number in 0..max (no sign, no spaces); returns 0 if s is not one. */
int parse_u32(const char *s, u32 max, u32 *value);

#endif
