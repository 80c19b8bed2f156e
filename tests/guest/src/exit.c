#include "guest.h"
#include "console.h"
#include "cpu.h"

#define I8042_COMMAND 0x64
#define I8042_PULSE_RESET 0xFE

NORETURN void guest_exit(u8 code)
{
    cli();
    outb(DEBUG_EXIT_PORT, code);
    /* Still running: the machine has no debug-exit device. A reset at least ends a VM run with
     * -no-reboot; the PASS/FAIL line above says which it was. */
    kprintf("jvmm-guest: no debug-exit device at 0x%x; resetting through the i8042\n", DEBUG_EXIT_PORT);
    outb(I8042_COMMAND, I8042_PULSE_RESET);
    halt_forever();
}

NORETURN void guest_pass(void)
{
    kprintf("jvmm-guest: PASS\n");
    guest_exit(DEBUG_EXIT_PASS);
}

NORETURN void guest_fail(const char *fmt, ...)
{
    __builtin_va_list ap;
    __builtin_va_start(ap, fmt);
    kprintf("jvmm-guest: FAIL ");
    kvprintf(fmt, ap);
    __builtin_va_end(ap);
    kprintf("\n");
    guest_exit(DEBUG_EXIT_FAIL);
}
