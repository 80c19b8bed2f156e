package io.jvmm.emulator.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.devices.blk.BlkOptions;
import io.jvmm.devices.debugexit.DebugExitOptions;
import io.jvmm.devices.fs.VhostUserFsOptions;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.OptionList;
import io.jvmm.platform.options.Sizes;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** jvmm's options, validated through the registry of the devices on the class path, as the command line does. */
class CommandLineConfigTest {
    @TempDir
    Path dir;

    private Path file(String name) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, new byte[4096]);
        return p;
    }

    private static Map<BackendKind, List<String>> backends(List<String> objects, List<String> chardevs, List<String> drives) {
        Map<BackendKind, List<String>> all = new EnumMap<>(BackendKind.class);
        all.put(BackendKind.OBJECT, objects);
        all.put(BackendKind.CHARDEV, chardevs);
        all.put(BackendKind.DRIVE, drives);
        return all;
    }

    private MachineConfig parse(String memory, List<String> objects, List<String> chardevs, List<String> drives,
                                List<String> devices) throws Exception {
        return ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions(memory, null, file("kernel"), null, "console=ttyS0",
                false, backends(objects, chardevs, drives), devices));
    }

    private String error(String memory, List<String> objects, List<String> drives, List<String> devices) {
        return assertThrows(UserError.class, () -> parse(memory, objects, List.of(), drives, devices)).getMessage();
    }

    @Test
    void aFullMachineParses() throws Exception {
        Path disk = file("disk.img");
        MachineConfig c = parse("512", List.of("memory-backend-memfd,id=mem,size=512M,share=on"), List.of(),
                List.of("file=" + disk + ",format=raw,if=none,id=d0,readonly=on"),
                List.of("virtio-blk-pci,drive=d0,serial=abc", "virtio-rng-pci", "virtio-rng-pci",
                        "isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assertEquals(512L << 20, c.ramBytes());
        assertEquals("mem", c.ram().id());
        assertEquals(4, c.devices().size());
        BlkOptions blk = (BlkOptions) c.devices().get(0).options();
        assertEquals("blk0", blk.id());
        assertTrue(blk.drive().readOnly());
        assertEquals("abc", blk.serial());
        assertEquals(256, blk.queueSize());
        assertEquals("rng0", c.devices().get(1).id());
        assertEquals("rng1", c.devices().get(2).id());
        assertEquals(new DebugExitOptions("debug-exit0", 0xf4, 4), c.devices().get(3).options());
    }

    @Test
    void everyMistakeIsNamed() throws Exception {
        Path disk = file("disk.img");
        String d0 = "file=" + disk + ",if=none,id=d0";
        String unknown = error(null, List.of(), List.of(), List.of("virtio-gpu-pci"));
        assertTrue(unknown.startsWith("-device virtio-gpu-pci: unknown device (supported: "), unknown);
        assertTrue(unknown.contains("virtio-blk-pci") && unknown.contains("see -device help"), unknown);
        assertEquals("-device virtio-rng-pci: unknown property 'bogus' (accepted: id)",
                error(null, List.of(), List.of(), List.of("virtio-rng-pci,bogus=1")));
        assertEquals("-device virtio-blk-pci: drive 'nope' is not defined by any -drive id=nope",
                error(null, List.of(), List.of(), List.of("virtio-blk-pci,drive=nope")));
        assertEquals("-drive d0 is not used by any device; add -device virtio-blk-pci,drive=d0",
                error(null, List.of(), List.of(d0), List.of()));
        assertEquals("drive 'd0': format=vmdk is not allowed (raw or qcow2)",
                error(null, List.of(), List.of(d0 + ",format=vmdk"), List.of()));
        assertEquals("-m 8: at least 16 MiB of RAM is needed", error("8", List.of(), List.of(), List.of()));
        assertEquals("-m: 'lots' is not a size (e.g. 512M, 2G)", error("lots", List.of(), List.of(), List.of()));
        assertTrue(error("256", List.of("memory-backend-memfd,id=m,size=512M,share=on"), List.of(), List.of())
                .contains("differs from -m 256 MiB"));
        assertTrue(error(null, List.of("memory-backend-memfd,id=m,size=512M"), List.of(), List.of())
                .contains("share=on is required"));
        assertTrue(error(null, List.of("memory-backend-ram,id=m,size=1G"), List.of(), List.of())
                .startsWith("-object memory-backend-ram: unknown type (supported: memory-backend-file, memory-backend-memfd)"));
        assertTrue(error(null, List.of(), List.of(), List.of("virtio-rng-pci,id=x", "virtio-rng-pci,id=x"))
                .contains("id 'x' is already used"));
        assertEquals("virtio-blk-pci 'blk0': queue-size=100 is not allowed (a power of two from 4 to 1024)",
                error(null, List.of(), List.of(d0), List.of("virtio-blk-pci,drive=d0,queue-size=100")));
        assertEquals("isa-debug-exit 'debug-exit0': iobase=65536 is not allowed (from 0 to 65535)",
                error(null, List.of(), List.of(), List.of("isa-debug-exit,iobase=0x10000")));
        assertEquals("-device virtio-rng-pci,id: 'id' is not of the form key=value",
                error(null, List.of(), List.of(), List.of("virtio-rng-pci,id")));
        assertEquals("virtio-blk-pci 'blk0': serial=" + "s".repeat(21) + " is not allowed (at most 20 characters)",
                error(null, List.of(), List.of(d0), List.of("virtio-blk-pci,drive=d0,serial=" + "s".repeat(21))));
    }

    @Test
    void blockdevNodesAndNbdOptions() throws Exception {
        Path disk = file("disk.img");
        Map<BackendKind, List<String>> b = backends(List.of(), List.of(), List.of());
        b.put(BackendKind.BLOCKDEV, List.of("driver=file,node-name=n0,filename=" + disk,
                "driver=nbd,node-name=n1,server.type=unix,server.path=/run/x.sock,export=e,reconnect-delay=5",
                "driver=qcow2,node-name=n2,file.filename=" + disk));
        MachineConfig c = ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions(null, null, file("kernel"), null, "",
                false, b, List.of("virtio-blk-pci,drive=n0", "virtio-blk-pci,drive=n1")));
        assertEquals(disk.toString(), ((io.jvmm.devices.blk.BlockdevOptions) ((BlkOptions) c.devices().get(0).options()).drive()).file());
        io.jvmm.devices.blk.BlockdevOptions n1 = (io.jvmm.devices.blk.BlockdevOptions) ((BlkOptions) c.devices().get(1).options()).drive();
        assertEquals("nbd+unix:///e?socket=/run/x.sock", n1.file());
        assertEquals(5, n1.nbd().reconnectDelay().toSeconds());
        b.put(BackendKind.BLOCKDEV, List.of("driver=nbd,node-name=n1,server.type=unix,server.host=h"));
        UserError e = assertThrows(UserError.class, () -> ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions(null, null,
                file("kernel"), null, "", false, b, List.of())));
        assertTrue(e.getMessage().contains("server.type=unix takes server.path"), e.getMessage());
        assertEquals("-nbd-server: x-nbd-listener=elsewhere is not allowed (own-loop or main-loop)",
                assertThrows(UserError.class, () -> io.jvmm.devices.nbd.NbdExports.parseServer(
                        "addr.type=unix,addr.path=/x,x-nbd-listener=elsewhere")).getMessage());
        assertEquals("-export type=vhost-user-blk is not supported (type=nbd)",
                assertThrows(UserError.class, () -> io.jvmm.devices.nbd.NbdExports.parseExport("type=vhost-user-blk,id=e,node-name=n"))
                        .getMessage());
        assertEquals(io.jvmm.devices.nbd.NbdServer.Listener.MAIN_LOOP,
                io.jvmm.devices.nbd.NbdExports.parseServer("addr.type=unix,addr.path=/x,x-nbd-listener=main-loop").listener());
    }

    @Test
    void missingFilesAreUserErrors() {
        UserError e = assertThrows(UserError.class, () -> ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions(
                null, null, dir.resolve("absent"), null, null, false, Map.of(), List.of())));
        assertEquals("-kernel " + dir.resolve("absent") + ": no such file", e.getMessage());
        e = assertThrows(UserError.class, () -> ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions(
                null, null, null, null, null, false, Map.of(), List.of())));
        assertTrue(e.getMessage().startsWith("no -kernel given"));
    }

    @Test
    void optionListsFollowQemuQuoting() {
        OptionList o = OptionList.parse("-device", "virtio-blk-pci,serial=a,,b,drive=x", "driver");
        assertEquals("virtio-blk-pci", o.head());
        assertEquals("a,b", o.string("serial", null));
        assertEquals("x", o.string("drive", null));
        assertEquals("socket", OptionList.parse("-chardev", "backend=socket,id=c", "backend").head());
        assertEquals(3L << 30, Sizes.parse("-m", "3G", Sizes.MIB));
        assertEquals(64L << 20, Sizes.parse("-m", "64", Sizes.MIB));
    }

    @Test
    void vhostUserFsNeedsADefinedChardevAndATag() throws Exception {
        Path socket = dir.resolve("vfsd.sock");
        List<String> chardev = List.of("socket,id=c0,path=" + socket);
        MachineConfig c = parse(null, List.of(), chardev, List.of(),
                List.of("vhost-user-fs-pci,chardev=c0,tag=myfs,num-request-queues=2,x-sync-vring=off"));
        VhostUserFsOptions fs = (VhostUserFsOptions) c.devices().get(0).options();
        assertEquals("myfs", fs.tag());
        assertEquals(2, fs.requestQueues());
        assertEquals(128, fs.queueSize());
        assertFalse(fs.syncVring());
        assertEquals(socket, fs.chardev().path());

        UserError e = assertThrows(UserError.class, () -> parse(null, List.of(), List.of(), List.of(),
                List.of("vhost-user-fs-pci,chardev=c9,tag=x")));
        assertEquals("-device vhost-user-fs-pci: chardev 'c9' is not defined by any -chardev id=c9", e.getMessage());
        e = assertThrows(UserError.class, () -> parse(null, List.of(), chardev, List.of(), List.of("vhost-user-fs-pci,chardev=c0")));
        assertEquals("vhost-user-fs-pci 'vhost-user-fs0': property 'tag' is required (the name the guest mounts)", e.getMessage());
        e = assertThrows(UserError.class, () -> parse(null, List.of(), chardev, List.of(),
                List.of("vhost-user-fs-pci,chardev=c0,tag=x,queue-size=3")));
        assertTrue(e.getMessage().contains("queue-size=3 is not allowed (a power of two from 2 to 32768)"), e.getMessage());
        e = assertThrows(UserError.class, () -> parse(null, List.of(), chardev, List.of(),
                List.of("vhost-user-fs-pci,chardev=c0,tag=x", "vhost-user-fs-pci,chardev=c0,tag=y")));
        assertEquals("-device vhost-user-fs-pci: chardev 'c0' is already used by another device", e.getMessage());
    }

    @Test
    void aMemoryBackendUsedByNoDeviceIsTheRam() throws Exception {
        MachineConfig c = parse(null, List.of("memory-backend-memfd,id=m,size=64M,share=on"), List.of(), List.of(), List.of());
        assertEquals(64L << 20, c.ramBytes());
        assertTrue(error(null, List.of("memory-backend-memfd,id=a,size=64M,share=on", "memory-backend-memfd,id=b,size=64M,share=on"),
                List.of(), List.of()).contains("only one can be the guest's RAM"));
    }
}
