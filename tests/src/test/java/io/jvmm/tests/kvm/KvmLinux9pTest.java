package io.jvmm.tests.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Debian's Linux, booted by jvmm under KVM, mounts a host directory through jvmm's virtio-9p-pci
 * and its in-process 9P2000.L server ({@code -fsdev local,... -device virtio-9p-pci,fsdev=...}) with
 * the kernel's own 9p client at msize 512000: it reads a 256 MiB host file with the host's sha256,
 * and 2,000 files it creates and stats are seen on the host. Runs where the host's KVM boots a stock
 * kernel; skipped elsewhere with the reason (the same client is exercised on every machine through
 * the vfio-user rig: {@code VfioUserP9LinuxGuestTest}).
 */
@Timeout(600)
class KvmLinux9pTest {
    private static final int INIT_PASS = 1;
    private static final String TAG = "share9";
    private static final long BIG_FILE = 256L << 20;
    private static final int FILES = 2000;
    private static final String MOUNT = "mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 " + TAG + " /mnt";

    @TempDir
    Path dir;
    private Path share;

    @BeforeEach
    void setUp() throws Exception {
        KvmAvailable.assumeStockLinuxBoots();
        share = Files.createDirectory(dir.resolve("share"));
    }

    private record Run(int status, String console) {
    }

    /** Boots the guest with the share as {@value #TAG} and runs {@code command} (no double quotes: /init's jvmm.cmd). */
    private Run boot(String command) throws Exception {
        Map<BackendKind, List<String>> backends = new EnumMap<>(BackendKind.class);
        backends.put(BackendKind.FSDEV, List.of("local,id=f0,path=" + share + ",security_model=none"));
        MachineConfig config = ConfigParser.parse(Registry.load(), new ConfigParser.RawOptions("512", "2", LinuxGuestImage.kernel(),
                LinuxGuestImage.initrd(), "console=ttyS0 panic=-1 jvmm.cmd=\"" + command + "\"", true, backends,
                List.of("virtio-9p-pci,fsdev=f0,mount_tag=" + TAG, "isa-debug-exit,iobase=0x501,iosize=2")));
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (KvmMachine machine = KvmMachine.create(config, console)) {
            return new Run(machine.run().status(), console.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void theGuestReadsA256MiBHostFileWithTheHostsSha256() throws Exception {
        String hostSum = GuestFileScripts.writeRandomFile(share.resolve("big.bin"), BIG_FILE, 9);
        Run run = boot(MOUNT + " && grep 9p /proc/mounts && sha256sum /mnt/big.bin && umount /mnt");
        assertEquals(INIT_PASS, run.status(), run::console);
        assertTrue(run.console().contains(TAG + " /mnt 9p"), () -> "the share is mounted as 9p: " + run.console());
        assertTrue(run.console().contains(hostSum + "  /mnt/big.bin"),
                () -> "the guest's sha256 of big.bin equals the host's " + hostSum + ": " + run.console());
    }

    @Test
    void twoThousandFilesCreatedAndStatedInTheGuestAreSeenOnTheHost() throws Exception {
        Files.writeString(share.resolve("create-stat.sh"), GuestFileScripts.createAndStat(FILES));
        Run run = boot(MOUNT + " && sh /mnt/create-stat.sh && umount /mnt");
        assertEquals(INIT_PASS, run.status(), run::console);
        assertTrue(run.console().contains("JVMM-FS: created " + FILES + ", stat ok " + FILES), run::console);
        GuestFileScripts.assertHostSeesTheFiles(share, FILES);
    }
}
