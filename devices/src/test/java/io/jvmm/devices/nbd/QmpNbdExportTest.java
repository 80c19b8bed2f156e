package io.jvmm.devices.nbd;

import static io.jvmm.devices.nbd.NbdProtocol.FLAG_C_FIXED_NEWSTYLE;
import static io.jvmm.devices.nbd.NbdProtocol.FLAG_C_NO_ZEROES;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.devices.blk.Peers;
import io.jvmm.monitor.BlockExports;
import io.jvmm.monitor.qmp.QmpClient;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.monitor.qmp.QmpJson;
import io.jvmm.testkit.TestMachine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * QMP's NBD export commands on the no-CPU machine, in QEMU 7.2's shapes, against peers nobody
 * here wrote: nodes exported with {@code nbd-server-start} + {@code block-export-add} are read by
 * Debian's nbdinfo and nbdcopy (a qcow2 image qemu-img made, byte for byte) and written by nbdcopy;
 * {@code block-export-del} and {@code nbd-server-stop} report BLOCK_EXPORT_DELETED and the peers
 * then find nothing; every refusal is a GenericError with QEMU's text that changes nothing, and
 * the connection stays usable. {@code query-block} shows each node with its driver.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class QmpNbdExportTest {
    private static final int SIZE = 4 << 20;

    @TempDir
    Path dir;
    private byte[] content;
    private Path raw;
    private Path qcow2;
    private Path nbdSocket;
    private TestMachine machine;
    private QmpClient qmp;

    @BeforeEach
    void start() throws Exception {
        Peers.require("qemu-img", "qemu-utils");
        content = new byte[SIZE];
        new Random(12).nextBytes(content);
        Path source = dir.resolve("source.img");
        Files.write(source, content);
        qcow2 = dir.resolve("q.qcow2");
        Peers.ok("qemu-img", "convert", "-f", "raw", "-O", "qcow2", source.toString(), qcow2.toString());
        raw = dir.resolve("raw.img");
        Files.write(raw, new byte[SIZE]);
        Path used = dir.resolve("used.qcow2");
        Peers.ok("qemu-img", "create", "-q", "-f", "qcow2", used.toString(), "8M");
        Path drive = dir.resolve("drive.img");
        Files.write(drive, new byte[1 << 20]);
        nbdSocket = dir.resolve("nbd.sock");
        Path qmpSocket = dir.resolve("qmp.sock");
        machine = TestMachine.builder()
                .option("-blockdev", "driver=qcow2,node-name=q0,file.filename=" + qcow2)
                .option("-blockdev", "driver=file,node-name=raw0,filename=" + raw)
                .option("-blockdev", "driver=qcow2,node-name=used0,file.filename=" + used)
                .option("-drive", "file=" + drive + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,drive=d0,id=blk0")
                .device("virtio-blk-pci,drive=used0,id=blk1")
                .option("-qmp", "unix:" + qmpSocket + ",server=on,wait=off")
                .build();
        qmp = QmpClient.negotiated(new QmpEndpoint.Unix(qmpSocket));
    }

    @AfterEach
    void stop() {
        if (qmp != null) {
            qmp.close();
        }
        if (machine != null) {
            machine.close();
        }
    }

    private static ObjectNode args(Object... pairs) {
        return QmpJson.arguments(pairs);
    }

    /** QEMU's SocketAddressLegacy for a Unix socket. */
    private static ObjectNode unixAddr(Path path) {
        ObjectNode addr = QmpJson.object();
        addr.put("type", "unix");
        addr.putObject("data").put("path", path.toString());
        return addr;
    }

    private static JsonNode ok(JsonNode reply) {
        assertTrue(reply.has("return"), () -> "expected a return: " + reply);
        return reply.get("return");
    }

    private static void generic(JsonNode reply, String text) {
        assertEquals("GenericError", reply.path("error").path("class").asText(), reply.toString());
        assertTrue(reply.path("error").path("desc").asText().contains(text), () -> "expected '" + text + "' in " + reply);
    }

    private String uri(String export) {
        return "nbd+unix:///" + export + "?socket=" + nbdSocket;
    }

    @Test
    void exportsStartedOverQmpAreReadAndWrittenByNbdinfoAndNbdcopy() throws Exception {
        Peers.require("nbdinfo", "libnbd-bin");
        Peers.require("nbdcopy", "libnbd-bin");
        ok(qmp.execute("nbd-server-start", args("addr", unixAddr(nbdSocket))));
        assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(nbdSocket)));
        ok(qmp.execute("block-export-add", args("type", "nbd", "id", "e0", "node-name", "q0", "name", "disk")));
        ok(qmp.execute("block-export-add", args("type", "nbd", "id", "e1", "node-name", "raw0", "writable", true)));

        JsonNode list = ok(qmp.execute("query-block-exports"));
        assertEquals(2, list.size(), list.toString());
        assertEquals("nbd", list.get(0).path("type").asText());
        assertEquals("e0", list.get(0).path("id").asText());
        assertEquals("q0", list.get(0).path("node-name").asText());
        assertFalse(list.get(0).path("shutting-down").asBoolean(true));
        assertEquals("raw0", list.get(1).path("node-name").asText());

        // the qcow2 node, read by nbdcopy, is what qemu-img converted, byte for byte
        assertEquals(String.valueOf(SIZE), Peers.ok("nbdinfo", "--size", uri("disk")).trim());
        Path copy = dir.resolve("copy.img");
        Peers.ok("nbdcopy", uri("disk"), copy.toString());
        assertArrayEquals(content, Files.readAllBytes(copy));
        assertTrue(Peers.ok("nbdinfo", uri("disk")).contains("is_read_only: true"), "exported without writable: read-only");

        // the writable raw node (named after its node) takes nbdcopy's writes into the image file
        byte[] written = new byte[SIZE];
        new Random(13).nextBytes(written);
        Path in = dir.resolve("in.img");
        Files.write(in, written);
        Peers.ok("nbdcopy", in.toString(), uri("raw0"));
        assertArrayEquals(written, Files.readAllBytes(raw));

        ok(qmp.execute("block-export-del", args("id", "e0")));
        assertEquals("e0", qmp.awaitEvent("BLOCK_EXPORT_DELETED").path("data").path("id").asText());
        assertNotEquals(0, Peers.run(Peers.seconds(60), "nbdinfo", "--size", uri("disk")).status(), "a deleted export is gone");
        assertEquals(1, ok(qmp.execute("query-block-exports")).size());

        ok(qmp.execute("nbd-server-stop"));
        assertEquals(2, qmp.events().stream().filter(e -> e.path("event").asText().equals("BLOCK_EXPORT_DELETED")).count());
        assertEquals("e1", qmp.events().get(qmp.events().size() - 1).path("data").path("id").asText(), "the server's exports go with it");
        assertFalse(Files.exists(nbdSocket), "the server's socket is removed");
        assertEquals(0, ok(qmp.execute("query-block-exports")).size());

        // started again on TCP, on a port the kernel chooses
        ObjectNode inet = QmpJson.object();
        inet.put("type", "inet");
        inet.putObject("data").put("host", "127.0.0.1").put("port", "0");
        ok(qmp.execute("nbd-server-start", args("addr", inet)));
        ok(qmp.execute("block-export-add", args("type", "nbd", "id", "e2", "node-name", "q0")));
        BlockExports.Address bound = machine.blockExports().orElseThrow().serverAddress();
        Path viaTcp = dir.resolve("tcp.img");
        Peers.ok("nbdcopy", "nbd://127.0.0.1:" + bound.port() + "/q0", viaTcp.toString());
        assertArrayEquals(content, Files.readAllBytes(viaTcp));
    }

    @Test
    void refusalsAreGenericErrorsWithQemusTextsAndChangeNothing() throws Exception {
        generic(qmp.execute("block-export-add", args("type", "nbd", "id", "e0", "node-name", "q0")), "NBD server not running");
        generic(qmp.execute("nbd-server-stop"), "NBD server not running");
        ObjectNode flat = QmpJson.object();
        flat.put("type", "unix");
        flat.put("path", nbdSocket.toString());
        generic(qmp.execute("nbd-server-start", args("addr", flat)), "Parameter 'addr.data' is missing");
        ObjectNode intPort = QmpJson.object();
        intPort.put("type", "inet");
        intPort.putObject("data").put("host", "127.0.0.1").put("port", 0);
        generic(qmp.execute("nbd-server-start", args("addr", intPort)), "Invalid parameter type for 'addr.data.port', expected: string");
        generic(qmp.execute("nbd-server-start", args("addr", "unix")), "Invalid parameter type for 'addr', expected: object");
        assertFalse(Files.exists(nbdSocket), "nothing listens after refusals");

        ok(qmp.execute("nbd-server-start", args("addr", unixAddr(nbdSocket))));
        generic(qmp.execute("nbd-server-start", args("addr", unixAddr(dir.resolve("other.sock")))), "NBD server already running");
        generic(qmp.execute("block-export-add", args("type", "nbd", "id", "e0", "node-name", "nope")),
                "Cannot find device='' nor node-name='nope'");
        generic(qmp.execute("block-export-add", args("type", "nbd", "id", "e0", "node-name", "q0", "writable", "yes")),
                "Invalid parameter type for 'writable', expected: boolean");
        generic(qmp.execute("block-export-add", args("type", "fuse", "id", "e0", "node-name", "q0")), "NBD only");
        assertEquals(0, ok(qmp.execute("query-block-exports")).size(), "no refused export was added");

        ok(qmp.execute("block-export-add", args("type", "nbd", "id", "e0", "node-name", "q0", "name", "disk")));
        generic(qmp.execute("block-export-add", args("type", "nbd", "id", "e0", "node-name", "raw0")), "Block export id 'e0' is already in use");
        generic(qmp.execute("block-export-add", args("type", "nbd", "id", "e1", "node-name", "raw0", "name", "disk")),
                "NBD server already has export named 'disk'");
        generic(qmp.execute("block-export-del", args("id", "zz")), "Export 'zz' is not found");
        generic(qmp.execute("block-export-del", args("id", "e0", "mode", "gentle")), "Parameter 'mode' does not accept value 'gentle'");

        // a client in transmission: QEMU's safe mode refuses, hard mode disconnects it
        try (RawNbdClient c = new RawNbdClient(nbdSocket)) {
            c.handshake(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
            c.go("disk");
            generic(qmp.execute("block-export-del", args("id", "e0")), "export 'e0' still in use");
            assertEquals(1, ok(qmp.execute("query-block-exports")).size());
            ok(qmp.execute("block-export-del", args("id", "e0", "mode", "hard")));
            assertTrue(c.closedByServer(), "hard mode disconnects the export's client");
        }
        assertEquals("e0", qmp.awaitEvent("BLOCK_EXPORT_DELETED").path("data").path("id").asText());
        assertEquals(0, ok(qmp.execute("query-block-exports")).size());
        assertEquals("running", ok(qmp.execute("query-status")).path("status").asText(), "the connection and the machine are still fine");
    }

    @Test
    void queryBlockShowsEachNodeWithItsDriver() throws Exception {
        JsonNode blocks = ok(qmp.execute("query-block"));
        assertEquals(2, blocks.size(), "the -drive and the node a device uses (not the unused nodes), as QEMU: " + blocks);
        JsonNode drive = blocks.get(0);
        assertEquals("d0", drive.path("device").asText());
        assertEquals("raw", drive.path("inserted").path("drv").asText());
        JsonNode node = blocks.get(1);
        assertEquals("", node.path("device").asText(), "a -blockdev node has no drive name");
        assertEquals("/machine/peripheral/blk1/virtio-backend", node.path("qdev").asText());
        JsonNode inserted = node.path("inserted");
        assertEquals("used0", inserted.path("node-name").asText());
        assertEquals("qcow2", inserted.path("drv").asText());
        assertEquals(dir.resolve("used.qcow2").toString(), inserted.path("file").asText());
        JsonNode image = inserted.path("image");
        assertEquals(8L << 20, image.path("virtual-size").asLong(), "the qcow2 header's size, not the file's");
        assertEquals(65536, image.path("cluster-size").asInt());
        JsonNode data = image.path("format-specific").path("data");
        assertEquals("1.1", data.path("compat").asText());
        assertEquals(16, data.path("refcount-bits").asInt());
        String info = Peers.ok("qemu-img", "info", "-U", "--output=json", dir.resolve("used.qcow2").toString());
        JsonNode oracle = QmpJson.MAPPER.readTree(info);
        assertEquals(oracle.path("virtual-size").asLong(), image.path("virtual-size").asLong());
        assertEquals(oracle.path("format-specific"), image.path("format-specific"), "qemu-img's own format-specific data");
    }
}
