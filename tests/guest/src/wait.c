#include "wait.h"
#include "apic.h"
#include "cpu.h"

int wait_until(int (*cond)(void *), void *arg, u32 max_ticks)
{
    u32 start = apic_ticks();
    for (;;) {
        cli();
        if (cond(arg)) {
            sti();
            return 1;
        }
        if (apic_ticks() - start >= max_ticks) {
            sti();
            return 0;
        }
        sti_hlt();
    }
}
