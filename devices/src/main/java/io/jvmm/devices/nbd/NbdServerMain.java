package io.jvmm.devices.nbd;

import io.jvmm.platform.config.ConfigParser;
import io.jvmm.platform.config.MachineConfig;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.Registry;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * {@code jvmm-nbd-server}: a standalone NBD server, spelled like qemu-storage-daemon:
 *
 * <pre>
 * jvmm-nbd-server --blockdev driver=file,node-name=disk,filename=disk.img \
 *                 --nbd-server addr.type=unix,addr.path=/run/disk.sock \
 *                 --export type=nbd,id=e0,node-name=disk,name=disk,writable=on
 * </pre>
 *
 * Runs until SIGTERM or SIGINT. Mistakes are one line on stderr and status 1.
 */
public final class NbdServerMain {
    private NbdServerMain() {
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        if (status != 0) {
            System.exit(status);
        }
    }

    static final String USAGE = String.join("\n",
            "usage: jvmm-nbd-server --blockdev driver=file|qcow2|nbd,node-name=NODE,... [--blockdev ...]",
            "                       --nbd-server addr.type=unix,addr.path=PATH | addr.type=inet,addr.host=HOST,addr.port=PORT",
            "                                    [,max-connections=N]",
            "                       --export type=nbd,id=ID,node-name=NODE[,name=NAME][,writable=on][,description=TEXT]",
            "                       [--export ...]",
            "  --blockdev driver=file,node-name=N,filename=IMG[,read-only=on]",
            "  --blockdev driver=qcow2,node-name=N,file.filename=IMG[,read-only=on]",
            "  --blockdev driver=nbd,node-name=N,server.type=unix,server.path=SOCK,export=NAME");

    /** Runs the server until interrupted; returns the process status. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        List<String> blockdevs = new ArrayList<>();
        List<String> exports = new ArrayList<>();
        String server = null;
        try {
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                if (a.equals("--help") || a.equals("-h")) {
                    out.println(USAGE);
                    return 0;
                }
                String name = a.startsWith("--") ? a.substring(1) : a;
                String value = null;
                int eq = name.indexOf('=');
                if (eq > 0 && !name.startsWith("-blockdev") && !name.startsWith("-export") && !name.startsWith("-nbd-server")) {
                    throw new UserError("unknown option " + a);
                }
                if (i + 1 >= args.length) {
                    throw new UserError(a + " needs a value");
                }
                value = args[++i];
                switch (name) {
                    case "-blockdev" -> blockdevs.add(value);
                    case "-export" -> exports.add(value);
                    case "-nbd-server" -> {
                        if (server != null) {
                            throw new UserError("--nbd-server is given twice");
                        }
                        server = value;
                    }
                    default -> throw new UserError("unknown option " + a + " (see --help)");
                }
            }
            if (server == null) {
                throw new UserError("no --nbd-server given (see --help)");
            }
            if (exports.isEmpty()) {
                throw new UserError("no --export given (see --help)");
            }
            Map<BackendKind, List<String>> backends = new EnumMap<>(BackendKind.class);
            backends.put(BackendKind.BLOCKDEV, blockdevs);
            MachineConfig config = ConfigParser.parseDevicesOnly(Registry.load(),
                    ConfigParser.RawOptions.devicesOnly(backends, List.of()));
            NbdExports running = NbdExports.start(server, exports, config.backends());
            err.println("jvmm-nbd-server: listening on " + running.server().address());
            CountDownLatch stopped = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                running.close();
                stopped.countDown();
            }, "nbd-server-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                stopped.await();
            } catch (InterruptedException e) {
                Runtime.getRuntime().removeShutdownHook(hook);
                running.close();
                Thread.currentThread().interrupt();
            }
            return 0;
        } catch (UserError e) {
            err.println("jvmm-nbd-server: " + e.getMessage());
            return 1;
        }
    }
}
