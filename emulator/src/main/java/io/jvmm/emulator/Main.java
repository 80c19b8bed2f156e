package io.jvmm.emulator;

import io.jvmm.emulator.boot.BootException;
import io.jvmm.emulator.cli.JvmmCommand;
import io.jvmm.emulator.metrics.JvmmMetrics;
import io.jvmm.emulator.metrics.MetricsOptions;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.emulator.kvm.KvmUnavailableException;
import io.jvmm.emulator.machine.ExitStatus;
import io.jvmm.emulator.machine.KvmMachine;
import io.jvmm.monitor.qmp.QmpEndpoint;
import io.jvmm.monitor.qmp.QmpServers;
import picocli.CommandLine;

import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.List;

/**
 * jvmm's entry point. User mistakes and host limits are one line on stderr and a non-zero status,
 * never a stack trace; the guest's own status (debug-exit, shutdown) becomes the process status.
 */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, new FileOutputStream(FileDescriptor.out), System.err));
    }

    /** Runs jvmm and returns the process status (tests call this in-process). */
    public static int run(String[] args, OutputStream console, PrintStream err) {
        JvmmCommand command = new JvmmCommand();
        CommandLine cli = new CommandLine(command);
        cli.setPosixClusteredShortOptionsAllowed(false);
        try {
            CommandLine.ParseResult parsed = cli.parseArgs(args);
            if (parsed.isUsageHelpRequested()) {
                cli.usage(new PrintStream(console, true));
                return ExitStatus.OK;
            }
            if (parsed.isVersionHelpRequested()) {
                cli.printVersionHelp(new PrintStream(console, true));
                return ExitStatus.OK;
            }
        } catch (CommandLine.ParameterException e) {
            err.println("jvmm: " + e.getMessage() + " (see jvmm --help)");
            return ExitStatus.USER_ERROR;
        }
        try {
            java.util.Optional<String> help = command.helpRequested();
            if (help.isPresent()) {
                PrintStream out = new PrintStream(console, true);
                out.print(help.get());
                out.flush();
                return ExitStatus.OK;
            }
        } catch (UserError e) {
            err.println("jvmm: " + e.getMessage());
            return ExitStatus.USER_ERROR;
        }
        if (!command.vfioUserSockets().isEmpty()) {
            return io.jvmm.emulator.vfiouser.DeviceServerMain.run(command, err);
        }
        JvmmMetrics metrics = null;
        try {
            command.metrics();   // a mistake in -metrics is reported before anything else is checked
            MachineConfig config = command.toConfig();
            List<QmpEndpoint> qmp = command.qmpEndpoints();
            metrics = startMetrics(command, err);
            // The NBD server of -nbd-server (or QMP's nbd-server-start) is closed after the machine
            // (try-with-resources closes in reverse order).
            try (io.jvmm.devices.nbd.NbdExports nbd = command.startNbdExports(config);
                 KvmMachine machine = KvmMachine.create(config, console, metrics == null ? null : metrics.registry());
                 QmpServers monitors = QmpServers.start(qmp, withExports(machine, nbd))) {
                if (metrics != null) {
                    nbd.bindMetrics(metrics.registry());
                }
                machine.attachConsoleInput(System.in);
                KvmMachine.MachineExit exit = machine.run();
                if (exit.status() != 0) {
                    err.println("jvmm: " + exit.reason() + " (status " + exit.status() + ")");
                }
                return exit.status();
            }
        } catch (UserError | BootException e) {
            err.println("jvmm: " + e.getMessage());
            return ExitStatus.USER_ERROR;
        } catch (KvmUnavailableException e) {
            err.println("jvmm: " + e.getMessage());
            return ExitStatus.HOST_ERROR;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            err.println("jvmm: interrupted");
            return ExitStatus.HOST_ERROR;
        } finally {
            if (metrics != null) {
                metrics.close();
            }
        }
    }

    /** {@code machine}, whose monitors drive {@code nbd} (nbd-server-start, block-export-add, ...). */
    private static KvmMachine withExports(KvmMachine machine, io.jvmm.devices.nbd.NbdExports nbd) {
        machine.monitorSupport().useBlockExports(nbd);
        return machine;
    }

    /**
     * Starts {@code -metrics} if it was given, and says on {@code err} where the meters are (the
     * port chosen when 0 was asked); null without {@code -metrics}.
     *
     * @throws UserError for a bad option or an address that cannot be bound
     */
    public static JvmmMetrics startMetrics(JvmmCommand command, PrintStream err) {
        java.util.Optional<MetricsOptions> options = command.metrics();
        if (options.isEmpty()) {
            return null;
        }
        JvmmMetrics metrics = JvmmMetrics.start(options.get());
        err.println("jvmm: serving metrics at " + metrics.uri());
        err.flush();
        return metrics;
    }
}
