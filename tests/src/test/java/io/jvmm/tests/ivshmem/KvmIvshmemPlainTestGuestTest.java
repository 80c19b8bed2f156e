package io.jvmm.tests.ivshmem;

import static org.junit.jupiter.api.Assertions.*;

import io.jvmm.chardev.ChildJvm;
import io.jvmm.emulator.Main;
import io.jvmm.tests.kvm.KvmAvailable;
import io.jvmm.tests.kvm.TestGuest;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * jvmm's ivshmem-plain under KVM (BAR2 a KVM memory slot of a memory-backend-file), with the
 * freestanding test guest's {@code ivshmem} mode: the guest reads what the host wrote into the
 * file before it started and writes words the host reads afterwards. Skipped where KVM cannot run
 * a VM. (The same guest mode was checked under QEMU 7.2's ivshmem-plain with a memory-backend-file.)
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class KvmIvshmemPlainTestGuestTest {
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void theTestGuestReadsAndWritesTheMemoryBackendThroughBar2() throws Exception {
        KvmAvailable.assume();
        Path file = dir.resolve("shm");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MappedByteBuffer host = ch.map(FileChannel.MapMode.READ_WRITE, 0, SIZE);
            host.order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < 16; i++) {
                host.putInt(4096 * i, 0x5EED0000 + i);
            }
            try (ChildJvm jvmm = ChildJvm.start(Main.class, "-m", "256", "-kernel", TestGuest.elf().toString(), "-append", "ivshmem",
                    "-nographic", "-device", "isa-debug-exit,iobase=0x501,iosize=2",
                    "-object", "memory-backend-file,id=m0,size=1M,share=on,mem-path=" + file, "-device", "ivshmem-plain,memdev=m0")) {
                assertEquals(TestGuest.PASS, jvmm.awaitExit(Duration.ofMinutes(2)), "the guest passed:\n" + jvmm.output());
                assertTrue(jvmm.output().contains("ivshmem: plain PASS"), jvmm.output());
            }
            for (int i = 0; i < 64; i++) {
                assertEquals(0x6E570000 + i, host.getInt(0x20000 + 4 * i), "the guest's word " + i + " is in the file");
            }
        }
    }
}
