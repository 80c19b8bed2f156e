package io.jvmm.tests.kvm;

import io.jvmm.platform.config.MachineConfig;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.tests.fs.Virtiofsd;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Debian's Linux, booted by jvmm under KVM, mounts a directory of the host through jvmm's
 * vhost-user-fs-pci and Debian's virtiofsd with its own virtiofs driver:
 * {@code -chardev socket,id=c0,path=... -device vhost-user-fs-pci,chardev=c0,tag=myfs}, then
 * {@code mount -t virtiofs myfs /mnt} in the guest. It reads a 256 MiB host file with the host's
 * sha256, and 2,000 files it creates and stats are seen on the host. Runs where the host's KVM
 * boots a stock kernel; skipped on PVM hosts (see {@link KvmAvailable#assumeStockLinuxBoots()}).
 * The guest's side (image, modules, commands, expected console lines) was checked by booting the
 * same image under Debian's QEMU with TCG, vhost-user-fs-pci and the same virtiofsd options.
 */
@Timeout(600)
class KvmLinuxVirtioFsTest {
    /** debug-exit status 0 from /init -> (0 << 1) | 1. */
    private static final int INIT_PASS = 1;
    private static final String TAG = "myfs";
    private static final long BIG_FILE = 256L << 20;
    private static final int FILES = 2000;
    private static final String MOUNT = "mount -t virtiofs " + TAG + " /mnt";

    @TempDir
    Path dir;
    private Path share;
    private Virtiofsd virtiofsd;

    @BeforeEach
    void setUp() throws IOException {
        KvmAvailable.assumeStockLinuxBoots();
        assumeTrue(Virtiofsd.available(), "virtiofsd is not installed at " + Virtiofsd.BINARY + " (package qemu-system-common)");
        share = Files.createDirectory(dir.resolve("share"));
    }

    @AfterEach
    void tearDown() {
        if (virtiofsd != null) {
            virtiofsd.close();
        }
    }

    private record Run(int status, String console) {
    }

    /** Boots the guest with the share as {@value #TAG} and runs {@code command} (no double quotes: /init's jvmm.cmd). */
    private Run boot(String command) throws Exception {
        virtiofsd = Virtiofsd.start(share, dir);
        MachineConfig config = KvmConfig.parse("512", "2", LinuxGuestImage.kernel(), LinuxGuestImage.initrd(),
                "console=ttyS0 panic=-1 jvmm.cmd=\"" + command + "\"", true,
                List.of("memory-backend-memfd,id=mem,size=512M,share=on"),
                List.of("socket,id=c0,path=" + virtiofsd.socket), List.of(),
                List.of("vhost-user-fs-pci,chardev=c0,tag=" + TAG, "isa-debug-exit,iobase=0x501,iosize=2"));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (KvmMachine machine = KvmMachine.create(config, console)) {
            return new Run(machine.run().status(), console.toString(StandardCharsets.UTF_8));
        }
    }

    private String explain(Run run) {
        return run.console() + "\nvirtiofsd log:\n" + virtiofsd.logTail();
    }

    @Test
    void theGuestReadsA256MiBHostFileWithTheHostsSha256() throws Exception {
        String hostSum = GuestFileScripts.writeRandomFile(share.resolve("big.bin"), BIG_FILE, 256);

        Run run = boot(MOUNT + " && grep virtiofs /proc/mounts && sha256sum /mnt/big.bin && umount /mnt");
        assertEquals(INIT_PASS, run.status(), () -> explain(run));
        assertTrue(run.console().contains(TAG + " /mnt virtiofs"), () -> "the share is mounted as virtiofs: " + explain(run));
        assertTrue(run.console().contains(hostSum + "  /mnt/big.bin"),
                () -> "the guest's sha256 of big.bin equals the host's " + hostSum + ": " + explain(run));
    }

    @Test
    void twoThousandFilesCreatedAndStatedInTheGuestAreSeenOnTheHost() throws Exception {
        Files.writeString(share.resolve("create-stat.sh"), GuestFileScripts.createAndStat(FILES));
        Run run = boot(MOUNT + " && sh /mnt/create-stat.sh && umount /mnt");
        assertEquals(INIT_PASS, run.status(), () -> explain(run));
        assertTrue(run.console().contains("JVMM-FS: created " + FILES + ", stat ok " + FILES),
                () -> "every file the guest created has the size it wrote, by stat in the guest: " + explain(run));

        GuestFileScripts.assertHostSeesTheFiles(share, FILES);
    }
}
