/* String helpers (there is no libc). */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include "types.h"

int str_eq(const char *a, const char *b);

#endif
