package io.jvmm.tests.virtio;

import io.jvmm.devices.blk.BlockBackend;
import io.jvmm.devices.blk.RawFileBackend;
import io.jvmm.devices.blk.BlkDevice;
import io.jvmm.devices.blk.BlkMetrics;
import io.jvmm.devices.blk.BlkOptions;
import io.jvmm.devices.blk.DriveOptions;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.blk.VirtioBlkDriver;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;

/**
 * A no-CPU machine with a virtio-blk on a raw temporary file (slot 1) and a virtio-rng (slot 2),
 * enumerated and probed by the guest drivers. The test talks to the devices only through the
 * guest drivers; the bed keeps the image path so results can be checked against the file.
 */
final class VirtioTestBed implements AutoCloseable {
    static final long RAM = 128L << 20;
    static final String SERIAL = "jvmm-test-disk-01";
    static final Duration DRIVER_TIMEOUT = Duration.ofSeconds(20);

    final Path image;
    final TestMachine machine;
    final Guest guest;
    final List<PciFunction> functions;
    final VirtioBlkDriver blk;
    final VirtioRngDriver rng;

    /** Options of the bed; the defaults suit most tests. */
    record Options(long imageBytes, boolean readOnly, int queueSize, Function<BlockBackend, BlockBackend> wrapBackend) {
        static Options defaults() {
            return new Options(16L << 20, false, 128, b -> b);
        }

        Options imageBytes(long bytes) {
            return new Options(bytes, readOnly, queueSize, wrapBackend);
        }

        Options readOnly(boolean ro) {
            return new Options(imageBytes, ro, queueSize, wrapBackend);
        }

        Options queueSize(int size) {
            return new Options(imageBytes, readOnly, size, wrapBackend);
        }

        Options wrapBackend(Function<BlockBackend, BlockBackend> wrap) {
            return new Options(imageBytes, readOnly, queueSize, wrap);
        }
    }

    static VirtioTestBed create(Path dir) {
        return create(dir, Options.defaults());
    }

    /** A bed over a fresh, sparse (all zero) image of {@code options.imageBytes()} in {@code dir}. */
    static VirtioTestBed create(Path dir, Options options) {
        Path image = dir.resolve("disk.raw");
        try {
            Files.deleteIfExists(image);
            try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
                f.setLength(options.imageBytes());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return createOver(dir, options);
    }

    /** A bed over the image a previous bed left in {@code dir}. */
    static VirtioTestBed createOver(Path dir, Options options) {
        Path image = dir.resolve("disk.raw");
        TestMachine machine = new TestMachine(RAM);
        try {
            BlockBackend backend = options.wrapBackend().apply(new RawFileBackend("blk0", image, options.readOnly(), 4));
            machine.addVirtio(new BlkDevice(new BlkOptions("blk0", DriveOptions.raw("d0", image, options.readOnly()), SERIAL,
                    options.queueSize()), backend, BlkMetrics.unregistered("blk0")));
            machine.addVirtio(new RngDevice("rng0"));
            return new VirtioTestBed(image, machine);
        } catch (RuntimeException e) {
            machine.close();
            throw e;
        }
    }

    private VirtioTestBed(Path image, TestMachine machine) {
        this.image = image;
        this.machine = machine;
        this.guest = Guest.of(machine);
        this.functions = guest.enumerate();
        VirtioPciDriver blkDevice = probe(2);
        VirtioPciDriver rngDevice = probe(4);
        this.blk = new VirtioBlkDriver(blkDevice);
        this.rng = new VirtioRngDriver(rngDevice);
    }

    private VirtioPciDriver probe(int type) {
        PciFunction fn = functions.stream()
                .filter(f -> VirtioPciDriver.isVirtio(f) && f.deviceId() == VirtioPciDriver.MODERN_DEVICE_ID_BASE + type)
                .findFirst().orElseThrow(() -> new AssertionError("no virtio device of type " + type + " in " + functions));
        VirtioPciDriver driver = VirtioPciDriver.probe(guest, fn);
        driver.setTimeout(DRIVER_TIMEOUT);
        return driver;
    }

    /** Both devices initialised with their defaults. */
    VirtioTestBed initialized() {
        blk.initialize();
        rng.initialize();
        return this;
    }

    @Override
    public void close() {
        machine.close();
    }
}
