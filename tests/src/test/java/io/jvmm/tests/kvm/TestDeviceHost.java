package io.jvmm.tests.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.testkit.testdev.TestPciDevice;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The host's half of the test guest's {@code testdev} mode (tests/guest/src/testdev.h holds the
 * same numbers): before the guest starts it writes the host pattern into BAR2; while the guest
 * runs a thread waits for the guest's "ready" doorbell (the one after the {@value #DOORBELLS} it
 * counts), writes the token and raises MSI-X vector {@value #MSIX_VECTOR}. {@link #finish} takes
 * what the host saw before the device is closed, and the {@code assert} methods check it.
 */
public final class TestDeviceHost implements AutoCloseable {
    /** The device as a test plugs it, and the guest's options for this mode. */
    public static final String DEVICE = "jvmm-testdev,id=t0,size=1M";
    public static final String APPEND = "testdev require=testdev";
    public static final int RAM_SIZE = 1 << 20;
    /** What {@link #finish} copies of BAR2: everything the mode touches. */
    private static final int COPIED = 0x20000;

    public static final int HOST_WORDS = 16;
    public static final int HOST_STRIDE = 4096;
    public static final int HOST_BASE = 0xC0DE0000;
    public static final int GUEST_OFFSET = 0x10000;
    public static final int GUEST_WORDS = 256;
    public static final int GUEST_BASE = 0xA5000000;
    public static final int DOORBELLS = 10;
    public static final int MSIX_VECTOR = 1;
    public static final int TOKEN_OFFSET = 8;
    public static final int TOKEN = 0xC0DEF00D;
    /** The guest's checks, each printed as "testdev: NAME PASS ..." (or FAIL). */
    public static final List<String> CHECKS = List.of("magic", "host-pattern", "guest-pattern", "doorbell", "msix", "interrupt");

    private static final Pattern ACCESSES = Pattern.compile(
            "testdev: accesses: bar0 reads (\\d+), msix table (\\d+), bar2 (\\d+), doorbell writes (\\d+)");

    private final TestPciDevice device;
    private final Thread thread;
    private volatile String outcome = "the host thread has not finished";
    private volatile boolean raised;

    private TestDeviceHost(TestPciDevice device, Duration readyTimeout) {
        this.device = device;
        this.thread = new Thread(() -> serve(readyTimeout), "testdev-host");
        this.thread.setDaemon(true);
    }

    /** Writes the host pattern into the device's BAR2 and starts the thread that raises the vector; before the guest runs. */
    public static TestDeviceHost start(TestPciDevice device, Duration readyTimeout) {
        ByteBuffer ram = device.ram().slice(0, RAM_SIZE);
        for (int i = 0; i < HOST_WORDS; i++) {
            ram.putInt(HOST_STRIDE * i, HOST_BASE + i);
        }
        assertEquals(0, ram.getInt(TOKEN_OFFSET), "the token is written only once the guest is ready");
        VarHandle.fullFence();
        TestDeviceHost host = new TestDeviceHost(device, readyTimeout);
        host.thread.start();
        return host;
    }

    private void serve(Duration readyTimeout) {
        try {
            long start = System.nanoTime();
            if (!device.awaitDoorbells(DOORBELLS + 1, readyTimeout)) {
                outcome = "the guest never rang its ready doorbell (the device counted " + device.doorbells() + ")";
                return;
            }
            device.ram().slice(0, RAM_SIZE).putInt(TOKEN_OFFSET, TOKEN);
            VarHandle.fullFence();   // the token is in memory before the interrupt is signalled
            device.raise(MSIX_VECTOR);
            raised = true;
            outcome = "raised vector " + MSIX_VECTOR + " " + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms after start";
        } catch (InterruptedException e) {
            outcome = "interrupted while waiting for the ready doorbell";
        } catch (RuntimeException e) {
            outcome = "failed: " + e;
        }
    }

    /** What the host saw, taken when the guest has ended and before the device is closed. */
    public record Result(String console, boolean raised, String hostOutcome, ByteBuffer ram, long doorbells) {
    }

    /**
     * Call once the guest has ended, before the device is closed: waits for the host thread (and
     * stops it if it still waits for a ready doorbell that will never come) and copies BAR2.
     */
    public Result finish(String console) throws InterruptedException {
        thread.join(2000);
        if (thread.isAlive()) {
            thread.interrupt();
            thread.join(10_000);
        }
        ByteBuffer copy = ByteBuffer.allocate(COPIED).order(ByteOrder.LITTLE_ENDIAN);
        copy.put(device.ram().slice(0, COPIED)).flip();
        return new Result(console, raised, outcome, copy, device.doorbells());
    }

    /** The guest passed each of its checks. */
    public static void assertChecksPassed(Result r) {
        assertFalse(r.console().contains("testdev: found FAIL"), "the guest found no jvmm-testdev:\n" + r.console());
        for (String check : CHECKS) {
            assertTrue(r.console().contains("testdev: " + check + " PASS"), "the guest's " + check + " check passed:\n" + r.console());
        }
    }

    /** Bytes crossed BAR2 both ways: the guest read the host's pattern (its check) and the host reads the guest's. */
    public static void assertRamBothWays(Result r) {
        assertTrue(r.console().contains("testdev: host-pattern PASS " + HOST_WORDS + " words"), r.console());
        for (int i = 0; i < GUEST_WORDS; i++) {
            assertEquals(GUEST_BASE + i, r.ram().getInt(GUEST_OFFSET + 4 * i), "guest word " + i + " is in the host's shared memory");
        }
        for (int i = 0; i < HOST_WORDS; i++) {
            assertEquals(HOST_BASE + i, r.ram().getInt(HOST_STRIDE * i), "host word " + i + " is untouched");
        }
    }

    /** Every doorbell the guest rang reached the device's eventfd, and the guest read the count back. */
    public static void assertDoorbells(Result r) {
        assertTrue(r.console().contains("testdev: doorbell PASS rang " + DOORBELLS + ", the device counts " + DOORBELLS), r.console());
        assertEquals(DOORBELLS + 1, r.doorbells(), "the doorbells the guest rang (" + DOORBELLS + " and the ready one)");
    }

    /** The host raised the vector once the guest was ready, and the guest took it (after the token). */
    public static void assertInterrupt(Result r) {
        assertTrue(r.raised(), "the host raised the vector: " + r.hostOutcome() + "\n" + r.console());
        assertEquals(TOKEN, r.ram().getInt(TOKEN_OFFSET));
        assertTrue(r.console().contains("testdev: interrupt PASS vector 0x"), r.console());
        assertTrue(r.console().contains(String.format("token 0x%x, doorbells %d", TOKEN, DOORBELLS + 1)), r.console());
    }

    /** The MMIO accesses the guest reports having made in this mode. */
    public record Accesses(long bar0Reads, long msixTable, long bar2, long doorbells) {
    }

    public static Accesses guestAccesses(String console) {
        Matcher m = ACCESSES.matcher(console);
        assertTrue(m.find(), "the guest's access report:\n" + console);
        return new Accesses(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)),
                Long.parseLong(m.group(4)));
    }

    /** The guest's lines of this mode, for a test's output. */
    public static String guestLines(String console) {
        return String.join("\n", console.lines().filter(l -> l.startsWith("testdev") || l.startsWith("irqs:")).toList());
    }

    /** Stops the host thread if it still waits (the guest ended early). */
    @Override
    public void close() {
        thread.interrupt();
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
