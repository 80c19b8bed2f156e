package io.jvmm.bench;

import io.jvmm.pci.BarDefinition;
import io.jvmm.pci.BarKind;
import io.jvmm.pci.PciDevice;
import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.Msix;
import io.jvmm.pci.msix.SignalResult;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/**
 * MSI-X delivery paths: signal on an unmasked vector; signal while masked, then unmask. The
 * reference for a signal is the least a lock-free delivery can do: two atomic updates of a
 * vector's state word around a call to the sink.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class MsixBench {
    private Msix msix;
    private long delivered;
    private final java.util.concurrent.atomic.AtomicIntegerArray words = new java.util.concurrent.atomic.AtomicIntegerArray(4);
    private final io.jvmm.pci.msix.InterruptSink sink = (MsiMessage m) -> delivered += m.data();
    private final MsiMessage message = new MsiMessage(0xfee00000L, 0x40);

    /** The smallest PCI function that carries an MSI-X capability, as a device would. */
    static final class BenchDevice extends PciDevice {
        final Msix msix;

        BenchDevice(Msix msix) {
            super("bench", 0x1af4, 0x1000, 0xff0000, 0, 0x1af4, 0);
            this.msix = msix;
            defineBar(0, new BarDefinition(BarKind.MEM32, 4096, false, msix.tableHandler()));
            msix.install(this, 0, 0, 0, 2048);
        }
    }

    @Setup
    public void setUp() {
        msix = new Msix("bench", 4, (MsiMessage m) -> delivered += m.data());
        BenchDevice device = new BenchDevice(msix);
        for (int v = 0; v < 2; v++) {   // program and unmask vectors 0 and 1 as a guest does
            msix.tableHandler().write(16L * v, 4, 0xfee00000L);
            msix.tableHandler().write(16L * v + 8, 4, 0x40 + v);
            msix.tableHandler().write(16L * v + 12, 4, 0);
        }
        device.configWrite(msix.capabilityOffset() + 2, 2, Msix.CONTROL_ENABLE);
        if (!msix.isEnabled()) {
            throw new IllegalStateException("MSI-X did not enable");
        }
    }

    @Benchmark
    public SignalResult signalUnmasked() {
        return msix.signal(0);
    }

    @Benchmark
    public SignalResult signalMaskedThenUnmask() {
        msix.tableHandler().write(16 + 12, 4, 1);   // mask vector 1
        SignalResult r = msix.signal(1);           // -> PBA pending
        msix.tableHandler().write(16 + 12, 4, 0);  // unmask -> delivered once
        return r;
    }

    @Benchmark
    public int referenceTwoAtomics() {
        int s = words.get(0);
        words.compareAndSet(0, s, s + 16);
        sink.deliver(message);
        return words.getAndAdd(0, -16);
    }

    @TearDown
    public void check() {
        if (delivered == 0) {
            throw new IllegalStateException("no interrupt was delivered: the benchmark measured nothing");
        }
    }
}
