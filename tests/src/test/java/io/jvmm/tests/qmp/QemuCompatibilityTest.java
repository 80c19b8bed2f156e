package io.jvmm.tests.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.chardev.Await;
import io.jvmm.monitor.qmp.QmpClient;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.testkit.TestMachine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compatibility shown side by side: one scripted QMP session sent to Debian's QEMU 7.2
 * ({@code qemu-system-x86_64 -accel tcg -machine q35 -S}) and to jvmm's no-CPU machine, both with
 * virtio-blk-pci on a raw -drive and on a qcow2 -blockdev node, a raw -blockdev node the NBD
 * export commands export, virtio-rng-pci and a socket chardev. For every step both
 * answer, the replies (and the events it causes) must have the same keys with the same JSON types
 * (values may differ); where both refuse, the same error class, and QEMU's very text where jvmm
 * copies it. Every difference found is printed (and written to
 * target/qmp-compatibility-transcript.txt); those that are not a type mismatch must be among the
 * known ones listed in monitor/README.md. QEMU's firmware runs between cont and stop (no boot
 * device: it reboots now and then); events the guest causes (data.guest true) are not the
 * session's and are left out, and QEMU is stopped again before the rest of the session.
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class QemuCompatibilityTest {
    private static final Logger log = LoggerFactory.getLogger(QemuCompatibilityTest.class);
    private static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    /** Replaced in each side's requests by its own NBD socket. */
    private static final String NBD_SOCKET = "@NBD_SOCKET@";

    /** Differences that are known and explained in monitor/README.md (path, as printed, without the step). */
    private static final Set<String> KNOWN = Set.of(
            "greeting.QMP.capabilities: empty in jvmm (elements not compared)");

    /** One step of the session; {@code sameText}: jvmm's error text must be QEMU's. */
    private record Step(String label, String request, boolean sameText) {
        static Step of(String label, String request) {
            return new Step(label, request, false);
        }

        static Step sameError(String label, String request) {
            return new Step(label, request, true);
        }
    }

    private static final List<Step> BEFORE_NEGOTIATION = List.of(
            Step.sameError("query-status before negotiation", "{\"execute\":\"query-status\"}"));

    private static final List<Step> SESSION = List.of(
            Step.of("qmp_capabilities", "{\"execute\":\"qmp_capabilities\",\"id\":1}"),
            Step.sameError("qmp_capabilities again", "{\"execute\":\"qmp_capabilities\"}"),
            Step.of("query-version", "{\"execute\":\"query-version\",\"id\":\"v\"}"),
            Step.of("query-status", "{\"execute\":\"query-status\",\"id\":[1,{\"a\":null}]}"),
            Step.of("query-commands", "{\"execute\":\"query-commands\"}"),
            Step.of("query-pci", "{\"execute\":\"query-pci\"}"),
            Step.of("query-block", "{\"execute\":\"query-block\"}"),
            Step.of("query-chardev", "{\"execute\":\"query-chardev\"}"),
            Step.of("qom-list peripheral", "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral\"}}"),
            Step.of("qom-list device", "{\"execute\":\"qom-list\",\"arguments\":{\"path\":\"/machine/peripheral/blk0\"}}"),
            Step.of("qom-get drive", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"blk0\",\"property\":\"drive\"}}"),
            Step.of("qom-get serial", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/blk0\",\"property\":\"serial\"}}"),
            Step.of("qom-get type", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"rng0\",\"property\":\"type\"}}"),
            Step.of("qom-get realized", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"rng0\",\"property\":\"realized\"}}"),
            Step.of("qom-set on a realized device", "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"blk0\",\"property\":\"serial\",\"value\":\"x\"}}"),
            Step.sameError("qom-get unknown property", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"blk0\",\"property\":\"x\"}}"),
            Step.sameError("qom-get unknown path", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/nope\",\"property\":\"x\"}}"),
            Step.of("cont", "{\"execute\":\"cont\"}"),
            Step.of("stop", "{\"execute\":\"stop\"}"),
            Step.of("query-status paused", "{\"execute\":\"query-status\"}"),
            Step.of("cont again", "{\"execute\":\"cont\"}"),
            Step.of("stop again", "{\"execute\":\"stop\"}"),   // QEMU's firmware would otherwise spin for the rest of the session
            Step.of("system_reset", "{\"execute\":\"system_reset\"}"),
            Step.of("info status", "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info status\"}}"),
            Step.of("info pci", "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info pci\"}}"),
            Step.of("info qtree", "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info qtree\"}}"),
            Step.sameError("HMP unknown", "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info nope\"}}"),
            Step.sameError("unknown command", "{\"execute\":\"nope\",\"id\":7}"),
            Step.of("JSON parse error", "{\"execute\": }"),
            Step.sameError("not an object", "[1,2]"),
            Step.sameError("execute not a string", "{\"execute\":1}"),
            Step.sameError("arguments not an object", "{\"execute\":\"query-status\",\"arguments\":[]}"),
            Step.sameError("unexpected member", "{\"execute\":\"query-status\",\"foo\":1,\"id\":5}"),
            Step.sameError("lacks execute", "{\"id\":3}"),
            Step.sameError("exec-oob", "{\"exec-oob\":\"query-status\"}"),
            Step.sameError("unexpected parameter", "{\"execute\":\"query-status\",\"arguments\":{\"x\":1}}"),
            Step.sameError("wrong parameter type", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":1,\"property\":\"x\"}}"),
            Step.sameError("missing parameter", "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine\"}}"),
            Step.sameError("device_add unknown driver", "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"nope\"}}"),
            Step.sameError("device_add without driver", "{\"execute\":\"device_add\",\"arguments\":{\"id\":\"r5\"}}"),
            Step.sameError("device_del unknown", "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"nope\"}}"),
            Step.sameError("block-export-add before nbd-server-start",
                    "{\"execute\":\"block-export-add\",\"arguments\":{\"type\":\"nbd\",\"id\":\"e0\",\"node-name\":\"f0\"}}"),
            Step.sameError("nbd-server-stop before nbd-server-start", "{\"execute\":\"nbd-server-stop\"}"),
            Step.sameError("nbd-server-start without data",
                    "{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"unix\",\"path\":\"" + NBD_SOCKET + "\"}}}"),
            Step.sameError("nbd-server-start with a numeric port",
                    "{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"inet\",\"data\":{\"host\":\"127.0.0.1\",\"port\":0}}}}"),
            Step.of("nbd-server-start",
                    "{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"" + NBD_SOCKET + "\"}}}}"),
            Step.sameError("nbd-server-start again",
                    "{\"execute\":\"nbd-server-start\",\"arguments\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"" + NBD_SOCKET + "2\"}}}}"),
            Step.sameError("block-export-add unknown node",
                    "{\"execute\":\"block-export-add\",\"arguments\":{\"type\":\"nbd\",\"id\":\"e0\",\"node-name\":\"nope\"}}"),
            Step.sameError("block-export-add writable not a boolean",
                    "{\"execute\":\"block-export-add\",\"arguments\":{\"type\":\"nbd\",\"id\":\"e0\",\"node-name\":\"f0\",\"writable\":\"yes\"}}"),
            Step.of("block-export-add", "{\"execute\":\"block-export-add\",\"arguments\":{\"type\":\"nbd\",\"id\":\"e0\",\"node-name\":\"f0\"}}"),
            Step.sameError("block-export-add same id",
                    "{\"execute\":\"block-export-add\",\"arguments\":{\"type\":\"nbd\",\"id\":\"e0\",\"node-name\":\"f0\"}}"),
            Step.sameError("block-export-add same name",
                    "{\"execute\":\"block-export-add\",\"arguments\":{\"type\":\"nbd\",\"id\":\"e1\",\"node-name\":\"f0\"}}"),
            Step.of("query-block-exports", "{\"execute\":\"query-block-exports\"}"),
            Step.sameError("block-export-del unknown", "{\"execute\":\"block-export-del\",\"arguments\":{\"id\":\"nope\"}}"),
            Step.of("block-export-del", "{\"execute\":\"block-export-del\",\"arguments\":{\"id\":\"e0\"}}"),
            Step.of("block-export-add writable", "{\"execute\":\"block-export-add\",\"arguments\":"
                    + "{\"type\":\"nbd\",\"id\":\"e1\",\"node-name\":\"f0\",\"name\":\"disk\",\"writable\":true}}"),
            Step.of("nbd-server-stop", "{\"execute\":\"nbd-server-stop\"}"),
            Step.of("query-block-exports after stop", "{\"execute\":\"query-block-exports\"}"),
            Step.sameError("nbd-server-stop again", "{\"execute\":\"nbd-server-stop\"}"),
            Step.of("device_add on the root bus", "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"virtio-rng-pci\",\"id\":\"hot0\"}}"),
            Step.of("device_del", "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"hot0\"}}"),
            Step.of("quit", "{\"execute\":\"quit\"}"));

    /** Steps that are followed by an event (which may come after the reply). */
    private static final java.util.Map<String, String> AWAITED = java.util.Map.of(
            "quit", "SHUTDOWN", "device_del", "DEVICE_DELETED", "block-export-del", "BLOCK_EXPORT_DELETED",
            "nbd-server-stop", "BLOCK_EXPORT_DELETED");

    @TempDir
    Path dir;

    /** One side's answer to a step: the reply and the events that came with it. */
    private record Answer(JsonNode reply, List<JsonNode> events) {
        boolean returned() {
            return reply.has("return");
        }
    }

    @Test
    void theSameSessionGetsRepliesOfTheSameShapeFromQemuAndJvmm() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(QEMU), QEMU + " is missing: install Debian's qemu-system-x86 (scripts/test does)");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")), "qemu-img is missing: install Debian's qemu-utils (scripts/test does)");
        Path disk = dir.resolve("disk.img");
        Files.write(disk, new byte[1 << 20]);
        // each side its own images (both take QEMU's image locks): a qcow2 node a device uses, a raw node to export
        Path qemuQcow2 = qcow2(dir.resolve("qemu.qcow2"));
        Path jvmmQcow2 = qcow2(dir.resolve("jvmm.qcow2"));
        Path qemuRaw = dir.resolve("qemu-export.img");
        Path jvmmRaw = dir.resolve("jvmm-export.img");
        Files.write(qemuRaw, new byte[1 << 20]);
        Files.write(jvmmRaw, new byte[1 << 20]);
        Path qemuQmp = dir.resolve("qemu-qmp.sock");
        Path jvmmQmp = dir.resolve("jvmm-qmp.sock");
        Process qemu = new ProcessBuilder(QEMU.toString(), "-accel", "tcg", "-machine", "q35", "-nodefaults", "-nographic", "-S",
                "-m", "128", "-qmp", "unix:" + qemuQmp + ",server=on,wait=off",
                "-drive", "file=" + disk + ",format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0,id=blk0,serial=jvmm-serial",
                "-device", "virtio-rng-pci,id=rng0", "-chardev", "socket,id=c0,path=" + dir.resolve("qemu-c0.sock") + ",server=on,wait=off",
                "-blockdev", "driver=qcow2,node-name=q0,file.driver=file,file.filename=" + qemuQcow2,
                "-device", "virtio-blk-pci,drive=q0,id=blk1", "-blockdev", "driver=file,node-name=f0,filename=" + qemuRaw)
                .redirectErrorStream(true).redirectOutput(dir.resolve("qemu.log").toFile()).start();
        List<String> transcript = new ArrayList<>();
        List<String> typeMismatches = new ArrayList<>();
        TreeSet<String> unknown = new TreeSet<>();
        try (TestMachine jvmm = TestMachine.builder()
                .option("-drive", "file=" + disk + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,drive=d0,id=blk0,serial=jvmm-serial")
                .device("virtio-rng-pci,id=rng0")
                .option("-chardev", "socket,id=c0,path=" + dir.resolve("jvmm-c0.sock") + ",server=on,wait=off")
                .option("-blockdev", "driver=qcow2,node-name=q0,file.driver=file,file.filename=" + jvmmQcow2)
                .device("virtio-blk-pci,drive=q0,id=blk1")
                .option("-blockdev", "driver=file,node-name=f0,filename=" + jvmmRaw)
                .option("-qmp", "unix:" + jvmmQmp + ",server=on,wait=off")
                .build()) {
            // The socket file appears at bind, before QEMU listens: connect until it accepts.
            java.util.concurrent.atomic.AtomicReference<QmpClient> accepted = new java.util.concurrent.atomic.AtomicReference<>();
            Await.until(() -> {
                if (!qemu.isAlive()) {
                    return true;
                }
                try {
                    // Bounds against a hang only: one of QEMU's replies (device_add of an unknown driver,
                    // which may load QEMU's modules to look for it) took over 60 s once on a loaded host.
                    accepted.set(QmpClient.connect(new QmpEndpoint.Unix(qemuQmp), Duration.ofMinutes(4)));
                    return true;
                } catch (java.io.UncheckedIOException e) {
                    return false;   // not there yet, or not listening yet
                }
            }, "QEMU to accept on its QMP socket");
            assertTrue(qemu.isAlive(), () -> "QEMU ended: " + read(dir.resolve("qemu.log")));
            try (QmpClient q = accepted.get();
                 QmpClient j = QmpClient.connect(new QmpEndpoint.Unix(jvmmQmp), Duration.ofMinutes(4))) {
                record("greeting", q.greeting(), List.of(), j.greeting(), List.of(), false, transcript, typeMismatches, unknown);
                List<Step> all = new ArrayList<>(BEFORE_NEGOTIATION);
                all.addAll(SESSION);
                for (Step step : all) {
                    Answer fromQemu = send(q, step, dir.resolve("qemu-nbd.sock"));
                    Answer fromJvmm = send(j, step, dir.resolve("jvmm-nbd.sock"));
                    compareStep(step, fromQemu, fromJvmm, transcript, typeMismatches, unknown);
                }
            }
            assertTrue(qemu.waitFor(60, TimeUnit.SECONDS), "QEMU ends after quit");
        } finally {
            qemu.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            String text = String.join("\n", transcript);
            Files.writeString(Path.of("target", "qmp-compatibility-transcript.txt"), text + "\n");
            log.info("QMP transcript, QEMU 7.2 vs jvmm:\n{}", text);
            System.out.println(text);
        }
        assertEquals(List.of(), typeMismatches, "replies of the same shape: no member of another JSON type");
        assertEquals(Set.of(), unknown, "differences not known (not listed in monitor/README.md)");
    }

    /** A qcow2 image of 2 MiB made by qemu-img. */
    private static Path qcow2(Path file) throws Exception {
        Process p = new ProcessBuilder("qemu-img", "create", "-q", "-f", "qcow2", file.toString(), "2M").redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, () -> "qemu-img create: " + new String(readAll(p), StandardCharsets.UTF_8));
        return file;
    }

    private static byte[] readAll(Process p) {
        try {
            return p.getInputStream().readAllBytes();
        } catch (IOException e) {
            return e.toString().getBytes(StandardCharsets.UTF_8);
        }
    }

    private static Answer send(QmpClient client, Step step, Path nbdSocket) {
        int before = client.events().size();
        JsonNode reply = client.raw(step.request().replace(NBD_SOCKET, nbdSocket.toString()));
        String awaited = reply.has("return") ? AWAITED.get(step.label()) : null;
        if (awaited != null && client.events().subList(before, client.events().size()).stream()
                .noneMatch(e -> e.path("event").asText().equals(awaited))) {
            client.awaitEvent(awaited);   // it follows the reply
        }
        List<JsonNode> events = new ArrayList<>();
        for (JsonNode e : client.events().subList(before, client.events().size())) {
            if (!e.path("data").path("guest").asBoolean(false)) {
                events.add(e);   // what the guest does on its own (QEMU's firmware rebooting) is not the session's
            }
        }
        return new Answer(reply, events);
    }

    private static void compareStep(Step step, Answer qemu, Answer jvmm, List<String> transcript, List<String> typeMismatches,
                                    TreeSet<String> unknown) {
        transcript.add("== " + step.label() + ": " + step.request());
        transcript.add("   QEMU 7.2: " + abbreviate(qemu.reply()) + events(qemu));
        transcript.add("   jvmm:     " + abbreviate(jvmm.reply()) + events(jvmm));
        if (qemu.returned() && jvmm.returned()) {
            differences(step.label(), qemu.reply().get("return"), jvmm.reply().get("return"), transcript, typeMismatches, unknown);
            if (!qemu.reply().path("id").equals(jvmm.reply().path("id"))) {
                typeMismatches.add(step.label() + ": id QEMU " + qemu.reply().path("id") + ", jvmm " + jvmm.reply().path("id"));
            }
            compareEvents(step.label(), qemu.events(), jvmm.events(), transcript, typeMismatches, unknown);
        } else if (qemu.reply().has("error") && jvmm.reply().has("error")) {
            String qClass = qemu.reply().path("error").path("class").asText();
            String jClass = jvmm.reply().path("error").path("class").asText();
            String qDesc = qemu.reply().path("error").path("desc").asText();
            String jDesc = jvmm.reply().path("error").path("desc").asText();
            if (!qClass.equals(jClass)) {
                typeMismatches.add(step.label() + ": error class QEMU " + qClass + ", jvmm " + jClass);
            }
            if (step.sameText() && !qDesc.equals(jDesc)) {
                typeMismatches.add(step.label() + ": error text QEMU '" + qDesc + "', jvmm '" + jDesc + "'");
            }
            if (!qemu.reply().path("id").equals(jvmm.reply().path("id"))) {
                typeMismatches.add(step.label() + ": id QEMU " + qemu.reply().path("id") + ", jvmm " + jvmm.reply().path("id"));
            }
            if (!step.sameText() && !qDesc.equals(jDesc)) {
                transcript.add("   (same class, own text)");
            }
        } else {
            String line = step.label() + ": " + (qemu.returned() ? "QEMU returns, jvmm refuses" : "QEMU refuses, jvmm returns");
            transcript.add("   DIFFERENCE " + line);
            if (!isKnownBehaviour(step.label())) {
                unknown.add(line);
            }
        }
    }

    /** Steps where QEMU and jvmm are known to answer differently (monitor/README.md says why). */
    private static boolean isKnownBehaviour(String step) {
        return step.equals("device_add on the root bus") || step.equals("device_del");
    }

    private static void compareEvents(String label, List<JsonNode> qemu, List<JsonNode> jvmm, List<String> transcript,
                                      List<String> typeMismatches, TreeSet<String> unknown) {
        List<String> qNames = qemu.stream().map(e -> e.path("event").asText()).toList();
        List<String> jNames = jvmm.stream().map(e -> e.path("event").asText()).toList();
        if (!qNames.equals(jNames)) {
            transcript.add("   DIFFERENCE events: QEMU " + qNames + ", jvmm " + jNames);
            if (!label.equals("cont")) {   // QEMU -S starts in prelaunch (cont -> RESUME), jvmm's no-CPU machine runs
                unknown.add(label + ": events QEMU " + qNames + ", jvmm " + jNames);
            }
        }
        for (int i = 0; i < Math.min(qemu.size(), jvmm.size()); i++) {
            differences(label + " event " + qNames.get(i), qemu.get(i), jvmm.get(i), transcript, typeMismatches, unknown);
        }
    }

    private static void record(String label, JsonNode qemu, List<JsonNode> qe, JsonNode jvmm, List<JsonNode> je, boolean unused,
                               List<String> transcript, List<String> typeMismatches, TreeSet<String> unknown) {
        transcript.add("== " + label);
        transcript.add("   QEMU 7.2: " + abbreviate(qemu));
        transcript.add("   jvmm:     " + abbreviate(jvmm));
        differences(label, qemu, jvmm, transcript, typeMismatches, unknown);
    }

    private static void differences(String label, JsonNode qemu, JsonNode jvmm, List<String> transcript, List<String> typeMismatches,
                                    TreeSet<String> unknown) {
        for (String d : JsonShapes.differences(label + ".", qemu, jvmm)) {
            String line = d.replace(label + "..", label + ".");
            transcript.add("   DIFFERENCE " + line);
            if (line.contains(": TYPE: ")) {
                typeMismatches.add(line);
            } else if (!KNOWN.contains(line)) {
                unknown.add(line);
            }
        }
    }

    private static String events(Answer a) {
        return a.events().isEmpty() ? "" : "  + events " + a.events().stream().map(e -> abbreviate(e)).toList();
    }

    private static String abbreviate(JsonNode node) {
        String text = node.toString();
        return text.length() > 300 ? text.substring(0, 300) + "... (" + text.length() + " chars)" : text;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(" + e + ")";
        }
    }
}
