package io.jvmm.tests.ivshmem;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.EventFd;
import io.jvmm.chardev.Registration;
import io.jvmm.chardev.SharedMemory;
import io.jvmm.devices.ivshmem.server.IvshmemServer;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.Bar;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * scripts/benchmarks/ivshmem: two jvmm peers (no-CPU machines with ivshmem-doorbell) through
 * jvmm's ivshmem server.
 * <ul>
 * <li>Doorbell-to-interrupt latency: A's guest writes the Doorbell naming B's vector 0 (a trapped
 *     write matched to the I/O event, which signals the server's eventfd), B's device context
 *     wakes and raises the MSI-X vector, B's guest sees it. Reference: the same eventfd hop
 *     without the device (a thread signals, an event context wakes and counts).</li>
 * <li>BAR2 copy bandwidth: A's guest copies 4 MiB inside BAR2 with 8-byte accesses (in the no-CPU
 *     machine each is a dispatched MMIO access; under KVM BAR2 is a memory slot and a guest copy is
 *     a plain memcpy). Reference: a host memcpy of the same shared memory.</li>
 * </ul>
 * Rounds alternate which side runs first; the result is the median ratio with its min-max.
 */
public final class IvshmemBench {
    private static final int ROUNDS = 6;
    private static final int PINGS = 5_000;
    private static final int COPY_BYTES = 4 << 20;

    private IvshmemBench() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("ivshmem-bench");
        Path socket = dir.resolve("ivshmem.sock");
        try (IvshmemServer server = IvshmemServer.start(socket, SharedMemory.create("ivshmem-bench", 16 << 20), true, 1, 8, null);
             TestMachine a = machine(socket);
             TestMachine b = machine(socket)) {
            Peer pa = new Peer(a);
            Peer pb = new Peer(b);
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (server.clients().size() < 2 || !ready(a, pb.id) || !ready(b, pb.id)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the peers did not get each other's eventfds within 30 s");
                }
                Thread.sleep(1);   // start-up only, not a measurement
            }
            MsiMessage m0 = pb.guest.interrupts().allocateMessage();
            new MsixDriver(pb.guest.cpu(), pb.fn).enable(List.of(m0));

            double[] latency = new double[ROUNDS];
            double[] latencyRef = new double[ROUNDS];
            double[] copy = new double[ROUNDS];
            double[] copyRef = new double[ROUNDS];
            ByteBuffer host = server.memory().slice(0, 16 << 20);
            try (EventFd fd = EventFd.create()) {
                EventContext ctx = EventContext.start("bench-reference");
                try {
                    AtomicLong seen = new AtomicLong();
                    Registration r = ctx.addEventFd(fd, "reference", seen::addAndGet);
                    warm(pa, pb, m0, fd, seen, host);
                    for (int round = 0; round < ROUNDS; round++) {
                        boolean jvmmFirst = round % 2 == 0;
                        if (jvmmFirst) {
                            latency[round] = pingJvmm(pa, pb, m0, PINGS);
                            latencyRef[round] = pingReference(fd, seen, PINGS);
                            copy[round] = copyGuest(pa, COPY_BYTES);
                            copyRef[round] = copyHost(host, COPY_BYTES);
                        } else {
                            latencyRef[round] = pingReference(fd, seen, PINGS);
                            latency[round] = pingJvmm(pa, pb, m0, PINGS);
                            copyRef[round] = copyHost(host, COPY_BYTES);
                            copy[round] = copyGuest(pa, COPY_BYTES);
                        }
                        System.err.printf("round %d: doorbell->interrupt %.1f us (eventfd hop %.1f us); BAR2 copy %.1f MiB/s "
                                + "(host memcpy %.0f MiB/s)%n", round + 1, latency[round], latencyRef[round], copy[round], copyRef[round]);
                    }
                    r.cancel();
                } finally {
                    ctx.close();
                }
            }
            report("ivshmem doorbell-to-interrupt latency, two jvmm peers (no CPU)", latency, "us", "eventfd hop", latencyRef, "us",
                    "<= 3", true);
            report("ivshmem BAR2 copy bandwidth, no-CPU guest 8-byte MMIO", copy, "MiB/s", "host memcpy", copyRef, "MiB/s",
                    ">= 0.01", false);
        } finally {
            try (var s = Files.list(dir)) {
                s.forEach(p -> p.toFile().delete());
            }
            Files.deleteIfExists(dir);
        }
    }

    private static TestMachine machine(Path socket) {
        return TestMachine.builder().option("-chardev", "socket,id=c0,path=" + socket)
                .device("ivshmem-doorbell,id=iv0,chardev=c0,vectors=1").build();
    }

    private static boolean ready(TestMachine m, int peer) {
        return ((io.jvmm.devices.ivshmem.IvshmemDoorbellDevice) m.pciDevice("iv0")).peerVectors(peer) == 1;
    }

    /** A machine's guest view of its ivshmem function. */
    private static final class Peer {
        final Guest guest;
        final PciFunction fn;
        final long regs;
        final long mem;
        final int id;

        Peer(TestMachine m) {
            guest = Guest.of(m);
            fn = guest.enumerate().stream().filter(f -> f.vendorId() == 0x1af4 && f.deviceId() == 0x1110).findFirst().orElseThrow();
            List<Bar> bars = guest.bars().assign(fn);
            regs = bars.stream().filter(x -> x.index() == 0).findFirst().orElseThrow().address();
            mem = bars.stream().filter(x -> x.index() == 2).findFirst().orElseThrow().address();
            id = (int) guest.cpu().readMmio(regs + 8, 4);
        }
    }

    private static void warm(Peer a, Peer b, MsiMessage m0, EventFd fd, AtomicLong seen, ByteBuffer host) {
        pingJvmm(a, b, m0, 2_000);
        pingReference(fd, seen, 2_000);
        copyGuest(a, 1 << 20);
        copyHost(host, 1 << 20);
    }

    /** Mean microseconds from A's doorbell write to B's interrupt, one at a time. */
    private static double pingJvmm(Peer a, Peer b, MsiMessage m0, int n) {
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            long before = b.guest.interrupts().count(m0);
            a.guest.cpu().writeMmio(a.regs + 12, 4, (long) b.id << 16);
            while (b.guest.interrupts().count(m0) == before) {
                Thread.onSpinWait();
            }
        }
        return (System.nanoTime() - start) / 1e3 / n;
    }

    /** Mean microseconds from an eventfd signal to an event context's callback having counted it. */
    private static double pingReference(EventFd fd, AtomicLong seen, int n) {
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            long before = seen.get();
            fd.signal();
            while (seen.get() == before) {
                Thread.onSpinWait();
            }
        }
        return (System.nanoTime() - start) / 1e3 / n;
    }

    /** MiB/s of A's guest copying the first {@code bytes} of BAR2 to the next {@code bytes}, 8 bytes at a time. */
    private static double copyGuest(Peer a, int bytes) {
        long start = System.nanoTime();
        for (long off = 0; off < bytes; off += 8) {
            a.guest.cpu().writeMmio(a.mem + bytes + off, 8, a.guest.cpu().readMmio(a.mem + off, 8));
        }
        return bytes / (1024.0 * 1024.0) / ((System.nanoTime() - start) / 1e9);
    }

    /** MiB/s of a host memcpy of the same shared memory (first {@code bytes} to the next). */
    private static double copyHost(ByteBuffer host, int bytes) {
        int reps = 16;
        long start = System.nanoTime();
        for (int r = 0; r < reps; r++) {
            host.put(bytes, host, 0, bytes);
        }
        return (double) bytes * reps / (1024.0 * 1024.0) / ((System.nanoTime() - start) / 1e9);
    }

    /** One RESULT line: median of the per-round ratios, their min-max, against {@code target}. */
    private static void report(String name, double[] jvmm, String unit, String refName, double[] ref, String refUnit, String target,
                               boolean lowerIsBetter) {
        double[] ratios = new double[jvmm.length];
        for (int i = 0; i < jvmm.length; i++) {
            ratios[i] = jvmm[i] / ref[i];
        }
        double ratio = median(ratios);
        double limit = Double.parseDouble(target.substring(3));
        boolean met = lowerIsBetter ? ratio <= limit : ratio >= limit;
        List<String> fields = new ArrayList<>(List.of("RESULT", name, String.format("%.2f %s", median(jvmm), unit),
                String.format("%s %.2f %s", refName, median(ref), refUnit), String.format("%.3f", ratio),
                String.format("%.3f-%.3f", Arrays.stream(ratios).min().orElse(0), Arrays.stream(ratios).max().orElse(0)), target,
                met ? "yes" : "no"));
        System.out.println(String.join("\t", fields));
    }

    private static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
