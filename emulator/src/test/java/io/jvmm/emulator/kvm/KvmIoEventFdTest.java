package io.jvmm.emulator.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.jvmm.chardev.EventFd;
import io.jvmm.emulator.kvm.RecordingExitHandler.Access;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** ioeventfds count guest writes inside the kernel: the exit handler never sees them. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class KvmIoEventFdTest {

    @Test
    void guestWritesSignalIoEventFdsWithoutExitsUntilRemoved() {
        try (KvmFixture f = KvmFixture.create(false);
             EventFd mmio = EventFd.create();
             EventFd pio = EventFd.create();
             EventFd matching = EventFd.create()) {
            f.vm.addIoEventFd(0xD0001000L, 4, false, mmio);
            f.vm.addIoEventFd(0x600, 2, true, pio);
            f.vm.addIoEventFd(0xD0002000L, 4, false, matching, 7);
            f.loadLongMode(GuestPrograms.LONG_IOEVENTFD);
            List<Long> countsAtSync = new ArrayList<>();
            // When the guest says 'S', read the counters and take the MMIO ioeventfd away again.
            RecordingExitHandler h = new RecordingExitHandler().onWrite(a -> {
                if (a.io() && a.address() == RecordingExitHandler.SERIAL) {
                    countsAtSync.addAll(List.of(mmio.consume(), pio.consume(), matching.consume()));
                    f.vm.removeIoEventFd(0xD0001000L, 4, false, mmio);
                }
            });

            assertEquals(ExitReason.HLT, f.vcpu.run(h));

            assertEquals(List.of(5L, 3L, 1L), countsAtSync,
                    "5 MMIO writes, 3 port writes and the one matching write were counted in the kernel");
            assertEquals(List.of(
                    Access.mmioWrite(0xD0002000L, 4, 8),                    // datamatch 7 does not match 8
                    Access.ioWrite(RecordingExitHandler.SERIAL, 1, 'S'),
                    Access.mmioWrite(0xD0001000L, 4, 2)), h.accesses(),   // removed: it exits again
                    "only the writes no ioeventfd claimed reached the handler");
            assertEquals(0, mmio.consume(), "the removed ioeventfd was not signalled");
            assertEquals(2, f.vcpu.mmioExitCount());
            assertEquals(1, f.vcpu.ioExitCount());
        }
    }
}
