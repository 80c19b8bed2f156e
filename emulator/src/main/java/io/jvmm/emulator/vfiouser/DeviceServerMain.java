package io.jvmm.emulator.vfiouser;

import io.jvmm.emulator.cli.JvmmCommand;
import io.jvmm.emulator.config.DevicePlan;
import io.jvmm.emulator.config.MachineConfig;
import io.jvmm.emulator.config.UserError;
import io.jvmm.emulator.machine.DeviceBuilder;
import io.jvmm.emulator.machine.ExitStatus;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code jvmm --vfio-user-socket PATH -device ...}: builds the PCI devices the command line
 * describes and serves each on its own vfio-user socket until the process is told to stop
 * (SIGTERM, SIGINT). The i-th socket serves the i-th PCI device; with a single socket and several
 * devices, the others get {@code PATH-<device id>}. A vhost-user device (vhost-user-fs-pci with its
 * -chardev) connects to its back-end here, before its socket is served (rule 6).
 */
public final class DeviceServerMain {
    private static final Logger log = LoggerFactory.getLogger(DeviceServerMain.class);

    private DeviceServerMain() {
    }

    public static int run(JvmmCommand command, PrintStream err) {
        List<ServedDevice> devices = new ArrayList<>();
        List<VfioUserServer> servers = new ArrayList<>();
        try {
            MachineConfig config = command.toDeviceServerConfig();
            List<DevicePlan> plans = config.devices().stream().filter(p -> !(p instanceof DevicePlan.DebugExit)).toList();
            if (plans.isEmpty()) {
                throw new UserError("--vfio-user-socket: no PCI -device to serve (e.g. -device virtio-rng-pci)");
            }
            List<Path> sockets = socketsFor(command.vfioUserSockets(), plans);
            for (int i = 0; i < plans.size(); i++) {
                DevicePlan plan = plans.get(i);
                ServedDevice device = ServedDevice.virtio(notifiers -> DeviceBuilder.virtio(plan, notifiers));
                devices.add(device);
                servers.add(VfioUserServer.start(sockets.get(i), device));
                err.println("jvmm: serving " + plans.get(i).driver() + " " + plans.get(i).id() + " over vfio-user on " + sockets.get(i));
            }
        } catch (UserError e) {
            stop(servers, devices);
            err.println("jvmm: " + e.getMessage());
            return ExitStatus.USER_ERROR;
        } catch (RuntimeException e) {
            stop(servers, devices);
            err.println("jvmm: cannot serve the devices: " + e.getMessage());
            return ExitStatus.HOST_ERROR;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            log.info("stopping the vfio-user servers");
            stop(servers, devices);
            stopped.countDown();
        }, "vfio-user-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            stopped.await();
        } catch (InterruptedException e) {
            // Told to stop by the thread that runs us (a test, an embedding program): stop with
            // the interrupt cleared, so the servers' and devices' joins really wait, then restore it.
            Runtime.getRuntime().removeShutdownHook(hook);
            stop(servers, devices);
            Thread.currentThread().interrupt();
        }
        return ExitStatus.OK;
    }

    static List<Path> socketsFor(List<Path> given, List<DevicePlan> plans) {
        if (given.size() == plans.size()) {
            return given;
        }
        if (given.size() == 1) {
            List<Path> sockets = new ArrayList<>();
            sockets.add(given.get(0));
            for (int i = 1; i < plans.size(); i++) {
                sockets.add(given.get(0).resolveSibling(given.get(0).getFileName() + "-" + plans.get(i).id()));
            }
            return sockets;
        }
        throw new UserError("--vfio-user-socket is given " + given.size() + " times for " + plans.size()
                + " PCI devices: give one socket per device, or a single one");
    }

    private static void stop(List<VfioUserServer> servers, List<ServedDevice> devices) {
        for (VfioUserServer s : servers) {
            try {
                s.close();
            } catch (RuntimeException e) {
                log.warn("stopping the vfio-user server of {}: {}", s.device().id(), e.toString());
            }
        }
        for (ServedDevice d : devices) {
            try {
                d.close();
            } catch (RuntimeException e) {
                log.warn("closing {}: {}", d.id(), e.toString());
            }
        }
    }
}
