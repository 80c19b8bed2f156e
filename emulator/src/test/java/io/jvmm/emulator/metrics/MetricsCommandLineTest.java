package io.jvmm.emulator.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.chardev.Await;
import io.jvmm.emulator.Main;
import io.jvmm.emulator.machine.ExitStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code -metrics} on the command line: the vfio-user server serves its devices' meters; mistakes are one line. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MetricsCommandLineTest {
    private static final Pattern SERVING = Pattern.compile("jvmm: serving metrics at http://127\\.0\\.0\\.1:(\\d+)/metrics");

    @Test
    void theVfioUserServerServesItsDevicesMetersOnTheChosenPort(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        AtomicInteger status = new AtomicInteger(-1);
        Thread jvmm = new Thread(() -> status.set(Main.run(new String[] {"--vfio-user-socket", dir.resolve("rng.sock").toString(),
                "-metrics", "prometheus,host=127.0.0.1,port=0", "-device", "virtio-rng-pci,id=rng0"},
                new ByteArrayOutputStream(), new PrintStream(err, true, StandardCharsets.UTF_8))), "jvmm-main");
        jvmm.start();
        try {
            Await.until(() -> err.toString(StandardCharsets.UTF_8).contains("serving virtio-rng-pci rng0") || !jvmm.isAlive(),
                    "jvmm to serve the device");
            assertTrue(jvmm.isAlive(), () -> "jvmm ended; it said: " + err);
            Matcher m = SERVING.matcher(err.toString(StandardCharsets.UTF_8));
            assertTrue(m.find(), "the bound address is printed: " + err);
            int port = Integer.parseInt(m.group(1));
            assertTrue(port > 0);
            try (RawHttp http = new RawHttp(new InetSocketAddress("127.0.0.1", port))) {
                RawHttp.Response r = http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
                assertEquals(200, r.status());
                for (String expected : new String[] {"jvmm_rng_requests_total{device=\"rng0\"} 0.0",
                        "jvmm_msix_signals_total{device=\"rng0\",outcome=\"pending\"} 0.0",
                        "jvmm_virtio_interrupts_total{device=\"rng0\",type=\"virtio-rng\"} 0.0",
                        "jvm_gc_", "jvm_memory_used_bytes", "process_cpu_time_seconds_total"}) {
                    assertTrue(r.body().contains(expected), () -> "missing " + expected + " in\n" + r.body());
                }
            }
        } finally {
            jvmm.interrupt();
            jvmm.join(Await.HANG_GUARD.toMillis());
        }
        assertFalse(jvmm.isAlive(), "jvmm stopped when told to");
        assertEquals(ExitStatus.OK, status.get(), err.toString());
    }

    @Test
    void aBadMetricsOptionIsOneLineAndAStatus(@TempDir Path dir) {
        String socket = dir.resolve("x.sock").toString();
        assertError("-metrics statsd: unknown format 'statsd' (supported: prometheus)",
                "--vfio-user-socket", socket, "-metrics", "statsd", "-device", "virtio-rng-pci");
        assertError("unknown property 'prot'",
                "--vfio-user-socket", socket, "-metrics", "prometheus,prot=1", "-device", "virtio-rng-pci");
        assertError("-metrics: cannot listen on 192.0.2.1:0",   // TEST-NET-1: an address of no machine
                "--vfio-user-socket", socket, "-metrics", "prometheus,host=192.0.2.1", "-device", "virtio-rng-pci");
        assertError("-metrics: host= must name an address",
                "--vfio-user-socket", socket, "-metrics", "prometheus,host=", "-device", "virtio-rng-pci");
        assertError("unknown format 'statsd'", "-kernel", dir.resolve("none").toString(), "-metrics", "statsd");
    }

    private static void assertError(String expected, String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = Main.run(args, new ByteArrayOutputStream(), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(ExitStatus.USER_ERROR, status, text);
        assertTrue(text.startsWith("jvmm: ") && text.contains(expected), text);
        assertEquals(1, text.strip().lines().count(), "one line: " + text);
    }
}
