package io.jvmm.tests.metrics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jvmm.chardev.Await;
import io.jvmm.testkit.junit.BackendProcess;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's Prometheus tools, run as a test needs them: {@code promtool check metrics} on a text,
 * and a Prometheus server of the test's own (never the packaged service) with temporary storage
 * on a free loopback port, scraping one target every second, asked through its HTTP API.
 */
final class PrometheusTools {
    static final Path PROMTOOL = Path.of("/usr/bin/promtool");
    static final Path PROMETHEUS = Path.of("/usr/bin/prometheus");
    private static final ObjectMapper JSON = new ObjectMapper();

    private PrometheusTools() {
    }

    /** Why the tools cannot be used here, or null when they can. */
    static String missing() {
        if (!Files.isExecutable(PROMTOOL) || !Files.isExecutable(PROMETHEUS)) {
            return PROMTOOL + " or " + PROMETHEUS + " is missing: install Debian's prometheus package "
                    + "(apt-get install --no-install-recommends prometheus; scripts/test does)";
        }
        return null;
    }

    /** The output of {@code promtool check metrics} given {@code text} on stdin, and its status. */
    record Check(int status, String output) {
    }

    static Check checkMetrics(String text) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(PROMTOOL.toString(), "check", "metrics").redirectErrorStream(true).start();
        try {
            p.getOutputStream().write(text.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(Await.HANG_GUARD.toSeconds(), TimeUnit.SECONDS)) {
                throw new AssertionError("promtool check metrics did not finish: " + out);
            }
            return new Check(p.exitValue(), out);
        } finally {
            p.destroyForcibly();
        }
    }

    /** GET {@code uri}: the body of a 200 answer. */
    static String get(URI uri) {
        try {
            HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
            c.setRequestProperty("Connection", "close");   // no keep-alive cache thread left behind
            c.setConnectTimeout(10_000);
            c.setReadTimeout(30_000);
            try {
                int status = c.getResponseCode();
                InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
                String body = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
                if (status != 200) {
                    throw new IOException("GET " + uri + ": HTTP " + status + ": " + body);
                }
                return body;
            } finally {
                c.disconnect();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A port free on the loopback address right now (Prometheus binds it itself a moment later). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** A Prometheus server scraping {@code target} (host:port) every second, job "jvmm". */
    static final class Server implements AutoCloseable {
        final int port;
        private final BackendProcess process;

        private Server(int port, BackendProcess process) {
            this.port = port;
            this.process = process;
        }

        static Server start(Path dir, String target) throws IOException {
            Path config = dir.resolve("prometheus.yml");
            Files.writeString(config, String.join("\n",
                    "global:",
                    "  scrape_interval: 1s",
                    "  scrape_timeout: 1s",
                    "  evaluation_interval: 1s",
                    "scrape_configs:",
                    "  - job_name: jvmm",
                    "    static_configs:",
                    "      - targets: ['" + target + "']",
                    ""));
            IOException last = null;
            for (int attempt = 0; attempt < 3; attempt++) {   // the free port may be taken before Prometheus binds it
                int port = freePort();
                List<String> command = List.of(PROMETHEUS.toString(),
                        "--config.file=" + config,
                        "--storage.tsdb.path=" + dir.resolve("data-" + attempt),
                        "--web.listen-address=127.0.0.1:" + port,
                        "--log.level=info");
                Server server = new Server(port, BackendProcess.start("prometheus", command, dir.resolve("none"),
                        dir.resolve("prometheus-" + attempt + ".log"), false, Await.HANG_GUARD));
                try {
                    Await.until(() -> !server.process.isAlive() || server.ready(), Await.HANG_GUARD.multipliedBy(2),
                            () -> "Prometheus to be ready on port " + port + ": " + server.logTail());
                } catch (AssertionError e) {
                    server.close();
                    throw e;
                }
                if (server.process.isAlive()) {
                    return server;
                }
                last = new IOException(server.process.describe() + ": " + server.logTail());
                if (!server.logTail().contains("address already in use")) {
                    throw last;
                }
            }
            throw last;
        }

        URI api(String pathAndQuery) {
            return URI.create("http://127.0.0.1:" + port + pathAndQuery);
        }

        private boolean ready() {
            try {
                HttpURLConnection c = (HttpURLConnection) api("/-/ready").toURL().openConnection();
                c.setRequestProperty("Connection", "close");
                c.setConnectTimeout(1000);
                c.setReadTimeout(5000);
                try {
                    return c.getResponseCode() == 200;
                } finally {
                    c.disconnect();
                }
            } catch (IOException e) {
                return false;
            }
        }

        /** The active targets of /api/v1/targets. */
        JsonNode activeTargets() throws IOException {
            JsonNode answer = JSON.readTree(get(api("/api/v1/targets?state=active")));
            return answer.path("data").path("activeTargets");
        }

        /** The result vector of an instant query (/api/v1/query). */
        JsonNode query(String promql) throws IOException {
            JsonNode answer = JSON.readTree(get(api("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8))));
            if (!"success".equals(answer.path("status").asText())) {
                throw new IOException("query " + promql + ": " + answer);
            }
            return answer.path("data").path("result");
        }

        String logTail() {
            return process.outputTail(40);
        }

        /** SIGTERM, then SIGKILL if it has not ended within a few seconds. */
        @Override
        public void close() {
            process.close();
        }
    }
}
