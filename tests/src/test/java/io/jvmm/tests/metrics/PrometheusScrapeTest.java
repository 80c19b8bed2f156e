package io.jvmm.tests.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.chardev.Await;
import io.jvmm.emulator.metrics.JvmmMetrics;
import io.jvmm.emulator.metrics.MetricsOptions;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.fs.FuseClient;
import io.jvmm.testkit.driver.fs.VirtioFsDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.tests.fs.Virtiofsd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * jvmm's meters as Prometheus sees them. A no-CPU machine with virtio-blk, virtio-rng and
 * vhost-user-fs-pci served by Debian's virtiofsd registers its meters in a Prometheus registry
 * (with the JVM's), served by jvmm's metrics endpoint; the guest driver does a known amount of
 * work. Then Debian's own tools judge the output: {@code promtool check metrics} finds nothing to
 * fix, and a Prometheus server started by the test scrapes the endpoint every second, reports
 * the target up, and a counter read back through its query API equals what the device counted.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class PrometheusScrapeTest {
    private static final int READS = 7;
    private static final int WRITES = 3;
    private static final int RNG_READS = 5;

    @TempDir
    static Path dir;

    private static JvmmMetrics endpoint;
    private static TestMachine machine;
    private static Virtiofsd virtiofsd;

    @BeforeAll
    static void machineDoesKnownWork() throws IOException {
        String missing = PrometheusTools.missing();
        assumeTrue(missing == null, missing);
        Path image = dir.resolve("disk.img");
        Files.write(image, new byte[1 << 20]);
        // What -metrics serves (JVM meters included); strict: a meter that clashes fails its device's build.
        endpoint = JvmmMetrics.start(new MetricsOptions("127.0.0.1", 0), true);
        var builder = TestMachine.builder().meters(endpoint.registry())
                .option("-drive", "file=" + image + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,id=blk0,drive=d0")
                .device("virtio-rng-pci,id=rng0");
        if (Virtiofsd.available()) {
            Path shared = Files.createDirectories(dir.resolve("shared"));
            virtiofsd = Virtiofsd.start(shared, dir);
            builder.option("-chardev", "socket,id=c0,path=" + virtiofsd.socket)
                    .device("vhost-user-fs-pci,id=fs0,chardev=c0,tag=myfs");
        }
        machine = builder.build();

        Guest guest = Guest.of(machine);
        List<PciFunction> functions = guest.enumerate();
        VirtioBlkDriver blk = new VirtioBlkDriver(probe(guest, functions, 2)).initialize();
        for (int i = 0; i < READS; i++) {
            assertTrue(blk.read(i * 8L, 4096).ok());
        }
        for (int i = 0; i < WRITES; i++) {
            assertTrue(blk.write(100 + i * 8L, new byte[4096]).ok());
        }
        VirtioRngDriver rng = new VirtioRngDriver(probe(guest, functions, VirtioRngDriver.DEVICE_TYPE)).initialize();
        for (int i = 0; i < RNG_READS; i++) {
            rng.read(64);
        }
        if (virtiofsd != null) {
            VirtioFsDriver fs = new VirtioFsDriver(probe(guest, functions, FsProtocol.DEVICE_TYPE)).initialize();
            new FuseClient(fs).init();   // vhost-user control messages acknowledged: the ack timer has samples
        }
    }

    private static VirtioPciDriver probe(Guest guest, List<PciFunction> functions, int type) {
        PciFunction fn = functions.stream().filter(f -> VirtioPciDriver.isVirtio(f)
                && f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + type).findFirst().orElseThrow();
        return VirtioPciDriver.probe(guest, fn);
    }

    @AfterAll
    static void stop() {
        if (machine != null) {
            machine.close();
        }
        if (virtiofsd != null) {
            virtiofsd.close();
        }
        if (endpoint != null) {
            endpoint.close();
        }
    }

    @Test
    void promtoolFindsNothingToFix() throws Exception {
        String text = PrometheusTools.get(endpoint.uri());
        for (String expected : List.of(
                "jvmm_blk_requests_total{device=\"blk0\",type=\"IN\"} " + READS + ".0",
                "jvmm_blk_requests_total{device=\"blk0\",type=\"OUT\"} " + WRITES + ".0",
                "jvmm_blk_bytes_total{device=\"blk0\",direction=\"read\"} " + READS * 4096 + ".0",
                "jvmm_blk_in_flight{device=\"blk0\"} 0.0",
                "jvmm_rng_requests_total{device=\"rng0\"} " + RNG_READS + ".0",
                "# TYPE jvmm_virtio_interrupts_total counter",
                "jvmm_msix_signals_total{device=\"blk0\",outcome=\"delivered\"}",
                "jvmm_msix_deliveries_total{device=\"rng0\"}",
                "jvm_memory_used_bytes{", "jvm_gc_memory_allocated_bytes_total", "jvm_threads_live_threads", "system_cpus_available", "process_cpu_time_seconds_total")) {
            assertTrue(text.contains(expected), () -> "missing '" + expected + "' in:\n" + text);
        }
        if (virtiofsd != null) {
            assertTrue(text.contains("jvmm_vhost_user_ack_seconds_count{device=\"fs0\"}"), text);
            assertTrue(text.contains("jvmm_vhost_user_backend_failures_total{device=\"fs0\"} 0.0"), text);
        }
        PrometheusTools.Check check = PrometheusTools.checkMetrics(text);
        assertEquals(0, check.status(), check.output());
        assertEquals("", check.output().strip(), "promtool check metrics has nothing to say");
    }

    @Test
    void aPrometheusServerScrapesJvmmAndReadsBackWhatTheDeviceCounted() throws Exception {
        String target = "127.0.0.1:" + endpoint.address().getPort();
        try (PrometheusTools.Server prometheus = PrometheusTools.Server.start(Files.createDirectories(dir.resolve("prometheus")), target)) {
            AtomicReference<JsonNode> targets = new AtomicReference<>();
            Await.until(() -> {
                try {
                    targets.set(prometheus.activeTargets());
                    JsonNode t = targets.get();
                    return t.size() == 1 && "up".equals(t.get(0).path("health").asText());
                } catch (IOException e) {
                    return false;
                }
            }, Await.HANG_GUARD.multipliedBy(2), () -> "the jvmm target to be up: " + targets.get() + "\n" + prometheus.logTail());
            JsonNode up = targets.get().get(0);
            assertEquals("jvmm", up.path("labels").path("job").asText());
            assertEquals(target, up.path("labels").path("instance").asText());
            assertEquals("", up.path("lastError").asText(), "the scrape had no error");

            double counted = machine.meters().get("jvmm.blk.requests").tags("device", "blk0", "type", "IN").counter().count();
            assertEquals(READS, counted, "what the device counted");
            String query = "jvmm_blk_requests_total{device=\"blk0\",type=\"IN\"}";
            AtomicReference<JsonNode> result = new AtomicReference<>();
            Await.until(() -> {
                try {
                    result.set(prometheus.query(query));
                    return result.get().size() == 1;
                } catch (IOException e) {
                    return false;
                }
            }, Await.HANG_GUARD, () -> query + " through Prometheus: " + result.get());
            JsonNode sample = result.get().get(0);
            assertEquals("jvmm", sample.path("metric").path("job").asText());
            assertEquals(counted, Double.parseDouble(sample.path("value").get(1).asText()),
                    "the counter read back through Prometheus equals the device's count");
            JsonNode rng = prometheus.query("jvmm_rng_requests_total{device=\"rng0\"}");
            assertEquals(RNG_READS, Double.parseDouble(rng.get(0).path("value").get(1).asText()));
        }
    }
}
