package io.jvmm.bench;

import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.pci.MsixDriver;
import org.openjdk.jmh.annotations.*;

import java.util.concurrent.TimeUnit;

/**
 * One MSI-X mask + unmask round trip, written by the guest into the MSI-X table of jvmm's
 * vhost-user-fs-pci served by virtiofsd: each write moves the request queue's call fd (to the
 * masked notifier, then back to the guest notifier) with SET_VRING_CALL, and completes only once
 * virtiofsd acknowledged it (REPLY_ACK; rule 1), the unmask also draining the masked notifier
 * (rule 2). The reference is the same two writes to a vector of the in-process virtio-rng on the
 * same machine, which needs no back-end: the difference is the cost of the acknowledgements.
 * {@link #referenceBareRoundTrip} is one bare request/reply with the same virtiofsd through the
 * same connection (GET_FEATURES from this thread, the reply read by the connection's reader): the
 * promise is that a mask+unmask, two acknowledged requests, costs at most 2.5 of those.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class VhostMaskBench {
    private java.nio.file.Path dir;
    private VirtiofsMachine vm;
    private MsixDriver fsMsix;
    private int fsVector;
    private MsixDriver rngMsix;
    private int rngVector;

    @Setup(Level.Trial)
    public void start() throws Exception {
        dir = VirtiofsMachine.workDir();
        vm = VirtiofsMachine.start(dir);
        fsMsix = vm.fs.device().msix();
        fsVector = vm.fs.device().queueVector(FsProtocol.FIRST_REQUEST_QUEUE);
        rngMsix = vm.rng.device().msix();
        rngVector = vm.rng.device().queueVector(0);
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        try {
            // The vector must end unmasked and the device healthy: a mask that broke the device measured a failure.
            if (fsMsix.isMasked(fsVector)) {
                throw new IllegalStateException("vector " + fsVector + " of the fs device was left masked");
            }
            vm.checkHealthy();
        } finally {
            vm.close();
            VirtiofsMachine.delete(dir);
        }
    }

    @Benchmark
    public void maskUnmaskVhostUserFsVector() {
        fsMsix.mask(fsVector);
        fsMsix.unmask(fsVector);
    }

    @Benchmark
    public long referenceBareRoundTrip() throws Exception {
        return vm.fsDevice.frontend().getFeatures().get(10, TimeUnit.SECONDS);
    }

    @Benchmark
    public void referenceMaskUnmaskInProcessRngVector() {
        rngMsix.mask(rngVector);
        rngMsix.unmask(rngVector);
    }
}
