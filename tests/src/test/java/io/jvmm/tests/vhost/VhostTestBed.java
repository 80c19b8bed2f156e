package io.jvmm.tests.vhost;

import io.jvmm.chardev.SocketChardevSpec;
import io.jvmm.devices.rng.RngDevice;
import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.pci.PciFunction;
import io.jvmm.testkit.driver.rng.VirtioRngDriver;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.pci.VirtioPciDevice;
import io.jvmm.virtio.vhost.backend.BackendFaults;
import io.jvmm.virtio.vhost.backend.FillingDevice;
import io.jvmm.virtio.vhost.backend.VhostUserBackend;
import io.jvmm.virtio.vhost.frontend.VhostUserDevice;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceModel;
import io.jvmm.virtio.vhost.frontend.VhostUserDeviceOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A no-CPU machine with a vhost-user "rng-like" device (virtio type 4, served by the Java
 * back-end's {@link FillingDevice}, in a separate process or in this one) in the first slot and
 * an in-process virtio-rng after it (the "other device" that must keep working whatever the
 * back-end does), both probed by the guest's drivers.
 */
final class VhostTestBed implements AutoCloseable {
    static final long RAM = 64L << 20;
    static final Duration DRIVER_TIMEOUT = Duration.ofSeconds(10);
    /** The back-end's config space (as {@link io.jvmm.virtio.vhost.backend.VhostUserBackendMain} serves it). */
    static final byte[] CONFIG = {0, 1, 2, 3, 4, 5, 6, 7};
    static final VhostUserDeviceModel RNG_MODEL = new VhostUserDeviceModel(FillingDevice.DEVICE_TYPE, "vhost-user-rng", 0xff0000,
            1, 256, 0, null, 0);

    /**
     * @param separateProcess run the back-end as its own JVM (else on threads of this one)
     * @param syncVring       the device's x-sync-vring
     */
    record Options(boolean separateProcess, BackendFaults faults, boolean syncVring, Duration replyTimeout, VhostUserDeviceModel model,
                   boolean frontendListens) {
        static Options defaults() {
            // The product's reply timeout: tests whose subject is the timeout set their own.
            return new Options(true, BackendFaults.NONE, true, VhostUserDeviceOptions.DEFAULT_REPLY_TIMEOUT, RNG_MODEL, false);
        }

        Options inProcess() {
            return new Options(false, faults, syncVring, replyTimeout, model, frontendListens);
        }

        Options faults(BackendFaults f) {
            return new Options(separateProcess, f, syncVring, replyTimeout, model, frontendListens);
        }

        Options syncVring(boolean sync) {
            return new Options(separateProcess, faults, sync, replyTimeout, model, frontendListens);
        }

        Options replyTimeout(Duration t) {
            return new Options(separateProcess, faults, syncVring, t, model, frontendListens);
        }

        Options model(VhostUserDeviceModel m) {
            return new Options(separateProcess, faults, syncVring, replyTimeout, m, frontendListens);
        }

        /** The device listens (chardev server) and the back-end connects to it. */
        Options backendConnects() {
            return new Options(separateProcess, faults, syncVring, replyTimeout, model, true);
        }
    }

    final Path socket;
    final BackendProcess process;
    final VhostUserBackend inProcessBackend;
    final TestMachine machine;
    final VhostUserDevice vhost;
    final VirtioPciDevice vhostPci;
    final VirtioPciDevice otherPci;
    final Guest guest;
    final VirtioPciDriver driver;
    final VirtioRngDriver other;

    private VhostTestBed(Path socket, BackendProcess process, VhostUserBackend inProcessBackend, TestMachine machine,
                         VhostUserDevice vhost, VirtioPciDevice vhostPci, VirtioPciDevice otherPci) {
        this.socket = socket;
        this.process = process;
        this.inProcessBackend = inProcessBackend;
        this.machine = machine;
        this.vhost = vhost;
        this.vhostPci = vhostPci;
        this.otherPci = otherPci;
        this.guest = Guest.of(machine);
        List<PciFunction> functions = guest.enumerate();
        this.driver = probe(functions, vhostPci.slot());
        this.other = new VirtioRngDriver(probe(functions, otherPci.slot()));
    }

    private VirtioPciDriver probe(List<PciFunction> functions, int slot) {
        PciFunction fn = functions.stream().filter(f -> f.address().slot() == slot).findFirst()
                .orElseThrow(() -> new AssertionError("no function in slot " + slot + ": " + functions));
        VirtioPciDriver d = VirtioPciDriver.probe(guest, fn);
        d.setTimeout(DRIVER_TIMEOUT);
        return d;
    }

    static VhostTestBed create(Path dir, Options o) {
        Path socket = dir.resolve("vhost.sock");
        BackendProcess process = null;
        VhostUserBackend inProcess = null;
        TestMachine machine = null;
        try {
            int queues = o.model().queueCount();
            CompletableFuture<VhostUserBackend> connecting = null;
            if (o.separateProcess()) {
                process = BackendProcess.start(socket, "fill", queues, o.faults(), o.frontendListens());
            } else if (o.frontendListens()) {
                connecting = CompletableFuture.supplyAsync(() -> VhostUserBackend.startClient(socket, "fill",
                        new FillingDevice(queues, CONFIG), o.faults(), Duration.ofSeconds(30)));
            } else {
                inProcess = VhostUserBackend.startServer(socket, "fill", new FillingDevice(queues, CONFIG), o.faults());
            }
            machine = new TestMachine(RAM);
            machine.setWriteTimeout(Duration.ofSeconds(20));
            SocketChardevSpec chardev = (o.frontendListens() ? SocketChardevSpec.server("vhost0-chr", socket, true)
                    : SocketChardevSpec.client("vhost0-chr", socket)).withConnectTimeout(Duration.ofSeconds(30));
            VhostUserDeviceOptions options = VhostUserDeviceOptions.of("vhost0", chardev).withSyncVring(o.syncVring())
                    .withReplyTimeout(o.replyTimeout());
            VhostUserDevice vhost = VhostUserDevice.realize(options, o.model());
            if (connecting != null) {
                inProcess = connecting.join();
            }
            VirtioPciDevice vhostPci = machine.addVirtio(vhost);
            VirtioPciDevice otherPci = machine.addVirtio(new RngDevice("rng1"));
            return new VhostTestBed(socket, process, inProcess, machine, vhost, vhostPci, otherPci);
        } catch (RuntimeException | Error e) {
            closeAll(machine, inProcess, process);
            if (process != null) {
                e.addSuppressed(new AssertionError("back-end output:\n" + process.output()));
            }
            throw e;
        }
    }

    /** Back-end output (separate process) for assertion messages. */
    String backendOutput() {
        return process != null ? process.output() : "(in-process back-end)";
    }

    private static void closeAll(TestMachine machine, VhostUserBackend inProcess, BackendProcess process) {
        if (machine != null) {
            machine.close();
        }
        if (inProcess != null) {
            inProcess.close();
        }
        if (process != null) {
            process.close();
        }
    }

    @Override
    public void close() {
        closeAll(machine, inProcessBackend, process);
    }
}
