package io.jvmm.emulator.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.platform.options.UserError;
import io.micrometer.core.instrument.Counter;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The metrics endpoint as a client sees it: what it serves, what it refuses, and its limits. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MetricsServerTest {
    private PrometheusMeterRegistry registry;
    private MetricsServer server;

    @BeforeEach
    void start() {
        registry = JvmmMetrics.newRegistry(true);
        Counter.builder("jvmm.test.things").description("things counted by the test").tag("device", "t0")
                .register(registry).increment(3);
        server = MetricsServer.start("127.0.0.1", 0, registry);
    }

    @AfterEach
    void stop() {
        server.close();
        registry.close();
    }

    @Test
    void getMetricsIsTheTextFormatWithTheJvmMeters() throws Exception {
        assertTrue(server.address().getPort() > 0, "an ephemeral port was chosen");
        assertEquals("127.0.0.1", server.address().getAddress().getHostAddress(), "loopback");
        assertEquals("http://127.0.0.1:" + server.address().getPort() + "/metrics", server.uri().toString());
        try (RawHttp http = new RawHttp(server.address())) {
            for (int i = 0; i < 2; i++) {   // twice on one connection: keep-alive
                RawHttp.Response r = http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
                assertEquals(200, r.status());
                assertEquals(MetricsHandler.CONTENT_TYPE, r.header("Content-Type"));
                assertTrue(r.body().contains("# TYPE jvmm_test_things_total counter"), r.body());
                assertTrue(r.body().contains("jvmm_test_things_total{device=\"t0\"} 3.0"), r.body());
                assertTrue(r.body().contains("jvm_memory_used_bytes{"), "JVM memory meters");
                assertTrue(r.body().contains("jvm_threads_live_threads"), "JVM thread meters");
                assertTrue(r.body().contains("system_cpus_available"), "processor meters");
            }
            RawHttp.Response withQuery = http.exchange("GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\n\r\n");
            assertEquals(200, withQuery.status(), "a query string does not change the path");
        }
    }

    @Test
    void otherPathsAre404AndOtherMethods405AndTheConnectionStaysUsable() throws Exception {
        try (RawHttp http = new RawHttp(server.address())) {
            RawHttp.Response notFound = http.exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            assertEquals(404, notFound.status());
            assertTrue(notFound.body().contains("/metrics"), "says where the metrics are: " + notFound.body());
            assertEquals(404, http.exchange("GET /metrics/x HTTP/1.1\r\nHost: x\r\n\r\n").status());
            for (String method : List.of("POST", "PUT", "DELETE", "HEAD", "OPTIONS")) {
                String body = method.equals("POST") || method.equals("PUT") ? "Content-Length: 2\r\n\r\nab" : "\r\n";
                RawHttp.Response r = http.exchange(method + " /metrics HTTP/1.1\r\nHost: x\r\n" + body);
                assertEquals(405, r.status(), method);
                assertEquals("GET", r.header("Allow"), method);
            }
            assertEquals(200, http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status(), "still usable");
        }
    }

    @Test
    void oversizedRequestsAreRefusedWithTheirStatusAndClosed() throws Exception {
        try (RawHttp http = new RawHttp(server.address())) {
            RawHttp.Response r = http.exchange("GET /" + "a".repeat(MetricsServer.MAX_LINE + 10) + " HTTP/1.1\r\n\r\n");
            assertEquals(414, r.status(), "request line too long");
            assertTrue(http.closedByServer());
        }
        try (RawHttp http = new RawHttp(server.address())) {
            RawHttp.Response r = http.exchange("GET /metrics HTTP/1.1\r\nX-Big: " + "b".repeat(MetricsServer.MAX_HEADERS + 10) + "\r\n\r\n");
            assertEquals(431, r.status(), "headers too large");
            assertTrue(http.closedByServer());
        }
        try (RawHttp http = new RawHttp(server.address())) {
            RawHttp.Response r = http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: " + (MetricsServer.MAX_BODY + 1) + "\r\n\r\n");
            assertEquals(413, r.status(), "body too large, refused before it is sent");
            http.send("c".repeat(MetricsServer.MAX_BODY + 1));   // discarded as it comes, never buffered
            assertEquals(200, http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status(), "the connection goes on");
        }
        try (RawHttp http = new RawHttp(server.address())) {
            RawHttp.Response r = http.exchange("\u0001\u0002 garbage\r\n\r\n");
            assertEquals(400, r.status(), "not HTTP");
            assertTrue(http.closedByServer());
        }
        try (RawHttp http = new RawHttp(server.address())) {
            assertEquals(200, http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status(), "the server is unharmed");
        }
    }

    @Test
    void connectionsBeyondTheLimitAreClosedAndTheOthersServed() throws Exception {
        List<RawHttp> open = new ArrayList<>();
        try {
            for (int i = 0; i < MetricsServer.MAX_CONNECTIONS; i++) {
                RawHttp http = new RawHttp(server.address());
                open.add(http);
                assertEquals(200, http.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status(), "connection " + i);
            }
            try (RawHttp extra = new RawHttp(server.address())) {
                extra.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
                assertTrue(extra.closedByServer(), "one connection too many is closed");
            }
            assertEquals(200, open.get(0).exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status());
        } finally {
            for (RawHttp h : open) {
                h.close();
            }
        }
        try (RawHttp again = new RawHttp(server.address())) {
            // the count goes down as connections close; the server sees the closes asynchronously
            io.jvmm.chardev.Await.until(() -> {
                try (RawHttp probe = new RawHttp(server.address())) {
                    return probe.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status() == 200;
                } catch (java.io.IOException e) {
                    return false;
                }
            }, "a new connection to be served once the others closed");
        }
    }

    @Test
    void closingTheServerEndsItsOpenConnections() throws Exception {
        try (RawHttp idle = new RawHttp(server.address()); RawHttp used = new RawHttp(server.address())) {
            assertEquals(200, used.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status());
            assertEquals(200, idle.exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").status());
            server.close();
            assertTrue(used.closedByServer(), "a kept-alive connection ends with the server");
            assertTrue(idle.closedByServer(), "so does every other one");
        }
    }

    @Test
    void aPortInUseIsAUserErrorNamingIt() {
        InetSocketAddress taken = server.address();
        UserError e = assertThrows(UserError.class, () -> MetricsServer.start("127.0.0.1", taken.getPort(), registry));
        assertTrue(e.getMessage().contains("cannot listen on 127.0.0.1:" + taken.getPort()) && e.getMessage().contains("port=0"),
                e.getMessage());
        UserError host = assertThrows(UserError.class, () -> MetricsServer.start("192.0.2.1", 0, registry));
        assertTrue(host.getMessage().contains("cannot listen on 192.0.2.1:0"), host.getMessage());
    }

    @Test
    void theOptionIsCheckedByName() {
        assertEquals(new MetricsOptions("127.0.0.1", 0), MetricsOptions.parse("prometheus"));
        assertEquals(new MetricsOptions("::1", 9100), MetricsOptions.parse("prometheus,host=::1,port=9100"));
        assertTrue(assertThrows(UserError.class, () -> MetricsOptions.parse("statsd")).getMessage()
                .contains("unknown format 'statsd' (supported: prometheus)"));
        assertTrue(assertThrows(UserError.class, () -> MetricsOptions.parse("prometheus,port=70000")).getMessage()
                .contains("port=70000 is not allowed"));
        assertTrue(assertThrows(UserError.class, () -> MetricsOptions.parse("prometheus,path=/x")).getMessage()
                .contains("unknown property 'path'"));
        assertTrue(assertThrows(UserError.class, () -> MetricsOptions.parse("prometheus,port=abc")).getMessage()
                .contains("must be a number"));
    }
}
