package io.jvmm.bench;

import io.jvmm.chardev.EventFd;
import io.jvmm.testkit.driver.fs.FsProtocol;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.virtio.vhost.frontend.VhostUserFrontend;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Where the time of a vhost-user MSI-X mask+unmask goes ({@link VhostMaskBench} gives the ratio):
 * after a warm-up, times separately the bare GET_FEATURES round trip, one acknowledged
 * SET_VRING_CALL sent straight through the front-end (the back-end's share without the MSI-X and
 * device machinery), the guest's mask write and its unmask write, and prints the median and 90th
 * percentile of each. The pid of virtiofsd is printed so that {@code strace -f -tt -p PID} can
 * count and time the messages it handles.
 *
 * <pre>java -cp bench/target/benchmarks.jar io.jvmm.bench.VhostMaskProbe [iterations (20000)] [pause s before measuring (0)]</pre>
 */
public final class VhostMaskProbe {
    private VhostMaskProbe() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
        int pause = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        Path dir = VirtiofsMachine.workDir();
        try (VirtiofsMachine vm = VirtiofsMachine.start(dir)) {
            MsixDriver msix = vm.fs.device().msix();
            int queue = FsProtocol.FIRST_REQUEST_QUEUE;
            int vector = vm.fs.device().queueVector(queue);
            VhostUserFrontend frontend = vm.fsDevice.frontend();
            System.out.printf("virtiofsd pid %d, vector %d (hiprio queue's vector %d)%n", vm.virtiofsd.pid(), vector,
                    vm.fs.device().queueVector(0));
            long[] bare = new long[n];
            long[] call = new long[n];
            long[] mask = new long[n];
            long[] unmask = new long[n];
            long[] pair = new long[n];
            long[] watchedCall = new long[n];
            try (EventFd probe = EventFd.create(); EventFd watched = EventFd.create();
                 io.jvmm.chardev.EventContext watcher = io.jvmm.chardev.EventContext.start("probe-watcher")) {
                watcher.addEventFd(watched, "probe's watched call fd", count -> { });
                for (int round = 0; round < 2; round++) {   // the first round warms up
                    if (round == 1 && pause > 0) {
                        System.out.printf("measuring in %d s%n", pause);
                        Thread.sleep(pause * 1000L);
                    }
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        frontend.getFeatures().get(10, TimeUnit.SECONDS);
                        long t1 = System.nanoTime();
                        msix.mask(vector);
                        long t2 = System.nanoTime();
                        msix.unmask(vector);
                        long t3 = System.nanoTime();
                        bare[i] = t1 - t0;
                        mask[i] = t2 - t1;
                        unmask[i] = t3 - t2;
                    }
                    // An acknowledged SET_VRING_CALL on its own (the device's call fd is restored below).
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        frontend.setVringCall(queue, probe, true, "probe").get(10, TimeUnit.SECONDS);
                        call[i] = System.nanoTime() - t0;
                    }
                    // The same to an eventfd an event context watches: the back-end's write to the new call fd wakes it.
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        frontend.setVringCall(queue, watched, true, "probe").get(10, TimeUnit.SECONDS);
                        watchedCall[i] = System.nanoTime() - t0;
                    }
                    msix.mask(vector);     // the device re-installs its own call fds
                    msix.unmask(vector);
                    // Bare round trips back to back, for the same counts.
                    long bcpu0 = processCpuNanos();
                    long bswitches0 = ThreadSwitches.total();
                    long bwall0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        frontend.getFeatures().get(10, TimeUnit.SECONDS);
                    }
                    if (round == 1) {
                        System.out.printf("bare round trips back to back: this JVM used %.1f us of CPU and %.1f context switches per round"
                                + " trip (%.1f us wall)%n", (processCpuNanos() - bcpu0) / 1e3 / n,
                                (double) (ThreadSwitches.total() - bswitches0) / n, (System.nanoTime() - bwall0) / 1e3 / n);
                    }
                    // Back to back, as the benchmark does.
                    long cpu0 = processCpuNanos();
                    long switches0 = ThreadSwitches.total();
                    long wall0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        msix.mask(vector);
                        msix.unmask(vector);
                        pair[i] = System.nanoTime() - t0;
                    }
                    if (round == 1) {
                        System.out.printf("mask+unmask back to back: this JVM used %.1f us of CPU and %.1f context switches per pair"
                                + " (%.1f us wall)%n", (processCpuNanos() - cpu0) / 1e3 / n, (double) (ThreadSwitches.total() - switches0) / n,
                                (System.nanoTime() - wall0) / 1e3 / n);
                    }
                }
            }
            print("bare GET_FEATURES round trip", bare);
            print("acked SET_VRING_CALL, front-end only", call);
            print("acked SET_VRING_CALL, watched call fd", watchedCall);
            print("guest mask write", mask);
            print("guest unmask write", unmask);
            print("mask+unmask back to back", pair);
            System.out.printf("masked-notifier drain deliveries %d%n", vm.fsDevice.maskedDrainDeliveries());
            vm.checkHealthy();
        } finally {
            VirtiofsMachine.delete(dir);
        }
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    private static void print(String what, long[] nanos) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        System.out.printf("%-40s mean %8.1f us  median %8.1f  p10 %8.1f  p90 %8.1f  p99 %8.1f  max %8.1f%n", what,
                Arrays.stream(s).average().orElse(0) / 1e3, s[s.length / 2] / 1e3, s[s.length / 10] / 1e3,
                s[s.length * 9 / 10] / 1e3, s[s.length * 99 / 100] / 1e3, s[s.length - 1] / 1e3);
    }
}
