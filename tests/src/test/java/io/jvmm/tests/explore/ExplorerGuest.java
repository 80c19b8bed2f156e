package io.jvmm.tests.explore;

import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.CONFIG_MSIX_VECTOR;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.DEVICE_STATUS;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.DRIVER_FEATURE;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.DRIVER_FEATURE_SELECT;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.NO_VECTOR;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_DESC;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_DEVICE;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_DRIVER;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_ENABLE;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_MSIX_VECTOR;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_NOTIFY_OFF;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_SELECT;
import static io.jvmm.testkit.driver.virtio.VirtioCommonConfig.QUEUE_SIZE;
import static io.jvmm.testkit.driver.virtio.VirtioStatus.ACKNOWLEDGE;
import static io.jvmm.testkit.driver.virtio.VirtioStatus.DEVICE_NEEDS_RESET;
import static io.jvmm.testkit.driver.virtio.VirtioStatus.DRIVER;
import static io.jvmm.testkit.driver.virtio.VirtioStatus.DRIVER_OK;
import static io.jvmm.testkit.driver.virtio.VirtioStatus.FEATURES_OK;

import io.jvmm.pci.msix.MsiMessage;
import io.jvmm.pci.msix.RecordingInterruptSink;
import io.jvmm.testkit.driver.pci.MsixDriver;
import io.jvmm.testkit.driver.pci.PciAddress;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;

/**
 * The explorer's guest: a virtio driver for the vhost-user device, written at the register level
 * so that every guest-visible operation is one step of the run, on one of two vCPUs. vCPU 0 is
 * the control path (initialisation with DRIVER_OK, late queue_enable, queue vector changes,
 * device reset, MSI-X enable/disable and function mask, masking vector 0, reading the ISR); vCPU 1
 * is the data path (requests added and notified, used entries collected, masking the queue
 * vectors), as Linux's interrupt-affinity changes mask an entry from whichever CPU runs them. A
 * vCPU whose write has not completed (rule 1) runs nothing else until it has; the other vCPU goes
 * on, so a request may be notified while DRIVER_OK or a late queue_enable is still being written
 * (a driver whose other CPU starts using a queue as soon as it was made ready).
 *
 * <p>Register offsets and status bits: the test kit's guest-side constants ({@code VirtioCommonConfig},
 * {@code VirtioStatus}).
 */
final class ExplorerGuest {
    static final int MSIX_ENABLE = 1 << 15;
    static final int MSIX_FUNCTION_MASK = 1 << 14;
    static final long RING_BASE = 0x20_0000;
    static final long BUFFER_BASE = 0x30_0000;
    /** Steps a write may stay incomplete before it counts as a vCPU held past its bound. */
    static final long WRITE_BOUND_STEPS = 5_000;

    enum Phase { INITIALIZING, LIVE, RESETTING, DEAD }

    /** A guest operation: what it is (for the trace) and what it does; returns the completion of its last write. */
    private record Op(String what, java.util.function.Supplier<CompletableFuture<Void>> action) {
    }

    private final Scheduler scheduler;
    private final ExplorerCpu cpu;
    private final Random random;
    private final Trace trace;
    private final RecordingInterruptSink sink;
    private final VirtioPciDriver probed;
    private final PciFunction fn;
    private final MsixDriver msix;
    private final long common;
    private final long isr;
    private final VirtioPciLayout layout;
    private final int queues;
    private final int vectors;
    private final int lateQueue;
    private final GuestRing[] rings;
    final Vcpu control;
    final Vcpu data;

    // The guest's view.
    private Phase phase = Phase.INITIALIZING;
    private final List<Op> initPlan = new ArrayList<>();
    private final boolean[] setUp;
    private final boolean[] enabled;
    private final long[] notify;
    private final int[] queueVector;
    /** The vectors a queue has had since it was last covered: its owed interrupt may come, or be pending, on any of them. */
    private final long[] owingVectors;
    /**
     * The vector a queue is being moved away from while that write is held: until the back-end
     * acknowledged the switch it may still signal there, and that interrupt covers the queue.
     */
    private final long[] leavingVector;
    /** Used index up to which the guest is owed no more interrupt (an interrupt, the ISR or a reset covered it). */
    private final int[] covered;
    /** Used index when the last reset completed: the device must not move it before the ring is set up again. */
    private final int[] usedAtReset;
    private final boolean[] vectorMasked;
    private boolean msixEnabled = true;
    /** The guest stopped both vCPUs until the machine is quiescent, to check the invariants there. */
    private boolean waitingForQuiescence;
    private final double checkpointChance;
    private boolean functionMasked;
    private boolean driverOkIssued;
    private boolean driverOkCompleted;
    private final long[] seenCount;
    private long seenTotal;
    private int nextRequest;
    int submitted;
    int completed;
    int abandoned;
    int resets;
    int opsDone;
    private final boolean backendFaultPossible;

    ExplorerGuest(Scheduler scheduler, ExplorerCpu cpu, Random random, Trace trace, RecordingInterruptSink sink,
                  VirtioPciDriver probed, int lateQueue, int controlOps, int dataOps, double checkpointChance,
                  boolean backendFaultPossible) {
        this.checkpointChance = checkpointChance;
        this.scheduler = scheduler;
        this.cpu = cpu;
        this.random = random;
        this.trace = trace;
        this.sink = sink;
        this.probed = probed;
        this.fn = probed.function();
        this.msix = probed.msix();
        this.layout = probed.layout();
        this.common = layout.common().address();
        this.isr = layout.isr().address();
        this.queues = probed.numQueues();
        this.vectors = msix.vectorCount();
        this.lateQueue = lateQueue;
        this.backendFaultPossible = backendFaultPossible;
        this.rings = new GuestRing[queues];
        for (int q = 0; q < queues; q++) {
            rings[q] = new GuestRing(cpu.memory(), q, RING_BASE + q * 0x4000L, BUFFER_BASE + q * 0x1_0000L);
        }
        this.setUp = new boolean[queues];
        this.enabled = new boolean[queues];
        this.notify = new long[queues];
        this.queueVector = new int[queues];
        this.owingVectors = new long[queues];
        this.leavingVector = new long[queues];
        this.covered = new int[queues];
        this.usedAtReset = new int[queues];
        java.util.Arrays.fill(queueVector, NO_VECTOR);
        this.vectorMasked = new boolean[vectors];
        this.seenCount = new long[vectors];
        this.control = new Vcpu(0, controlOps);
        this.data = new Vcpu(1, dataOps);
        planInitialisation();
        sample();
    }

    // ---------------------------------------------------------------- vCPUs

    /** A vCPU: runs one guest operation per step, unless its last write has not completed or it polls for a reset. */
    final class Vcpu implements Scheduler.Actor {
        final int id;
        int opsLeft;
        private CompletableFuture<Void> pending;
        private String pendingWhat;
        private BooleanSupplier waitingFor;
        private String waitingWhat;
        private Runnable whenSeen;
        private long waitingSince;

        Vcpu(int id, int ops) {
            this.id = id;
            this.opsLeft = ops;
        }

        @Override
        public String name() {
            return "vCPU" + id;
        }

        @Override
        public void steps(List<Scheduler.Step> out) {
            if (waitingForQuiescence) {
                return;
            }
            if (pending != null) {
                if (!pending.isDone()) {
                    return;
                }
                pending = null;
            }
            if (waitingFor != null) {
                if (waitingFor.getAsBoolean()) {
                    out.add(new Scheduler.Step(this, "sees " + waitingWhat, () -> {
                        Runnable r = whenSeen;
                        waitingFor = null;
                        whenSeen = null;
                        r.run();
                    }));
                }
                return;
            }
            if (opsLeft > 0) {
                out.add(new Scheduler.Step(this, "guest operation", this::operate));
            }
        }

        private void operate() {
            opsLeft--;
            opsDone++;
            Op op = id == 0 ? controlOp() : dataOp();
            trace.note(name() + ": " + op.what());
            CompletableFuture<Void> f = op.action().get();
            if (f != null && f != io.jvmm.pci.dispatch.IoCompletion.DONE) {
                hold(f, op.what());
            }
            if (random.nextDouble() < checkpointChance) {
                trace.note(name() + ": the guest waits until nothing happens any more (a checkpoint)");
                waitingForQuiescence = true;
            }
        }

        private void hold(CompletableFuture<Void> f, String what) {
            long since = scheduler.steps();
            pending = f;
            pendingWhat = what;
            f.whenComplete((ok, error) -> {
                long held = scheduler.steps() - since;
                if (error != null) {
                    scheduler.violation(name() + ": the write of '" + what + "' failed: " + error);
                }
                if (held > WRITE_BOUND_STEPS) {
                    scheduler.violation(name() + ": the write of '" + what + "' was held " + held + " steps (bound "
                            + WRITE_BOUND_STEPS + ")");
                }
            });
        }

        /** A write in the middle of an operation that must complete before the next one is issued. */
        void completeNow(CompletableFuture<Void> f, String what) {
            if (!f.isDone()) {
                scheduler.waitFor(f::isDone, what, this);
            }
        }

        void waitUntil(BooleanSupplier condition, String what, Runnable then) {
            waitingFor = condition;
            waitingWhat = what;
            whenSeen = then;
            waitingSince = scheduler.steps();
        }

        /** What this vCPU still waits for at quiescence, or null. */
        String stuck() {
            if (pending != null && !pending.isDone()) {
                return name() + ": its write of '" + pendingWhat + "' never completed";
            }
            if (waitingFor != null && !waitingFor.getAsBoolean()) {
                return name() + ": waited from step " + waitingSince + " for " + waitingWhat + ", which never came (status 0x"
                        + Integer.toHexString(status()) + ")";
            }
            return null;
        }
    }

    // ---------------------------------------------------------------- registers

    int status() {
        return (int) cpu.readMmio(common + DEVICE_STATUS, 1);
    }

    private CompletableFuture<Void> writeCommon(int field, int size, long value) {
        return cpu.mmio(common + field, size, value);
    }

    /** A write that must not hold the vCPU (plain register state). */
    private void writeCommonNow(Vcpu v, int field, int size, long value) {
        v.completeNow(writeCommon(field, size, value), "common config write at 0x" + Integer.toHexString(field));
    }

    private MsiMessage message(int vector) {
        return vector == 0 ? probed.configMessage() : probed.queueMessage(vector - 1);
    }

    private long vectorControl(int vector) {
        return msix.tableAddress() + 16L * vector + 12;
    }

    private CompletableFuture<Void> setVectorMask(int vector, boolean masked) {
        long control = vectorControl(vector);
        long value = cpu.readMmio(control, 4);
        vectorMasked[vector] = masked;
        return cpu.mmio(control, 4, masked ? value | 1 : value & ~1L);
    }

    /** MSI-X message control through configuration mechanism #1 (the address latch, then the data port). */
    private CompletableFuture<Void> writeMessageControl(Vcpu v, int bits) {
        int offset = msix.capabilityOffset() + 2;
        PciAddress a = fn.address();
        int address = 0x8000_0000 | a.bus() << 16 | a.slot() << 11 | a.function() << 8 | (offset & 0xFC);
        v.completeNow(cpu.pio(0xCF8, 4, Integer.toUnsignedLong(address)), "PCI config address");
        int current = cpu.inw(0xCFC + (offset & 2));
        int value = (current & ~(MSIX_ENABLE | MSIX_FUNCTION_MASK)) | bits;
        return cpu.pio(0xCFC + (offset & 2), 2, value);
    }

    private int msixBits() {
        return (msixEnabled ? MSIX_ENABLE : 0) | (functionMasked ? MSIX_FUNCTION_MASK : 0);
    }

    // ---------------------------------------------------------------- initialisation

    private void planInitialisation() {
        initPlan.clear();
        initPlan.add(new Op("status ACKNOWLEDGE", () -> writeCommon(DEVICE_STATUS, 1, ACKNOWLEDGE)));
        initPlan.add(new Op("status DRIVER", () -> writeCommon(DEVICE_STATUS, 1, ACKNOWLEDGE | DRIVER)));
        initPlan.add(new Op("driver features VERSION_1", () -> {
            writeCommonNow(control, DRIVER_FEATURE_SELECT, 4, 0);
            writeCommonNow(control, DRIVER_FEATURE, 4, 0);
            writeCommonNow(control, DRIVER_FEATURE_SELECT, 4, 1);
            return writeCommon(DRIVER_FEATURE, 4, 1);   // bit 32: VIRTIO_F_VERSION_1
        }));
        initPlan.add(new Op("status FEATURES_OK", () -> {
            writeCommonNow(control, DEVICE_STATUS, 1, ACKNOWLEDGE | DRIVER | FEATURES_OK);
            if ((status() & FEATURES_OK) == 0) {
                trace.note("FEATURES_OK refused: the guest gives the device up");
                if (!backendFaultPossible) {
                    scheduler.violation("FEATURES_OK refused though the back-end did nothing wrong");
                }
                phase = Phase.DEAD;
                initPlan.clear();
            }
            return null;
        }));
        initPlan.add(new Op("config vector 0", () -> writeCommon(CONFIG_MSIX_VECTOR, 2, 0)));
        for (int q = 0; q < queues; q++) {
            if (q != lateQueue) {
                int queue = q;
                initPlan.add(new Op("set up queue " + q, () -> setUpQueue(control, queue)));
                initPlan.add(new Op("queue_enable " + q, () -> enableQueue(queue)));
            }
        }
        initPlan.add(new Op("status DRIVER_OK", () -> {
            driverOkIssued = true;
            phase = Phase.LIVE;
            CompletableFuture<Void> f = writeCommon(DEVICE_STATUS, 1, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
            f.whenComplete((ok, e) -> driverOkCompleted = true);
            return f;
        }));
    }

    private CompletableFuture<Void> setUpQueue(Vcpu v, int q) {
        GuestRing ring = rings[q];
        int moved = ring.usedIdx();
        if (moved != usedAtReset[q]) {
            scheduler.violation("queue " + q + ": the device moved the used index from " + usedAtReset[q] + " to " + moved
                    + " after its reset had completed (a request completed after the reset that abandoned it)");
        }
        ring.setUp();
        usedAtReset[q] = 0;
        writeCommonNow(v, QUEUE_SELECT, 2, q);
        writeCommonNow(v, QUEUE_SIZE, 2, GuestRing.SIZE);
        int vector = q + 1;
        writeCommonNow(v, QUEUE_MSIX_VECTOR, 2, vector);
        queueVector[q] = vector;
        cover(q);
        writeCommonNow(v, QUEUE_DESC, 4, ring.layout.desc() & 0xFFFF_FFFFL);
        writeCommonNow(v, QUEUE_DESC + 4, 4, ring.layout.desc() >>> 32);
        writeCommonNow(v, QUEUE_DRIVER, 4, ring.layout.avail() & 0xFFFF_FFFFL);
        writeCommonNow(v, QUEUE_DRIVER + 4, 4, ring.layout.avail() >>> 32);
        writeCommonNow(v, QUEUE_DEVICE, 4, ring.layout.used() & 0xFFFF_FFFFL);
        writeCommonNow(v, QUEUE_DEVICE + 4, 4, ring.layout.used() >>> 32);
        int notifyOff = (int) cpu.readMmio(common + QUEUE_NOTIFY_OFF, 2);
        notify[q] = layout.notifyAddress(notifyOff, "queue " + q);
        setUp[q] = true;
        return null;
    }

    private CompletableFuture<Void> enableQueue(int q) {
        enabled[q] = true;   // from here the data vCPU may use it, while the write may still be held
        writeCommonNow(control, QUEUE_SELECT, 2, q);
        return writeCommon(QUEUE_ENABLE, 2, 1);
    }

    // ---------------------------------------------------------------- operations

    private Op controlOp() {
        if (phase == Phase.INITIALIZING && !initPlan.isEmpty()) {
            return initPlan.remove(0);
        }
        List<Op> ops = new ArrayList<>();
        List<Integer> weights = new ArrayList<>();
        if (phase == Phase.LIVE || phase == Phase.DEAD) {
            int v = random.nextInt(vectors);
            add(ops, weights, 4, new Op((vectorMasked[v] ? "unmask" : "mask") + " vector " + v,
                    () -> setVectorMask(v, !vectorMasked[v])));
            if (msixEnabled) {
                add(ops, weights, 2, new Op(functionMasked ? "function unmask" : "function mask", () -> {
                    functionMasked = !functionMasked;
                    return writeMessageControl(control, msixBits());
                }));
            }
            add(ops, weights, 1, new Op(msixEnabled ? "MSI-X disable" : "MSI-X enable", () -> {
                msixEnabled = !msixEnabled;
                return writeMessageControl(control, msixBits());
            }));
            add(ops, weights, 1, new Op("read ISR", () -> {
                readIsr();
                return null;
            }));
            add(ops, weights, 1, new Op("reset", this::reset));
        }
        if (phase == Phase.LIVE) {
            for (int q = 0; q < queues; q++) {
                int queue = q;
                if (setUp[q]) {
                    int target = pickVector(queueVector[q]);
                    add(ops, weights, 2, new Op("queue " + q + " to vector " + (target == NO_VECTOR ? "none" : target),
                            () -> moveVector(queue, target)));
                } else if (q == lateQueue) {
                    add(ops, weights, 3, new Op("late set-up and queue_enable " + q, () -> {
                        setUpQueue(control, queue);
                        return enableQueue(queue);
                    }));
                }
            }
        }
        if (ops.isEmpty()) {
            return new Op("idle", () -> null);
        }
        return choose(ops, weights);
    }

    private Op dataOp() {
        List<Op> ops = new ArrayList<>();
        List<Integer> weights = new ArrayList<>();
        if (driverOkIssued && phase == Phase.LIVE) {
            for (int q = 0; q < queues; q++) {
                int queue = q;
                if (enabled[q] && !rings[q].full()) {
                    add(ops, weights, 6, new Op("request " + nextRequest + " on queue " + q, () -> submit(queue)));
                }
            }
            add(ops, weights, 2, new Op("collect used entries", () -> {
                collect();
                return null;
            }));
        }
        if (vectors > 1) {
            int v = 1 + random.nextInt(vectors - 1);
            add(ops, weights, 3, new Op((vectorMasked[v] ? "unmask" : "mask") + " vector " + v,
                    () -> setVectorMask(v, !vectorMasked[v])));
        }
        if (ops.isEmpty()) {
            return new Op("idle", () -> null);
        }
        return choose(ops, weights);
    }

    private static void add(List<Op> ops, List<Integer> weights, int weight, Op op) {
        ops.add(op);
        weights.add(weight);
    }

    private Op choose(List<Op> ops, List<Integer> weights) {
        int total = 0;
        for (int w : weights) {
            total += w;
        }
        int r = random.nextInt(total);
        for (int i = 0; i < ops.size(); i++) {
            r -= weights.get(i);
            if (r < 0) {
                return ops.get(i);
            }
        }
        throw new AssertionError();
    }

    private int pickVector(int current) {
        while (true) {
            int v = random.nextInt(vectors + 1);
            int target = v == vectors ? NO_VECTOR : v;
            if (target != current) {
                return target;
            }
        }
    }

    private CompletableFuture<Void> submit(int q) {
        rings[q].add(nextRequest++);
        submitted++;
        return cpu.mmio(notify[q], 2, q);
    }

    private CompletableFuture<Void> moveVector(int q, int target) {
        writeCommonNow(control, QUEUE_SELECT, 2, q);
        int old = queueVector[q];
        setVector(q, target);
        leavingVector[q] = old == NO_VECTOR ? 0 : 1L << old;
        CompletableFuture<Void> f = writeCommon(QUEUE_MSIX_VECTOR, 2, target);
        int generation = resets;
        f.whenComplete((ok, e) -> {
            if (resets == generation && setUp[q]) {
                leavingVector[q] = 0;
                if (old == NO_VECTOR) {
                    // Nothing is owed for what completed while the queue had no vector: until the
                    // write completes, a completion may still be ordered before the change.
                    cover(q);
                }
            }
        });
        return f;
    }

    private CompletableFuture<Void> reset() {
        phase = Phase.RESETTING;
        driverOkIssued = false;
        driverOkCompleted = false;
        java.util.Arrays.fill(enabled, false);
        CompletableFuture<Void> f = writeCommon(DEVICE_STATUS, 1, 0);
        control.waitUntil(() -> status() == 0, "device status 0 after the reset", () -> {
            resets++;
            for (int q = 0; q < queues; q++) {
                if (setUp[q]) {
                    abandoned += rings[q].abandon().size();
                    usedAtReset[q] = rings[q].usedIdx();
                    covered[q] = usedAtReset[q];
                }
                setUp[q] = false;
                queueVector[q] = NO_VECTOR;
                owingVectors[q] = 0;
                leavingVector[q] = 0;
            }
            phase = Phase.INITIALIZING;
            planInitialisation();
        });
        return f;
    }

    /** Reads (and so acknowledges) the ISR; its queue bit covers every used entry so far. */
    private int readIsr() {
        int bits = (int) cpu.readMmio(isr, 1);
        if ((bits & 1) != 0) {
            for (int q = 0; q < queues; q++) {
                if (setUp[q]) {
                    cover(q);
                }
            }
        }
        return bits;
    }

    private void collect() {
        for (int q = 0; q < queues; q++) {
            if (setUp[q]) {
                completed += rings[q].takeUsed(scheduler::violation).size();
            }
        }
    }

    // ---------------------------------------------------------------- interrupts

    /** Every used entry of queue {@code q} so far has been signalled: nothing more is owed. */
    private void cover(int q) {
        covered[q] = rings[q].usedIdx();
        owingVectors[q] = (queueVector[q] == NO_VECTOR ? 0 : 1L << queueVector[q]) | leavingVector[q];
    }

    private void setVector(int q, int vector) {
        queueVector[q] = vector;
        if (vector != NO_VECTOR) {
            owingVectors[q] |= 1L << vector;
        }
    }

    /** After every step: an interrupt delivered on a vector covers the used entries of its queues so far. */
    void sample() {
        long total = sink.total();
        if (total == seenTotal) {
            return;
        }
        seenTotal = total;
        for (int v = 0; v < vectors; v++) {
            long c = sink.count(message(v));
            if (c != seenCount[v]) {
                seenCount[v] = c;
                for (int q = 0; q < queues; q++) {
                    if (setUp[q] && (owingVectors[q] & 1L << v) != 0) {
                        cover(q);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- the checks, once nothing can run

    /**
     * The machine is quiescent: checks the invariants, as a guest that waited for everything it
     * asked would find them.
     *
     * @return whether the guest goes on (it has operations left and nothing was found)
     */
    boolean atQuiescence(boolean backendFailed, String lastFault) {
        int before = scheduler.violations().size();
        check(backendFailed, lastFault);
        waitingForQuiescence = false;
        return scheduler.violations().size() == before && (control.opsLeft > 0 || data.opsLeft > 0);
    }

    /**
     * The invariants, checked once the run is quiescent.
     *
     * @param backendFailed whether the back-end went away during the run (a fault the run injected)
     */
    void check(boolean backendFailed, String lastFault) {
        for (Vcpu v : List.of(control, data)) {
            String s = v.stuck();
            if (s != null) {
                scheduler.violation(s + " (device status " + describeStatus() + ")");
            }
        }
        int status = status();
        boolean broken = (status & DEVICE_NEEDS_RESET) != 0;
        if (broken && !backendFailed) {
            scheduler.violation("the device needs a reset though its back-end did nothing wrong (" + lastFault + ")");
        }
        int isrBits = readIsr();   // reading it acknowledges it: what it covers is covered from now on
        for (int q = 0; q < queues; q++) {
            if (!setUp[q]) {
                continue;
            }
            GuestRing ring = rings[q];
            completed += ring.takeUsed(scheduler::violation).size();
            if (phase == Phase.LIVE && driverOkCompleted && enabled[q] && !broken && !backendFailed && ring.inFlight() > 0) {
                scheduler.violation("queue " + q + ": " + ring.inFlight() + " request(s) never completed (avail index "
                        + ring.availIdx() + ", used index " + ring.usedIdx() + ")");
            }
            int used = ring.usedIdx();
            int vector = queueVector[q];
            // Once the guest has written the reset it expects nothing more of the old rings.
            if (used != covered[q] && vector != NO_VECTOR && (isrBits & 1) == 0 && phase != Phase.RESETTING) {
                // A pending bit of a vector the queue had since counts too: it is delivered there on unmask.
                boolean pending = false;
                for (int v = 0; v < vectors; v++) {
                    pending |= (owingVectors[q] & 1L << v) != 0 && msix.isPending(v);
                }
                if (!pending) {
                    scheduler.violation(String.format("queue %d: used entries %d..%d were followed by no interrupt, no pending bit "
                                    + "and no ISR bit (vector %d: masked %s, function masked %s, MSI-X %s)", q, covered[q], used - 1,
                            vector, msix.isMasked(vector), msix.isFunctionMasked(), msix.isEnabled() ? "enabled" : "disabled"));
                }
            }
        }
    }

    String describeStatus() {
        return "0x" + Integer.toHexString(status());
    }

    String summary() {
        return String.format("%d requests, %d completed, %d abandoned by %d resets, %d guest operations", submitted, completed,
                abandoned, resets, opsDone);
    }
}
