package io.jvmm.tests.racelab;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import io.jvmm.testkit.driver.p9.VirtioP9Driver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Race (d)'s 9P half: jvmm's virtio-9p-pci (its in-process 9P server behind {@code fsdev=}) driven
 * by the test kit's virtio-9p transport as Linux's net/9p drives it, each round a Tread followed
 * at once by two Tflush naming it (as a 9P client sends when a second signal interrupts the first
 * flush's wait). A round is lost when an Rflush does not come within {@link #BOUND}: by default
 * (exact Tflush, rule 4) every Tflush is answered; with {@code x-flush=historic} (QEMU before
 * 2017) a second Tflush that arrives while its victim is still in flight is dropped, never
 * answered, and its ring slot leaks. No delay is added to the server.
 */
public final class JvmmP9DoubleFlush {
    static final Duration BOUND = Duration.ofSeconds(1);

    /** @param leakedSlots ring slots the device still holds at the end (the dropped Tflush's chains) */
    public record Rounds(int rounds, int lost, int leakedSlots, long millis) {
    }

    private JvmmP9DoubleFlush() {
    }

    /** {@code rounds} double flushes, stopping after {@code stopAfterLosses} lost ones (0: never). */
    public static Rounds run(Path dir, boolean historic, int rounds, int stopAfterLosses) throws Exception {
        long start = System.nanoTime();
        Path root = Files.createDirectory(dir.resolve("export"));
        Files.write(root.resolve("f"), new byte[65536]);
        try (TestMachine m = TestMachine.builder().option("-m", "256M")
                .option("-fsdev", "local,id=fs0,path=" + root + ",security_model=passthrough")
                .device("virtio-9p-pci,id=p9,fsdev=fs0,mount_tag=race" + (historic ? ",x-flush=historic" : "")).build()) {
            VirtioP9Driver d = new VirtioP9Driver(VirtioPciDriver.probeFirst(Guest.of(m), VirtioP9Driver.DEVICE_TYPE)).initialize();
            P9Client c = new P9Client(d, Duration.ofSeconds(30));
            c.keepOrder(false);
            c.version(65536);
            c.attach(0, 0);
            c.walk(0, 1, "f");
            c.lopen(1, P9Wire.O_RDONLY);
            int done = 0;
            int lost = 0;
            for (; done < rounds && (stopAfterLosses <= 0 || lost < stopAfterLosses); done++) {
                int victim = c.send(P9Wire.read(1, 0, 4096));
                int f1 = c.flush(victim);
                int f2 = c.flush(victim);
                long deadline = System.nanoTime() + BOUND.toNanos();
                while (!c.answered(f2) && deadline - System.nanoTime() > 0) {
                    c.pump(Duration.ofMillis(10));
                }
                if (!c.answered(f2)) {
                    lost++;
                    c.await(f1);     // the first Tflush is answered (after its victim ran)
                } else {
                    c.await(f2);
                    c.await(f1);
                }
                c.await(victim);    // its reply, or the empty one of a flushed request
            }
            int leaked = d.inFlight();
            return new Rounds(done, lost, leaked, (System.nanoTime() - start) / 1_000_000);
        }
    }
}
