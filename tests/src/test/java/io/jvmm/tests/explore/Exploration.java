package io.jvmm.tests.explore;

import io.jvmm.chardev.EventContext;
import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.chardev.UnixSocketChannel;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.vhost.ProtocolFeatures;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import io.jvmm.virtio.vhost.frontend.ExplorerMutations;
import io.jvmm.virtio.vhost.frontend.VhostUserConnection;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import io.jvmm.virtio.vhost.frontend.VhostUserMetrics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * One run of the control-plane explorer for one seed: a no-CPU machine with a vhost-user device
 * (the product's {@link VhostUserDevice} behind the product's virtio-pci transport and MSI-X) whose
 * back-end is the product's Java back-end library ({@link VhostUserBackend} serving a
 * {@link FillingDevice}) over a socketpair, every event context of both under one
 * {@link Scheduler}; the {@link ExplorerGuest}'s two vCPUs drive it; then the invariants are
 * checked once nothing can run any more.
 *
 * <p>Everything that varies is drawn from the seed: the back-end's behaviour (a delay before each
 * message, a delayed call-fd switch, a delayed enable, REPLY_ACK hidden so acknowledgements are
 * GET_FEATURES round trips, the connection closed at its N-th message or dropped between two
 * steps), the device's queues (one, or two with the second enabled late), the guest's program and
 * the scheduler's choices.
 */
final class Exploration {
    static final long RAM = 8L << 20;
    /** Messages of the handshake, with REPLY_ACK hidden (SET_OWNER is then acknowledged by a GET_FEATURES). */
    private static final int HANDSHAKE_MESSAGES = 7;

    /** What a seed chose for its world; printed with a failure. */
    record World(int queues, int lateQueue, boolean hideReplyAck, boolean messageDelay, boolean callSwitchDelay,
                  boolean enableDelay, int closeAtMessage, int dropAfterOps, int controlOps, int dataOps, double checkpointChance,
                  double focus, double churn, int pauseMax) {

        static World draw(Random r) {
            int queues = 1 + r.nextInt(2);
            int late = queues == 2 && r.nextBoolean() ? 1 : -1;
            boolean fault = r.nextInt(100) < 20;
            boolean closeAt = fault && r.nextBoolean();
            return new World(queues, late, r.nextInt(100) < 30, r.nextBoolean(), r.nextBoolean(), r.nextInt(100) < 30,
                    closeAt ? HANDSHAKE_MESSAGES + 1 + r.nextInt(60) : 0, fault && !closeAt ? r.nextInt(40) : -1,
                    8 + r.nextInt(25), 8 + r.nextInt(35), 0.02 + r.nextDouble() * 0.5, r.nextDouble() * 0.9, r.nextDouble() * 0.3,
                    2 + r.nextInt(12));
        }

        BackendFaults faults(Mutation mutation) {
            Duration d = Duration.ofMillis(1);   // any non-zero delay: the scheduler decides how long it lasts
            BackendFaults f = BackendFaults.NONE;
            if (messageDelay) {
                f = f.withMessageDelay(d);
            }
            if (callSwitchDelay) {
                f = f.withCallSwitchDelay(d);
            }
            if (enableDelay) {
                f = f.withEnableDelay(d);
            }
            if (closeAtMessage > 0) {
                f = f.withCloseAtMessage(closeAtMessage);
            }
            if (hideReplyAck) {
                f = f.withHiddenProtocolFeatures(ProtocolFeatures.bit(ProtocolFeatures.REPLY_ACK));
            }
            return mutation.backendFaults(f);
        }

        boolean backendFaultPossible() {
            return closeAtMessage > 0 || dropAfterOps >= 0;
        }
    }

    /** What one run found. */
    record Outcome(long seed, Mutation mutation, World world, List<String> violations, long steps, long fingerprint,
                   List<String> traceTail, List<String> fullTrace, String summary, long nanos) {
        boolean failed() {
            return !violations.isEmpty();
        }

        String report() {
            StringBuilder b = new StringBuilder();
            b.append("seed ").append(seed).append(mutation == Mutation.NONE ? "" : " with mutation " + mutation)
                    .append(": ").append(violations.size()).append(" violation(s) after ").append(steps).append(" steps\n");
            for (String v : violations) {
                b.append("  * ").append(v).append('\n');
            }
            b.append("  world: ").append(world).append('\n');
            b.append("  guest: ").append(summary).append('\n');
            b.append("  replay: scripts/explore --seed ").append(seed)
                    .append(mutation == Mutation.NONE ? "" : " --mutation " + mutation.option()).append('\n');
            b.append("  last steps:\n");
            for (String line : traceTail) {
                b.append("    ").append(line).append('\n');
            }
            return b.toString();
        }
    }

    private Exploration() {
    }

    static Outcome run(long seed, Mutation mutation) {
        return run(seed, mutation, false);
    }

    /** The first of seeds {@code from}..{@code from + count - 1} that finds a violation, or null. */
    static Outcome firstFailing(Mutation mutation, long from, long count) {
        for (long seed = from; seed < from + count; seed++) {
            Outcome o = run(seed, mutation);
            if (o.failed()) {
                return o;
            }
        }
        return null;
    }

    /** Runs one seed; {@code fullTrace} keeps every step (for a replay that prints it). */
    static Outcome run(long seed, Mutation mutation, boolean fullTrace) {
        long start = System.nanoTime();
        Random random = new Random(seed);
        World world = World.draw(random);
        Trace trace = new Trace(80, fullTrace);
        Scheduler scheduler = new Scheduler(random, world.focus(), world.churn(), world.pauseMax(), 200_000, trace);
        trace.note("seed " + seed + ", " + world + (mutation == Mutation.NONE ? "" : ", mutation " + mutation));
        TestMachine machine = null;
        VhostUserBackend backend = null;
        EventContext requests = null;
        UnixSocketChannel[] pair = null;
        String summary = "(not started)";
        boolean[] dropped = new boolean[1];
        try (EventContext.ControlScope scope = EventContext.controlledBy(scheduler)) {
            try {
                machine = new TestMachine(RAM);
                pair = UnixSocketChannel.pair();
                backend = new VhostUserBackend("fill", new FillingDevice(world.queues(), new byte[8]), world.faults(mutation));
                requests = EventContext.start("back-end requests");
                backend.serveOn(requests, pair[1]);
                VhostUserDeviceOptions options = VhostUserDeviceOptions.of("vhost0",
                        SocketChardevSpec.client("vhost0-chr", Path.of("/explorer/socketpair")));
                VhostUserConnection connection = VhostUserConnection.adopt("vhost-user back-end of vhost0 (explorer socketpair)",
                        pair[0], options.replyTimeout());
                pair = null;   // the connection and the back-end own the two ends now
                VhostUserDeviceModel model = new VhostUserDeviceModel(FillingDevice.DEVICE_TYPE, "vhost-user-explorer", 0xff0000,
                        world.queues(), 256, 0, null, 0);
                VhostUserDevice device = VhostUserDevice.realize(options, model, VhostUserMetrics.unregistered("vhost0"), connection);
                mutation.apply(device);
                VirtioPciDevice pci = machine.addVirtio(device);

                ExplorerCpu cpu = new ExplorerCpu(machine, scheduler);
                Guest guest = new Guest(cpu, machine.interrupts(), RAM);
                PciFunction fn = guest.enumerate().stream().filter(VirtioPciDriver::isVirtio).findFirst().orElseThrow();
                VirtioPciDriver probed = VirtioPciDriver.probe(guest, fn);
                ExplorerGuest g = new ExplorerGuest(scheduler, cpu, random, trace, machine.interrupts(), probed, world.lateQueue(),
                        world.controlOps(), world.dataOps(), world.checkpointChance(), world.backendFaultPossible());
                scheduler.add(g.control);
                scheduler.add(g.data);
                VhostUserBackend b = backend;
                if (world.dropAfterOps() >= 0) {
                    scheduler.add(new Scheduler.Actor() {
                        @Override
                        public String name() {
                            return "environment";
                        }

                        @Override
                        public void steps(List<Scheduler.Step> out) {
                            if (!dropped[0] && g.opsDone >= world.dropAfterOps()) {
                                out.add(new Scheduler.Step(this, "the back-end drops the connection", () -> {
                                    dropped[0] = true;
                                    b.close();
                                }));
                            }
                        }
                    });
                }
                scheduler.afterEachStep(g::sample);
                trace.note("machine up: " + g.describeStatus());
                VhostUserBackend served = backend;
                scheduler.runToQuiescence(() -> {
                    String end = served.endReason();
                    boolean backendFailed = dropped[0] || end != null;
                    if (end != null && !dropped[0] && !end.startsWith("fault injection")) {
                        scheduler.violation("the back-end's session ended: " + end);
                        return false;
                    }
                    return g.atQuiescence(backendFailed, pci.lastFault());
                });
                summary = g.summary();
            } catch (RuntimeException | AssertionError e) {
                scheduler.violation("the run failed: " + e);
                summary = "run failed: " + stackTop(e);
            } finally {
                scheduler.closing();
                close(machine, backend, requests, pair, scheduler);
            }
        }
        return new Outcome(seed, mutation, world, List.copyOf(scheduler.violations()), scheduler.steps(), trace.fingerprint(),
                trace.tail(), trace.all(), summary, System.nanoTime() - start);
    }

    private static void close(TestMachine machine, VhostUserBackend backend, EventContext requests, UnixSocketChannel[] pair,
                              Scheduler scheduler) {
        List<Throwable> problems = new ArrayList<>();
        try {
            if (machine != null) {
                machine.close();
            }
        } catch (RuntimeException e) {
            problems.add(e);
        }
        try {
            if (backend != null) {
                backend.close();
            }
        } catch (RuntimeException e) {
            problems.add(e);
        }
        try {
            if (requests != null) {
                requests.close();   // the run's own context (the back-end is served on it, but does not own it)
            }
        } catch (RuntimeException e) {
            problems.add(e);
        }
        if (pair != null) {
            pair[0].close();
            pair[1].close();
        }
        for (Throwable t : problems) {
            scheduler.violation("closing the run failed: " + t);
        }
    }

    private static String stackTop(Throwable e) {
        StackTraceElement[] st = e.getStackTrace();
        return e + (st.length > 0 ? " at " + st[0] : "");
    }
}
