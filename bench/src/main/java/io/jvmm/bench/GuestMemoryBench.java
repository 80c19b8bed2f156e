package io.jvmm.bench;

import io.jvmm.pci.mem.GuestMemory;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/** Bounds-checked 32-bit guest-memory access, against a plain direct-buffer access as reference. */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class GuestMemoryBench {
    private static final long RAM = 64 << 20;
    private GuestMemory memory;
    private java.nio.ByteBuffer reference;
    private long address;

    @Setup
    public void setUp() {
        memory = GuestMemory.ofRam("bench", RAM);
        reference = java.nio.ByteBuffer.allocateDirect((int) RAM).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    @TearDown
    public void tearDown() {
        memory.close();
    }

    private long next() {
        address = (address + 4096 + 4) & (RAM - 1) & ~3L;
        return address;
    }

    @Benchmark
    public int read32() {
        return memory.read32(next());
    }

    @Benchmark
    public void write32() {
        long a = next();
        memory.write32(a, (int) a);
    }

    @Benchmark
    public int referenceDirectBufferRead32() {
        return reference.getInt((int) next());
    }
}
