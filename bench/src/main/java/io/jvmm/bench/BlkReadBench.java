package io.jvmm.bench;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import org.openjdk.jmh.annotations.*;

import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;

/**
 * A 4 KiB virtio-blk read through the whole transport on the no-CPU machine: the guest driver
 * fills the ring, notifies through MMIO, the device reads the raw file into guest memory on its
 * context, and the driver waits for the MSI-X interrupt. The reference is the same 4 KiB pread
 * of the same file on the host, so the ratio is the cost of the virtual device.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class BlkReadBench {
    private static final long IMAGE = 64 << 20;
    private Path dir;
    private Path image;
    private TestMachine machine;
    private VirtioBlkDriver blk;
    private FileChannel file;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(4096);
    private long sector;

    @Setup
    public void setUp() throws Exception {
        dir = Files.createTempDirectory("jvmm-bench");
        image = dir.resolve("disk.raw");
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(IMAGE);
            f.write(new byte[(int) IMAGE]);   // really allocated, so both paths read the page cache
        }
        machine = TestMachine.builder().memory("64M")
                .option("-drive", "file=" + image + ",format=raw,if=none,id=d0")
                .device("virtio-blk-pci,id=blk0,drive=d0,serial=bench").build();
        Guest guest = Guest.of(machine);
        PciFunction fn = guest.enumerate().stream().filter(VirtioPciDriver::isVirtio).findFirst().orElseThrow();
        blk = new VirtioBlkDriver(VirtioPciDriver.probe(guest, fn)).initialize();
        file = FileChannel.open(image, StandardOpenOption.READ);
    }

    @TearDown
    public void tearDown() throws Exception {
        file.close();
        machine.close();
        Files.deleteIfExists(image);
        Files.deleteIfExists(dir);
    }

    private long nextSector() {
        sector = (sector + 8 * 37) % (IMAGE / 512 - 8);
        return sector & ~7L;
    }

    @Benchmark
    public Object virtioBlkRead4k() {
        return blk.read(nextSector(), 4096);
    }

    @Benchmark
    public int referenceHostPread4k() throws Exception {
        buffer.clear();
        return file.read(buffer, nextSector() * 512);
    }
}
