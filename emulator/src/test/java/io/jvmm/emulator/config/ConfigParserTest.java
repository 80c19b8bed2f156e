package io.jvmm.emulator.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class ConfigParserTest {
    @TempDir
    Path dir;

    private Path file(String name) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, new byte[4096]);
        return p;
    }

    private MachineConfig parse(String memory, List<String> objects, List<String> drives, List<String> devices) throws Exception {
        return ConfigParser.parse(new ConfigParser.RawOptions(memory, null, file("kernel"), null, "console=ttyS0", false,
                objects, List.of(), drives, devices));
    }

    private String error(String memory, List<String> objects, List<String> drives, List<String> devices) {
        return assertThrows(UserError.class, () -> parse(memory, objects, drives, devices)).getMessage();
    }

    @Test
    void aFullMachineParses() throws Exception {
        Path disk = file("disk.img");
        MachineConfig c = parse("512", List.of("memory-backend-memfd,id=mem,size=512M,share=on"),
                List.of("file=" + disk + ",format=raw,if=none,id=d0,readonly=on"),
                List.of("virtio-blk-pci,drive=d0,serial=abc", "virtio-rng-pci", "virtio-rng-pci",
                        "isa-debug-exit,iobase=0xf4,iosize=0x04"));
        assertEquals(512L << 20, c.ramBytes());
        assertEquals(4, c.devices().size());
        DevicePlan.VirtioBlk blk = (DevicePlan.VirtioBlk) c.devices().get(0);
        assertEquals("blk0", blk.id());
        assertTrue(blk.drive().readOnly());
        assertEquals("abc", blk.serial());
        assertEquals("rng0", c.devices().get(1).id());
        assertEquals("rng1", c.devices().get(2).id());
        assertEquals(new DevicePlan.DebugExit("debug-exit0", 0xf4, 4), c.devices().get(3));
    }

    @Test
    void everyMistakeIsNamed() throws Exception {
        Path disk = file("disk.img");
        String d0 = "file=" + disk + ",if=none,id=d0";
        assertEquals("-device virtio-gpu-pci: unknown device (supported: isa-debug-exit, vhost-user-fs-pci, virtio-blk-pci, virtio-rng-pci)",
                error(null, List.of(), List.of(), List.of("virtio-gpu-pci")));
        assertTrue(error(null, List.of(), List.of(), List.of("virtio-rng-pci,bogus=1"))
                .startsWith("-device virtio-rng-pci: unknown property 'bogus'"));
        assertEquals("-device virtio-blk-pci: drive 'nope' is not defined by any -drive id=nope",
                error(null, List.of(), List.of(), List.of("virtio-blk-pci,drive=nope")));
        assertEquals("-drive d0 is not used by any device; add -device virtio-blk-pci,drive=d0",
                error(null, List.of(), List.of(d0), List.of()));
        assertEquals("-drive d0: format 'qcow2' is not supported (only raw)",
                error(null, List.of(), List.of(d0 + ",format=qcow2"), List.of()));
        assertEquals("-m 8: at least 16 MiB of RAM is needed", error("8", List.of(), List.of(), List.of()));
        assertEquals("-m: 'lots' is not a size (e.g. 512M, 2G)", error("lots", List.of(), List.of(), List.of()));
        assertTrue(error("256", List.of("memory-backend-memfd,id=m,size=512M,share=on"), List.of(), List.of())
                .contains("differs from -m 256 MiB"));
        assertTrue(error(null, List.of("memory-backend-memfd,id=m,size=512M"), List.of(), List.of())
                .contains("share=on is required"));
        assertEquals("-object memory-backend-file: unknown object type (supported: memory-backend-memfd)",
                error(null, List.of("memory-backend-file,id=m,size=1G"), List.of(), List.of()));
        assertTrue(error(null, List.of(), List.of(), List.of("virtio-rng-pci,id=x", "virtio-rng-pci,id=x"))
                .contains("id 'x' is already used"));
        assertTrue(error(null, List.of(), List.of(d0), List.of("virtio-blk-pci,drive=d0,queue-size=100"))
                .contains("queue-size 100 must be a power of two"));
        assertTrue(error(null, List.of(), List.of(), List.of("isa-debug-exit,iobase=0x10000"))
                .contains("not a valid port range"));
        assertEquals("-device virtio-rng-pci,id: 'id' is not of the form key=value",
                error(null, List.of(), List.of(), List.of("virtio-rng-pci,id")));
    }

    @Test
    void missingFilesAreUserErrors() {
        UserError e = assertThrows(UserError.class, () -> ConfigParser.parse(new ConfigParser.RawOptions(
                null, null, dir.resolve("absent"), null, null, false, List.of(), List.of(), List.of(), List.of())));
        assertEquals("-kernel " + dir.resolve("absent") + ": no such file", e.getMessage());
        e = assertThrows(UserError.class, () -> ConfigParser.parse(new ConfigParser.RawOptions(
                null, null, null, null, null, false, List.of(), List.of(), List.of(), List.of())));
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
        List<String> chardev = List.of("socket,id=c0,path=/tmp/vfsd.sock");
        MachineConfig c = ConfigParser.parse(new ConfigParser.RawOptions(null, null, file("k"), null, null, false,
                List.of(), chardev, List.of(), List.of("vhost-user-fs-pci,chardev=c0,tag=myfs,num-request-queues=2,x-sync-vring=off")));
        DevicePlan.VhostUserFs fs = (DevicePlan.VhostUserFs) c.devices().get(0);
        assertEquals("myfs", fs.tag());
        assertEquals(2, fs.requestQueues());
        assertEquals(128, fs.queueSize());
        assertFalse(fs.syncVring());
        assertEquals(Path.of("/tmp/vfsd.sock"), fs.chardev().path());

        UserError e = assertThrows(UserError.class, () -> ConfigParser.parse(new ConfigParser.RawOptions(null, null, file("k"), null, null,
                false, List.of(), List.of(), List.of(), List.of("vhost-user-fs-pci,chardev=c9,tag=x"))));
        assertEquals("-device vhost-user-fs-pci: chardev 'c9' is not defined by any -chardev socket,id=c9", e.getMessage());
        e = assertThrows(UserError.class, () -> ConfigParser.parse(new ConfigParser.RawOptions(null, null, file("k"), null, null,
                false, List.of(), chardev, List.of(), List.of("vhost-user-fs-pci,chardev=c0"))));
        assertEquals("-device vhost-user-fs-pci: property 'tag' is required", e.getMessage());
        e = assertThrows(UserError.class, () -> ConfigParser.parse(new ConfigParser.RawOptions(null, null, file("k"), null, null,
                false, List.of(), chardev, List.of(), List.of("vhost-user-fs-pci,chardev=c0,tag=x,queue-size=3"))));
        assertTrue(e.getMessage().contains("queue-size 3 must be a power of two"), e.getMessage());
    }
}
