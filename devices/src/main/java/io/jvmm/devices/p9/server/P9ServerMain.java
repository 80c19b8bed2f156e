package io.jvmm.devices.p9.server;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * {@code jvmm-9p-server --socket PATH | --listen HOST:PORT --root DIR [--readonly]
 * [--security-model passthrough|mapped-xattr|none] [--threads N] [--msize N] [--x-flush exact|historic]
 * [--x-delay-ms N]}: the 9P2000.L server on its own. Prints one line "listening on ..." on stdout
 * when ready (with the port actually bound for --listen HOST:0); stops on SIGTERM or SIGINT.
 */
public final class P9ServerMain {
    private P9ServerMain() {
    }

    public static void main(String[] args) throws Exception {
        String socket = null;
        String listen = null;
        String root = null;
        boolean readOnly = false;
        SecurityModel security = Sys.geteuid() == 0 ? SecurityModel.PASSTHROUGH : SecurityModel.NONE;
        FlushMode flush = FlushMode.EXACT;
        int threads = P9ServerConfig.DEFAULT_THREADS;
        int msize = P9ServerConfig.DEFAULT_MSIZE;
        long delayMs = 0;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--socket": socket = args[++i]; break;
                    case "--listen": listen = args[++i]; break;
                    case "--root": root = args[++i]; break;
                    case "--readonly": readOnly = true; break;
                    case "--security-model": security = SecurityModel.parse(args[++i]); break;
                    case "--threads": threads = Integer.parseInt(args[++i]); break;
                    case "--msize": msize = Integer.parseInt(args[++i]); break;
                    case "--x-flush": flush = FlushMode.parse(args[++i]); break;
                    case "--x-delay-ms": delayMs = Long.parseLong(args[++i]); break;
                    case "-h": case "--help": usage(null); return;
                    default: usage("unknown option " + args[i]); return;
                }
            }
        } catch (ArrayIndexOutOfBoundsException | IllegalArgumentException e) {
            usage(e instanceof ArrayIndexOutOfBoundsException ? "option " + args[args.length - 1] + " needs a value" : e.getMessage());
            return;
        }
        if ((socket == null) == (listen == null) || root == null) {
            usage("give --root DIR and exactly one of --socket PATH or --listen HOST:PORT");
            return;
        }
        if (!Files.isDirectory(Path.of(root))) {
            usage("--root " + root + " is not a directory");
            return;
        }
        P9ServerConfig config = new P9ServerConfig(Path.of(root), readOnly, security, flush, msize,
                P9ServerConfig.DEFAULT_MAX_FIDS, P9ServerConfig.DEFAULT_MAX_TAGS, threads, Duration.ofMillis(delayMs));
        P9Server server = new P9Server("server", config, P9ServerMetrics.unregistered("server"));
        P9SocketServer sockets;
        if (socket != null) {
            sockets = P9SocketServer.unix(server, Path.of(socket));
            System.out.println("listening on unix:" + socket);
        } else {
            int colon = listen.lastIndexOf(':');
            if (colon <= 0) {
                usage("--listen wants HOST:PORT, not " + listen);
                return;
            }
            sockets = P9SocketServer.tcp(server, listen.substring(0, colon), Integer.parseInt(listen.substring(colon + 1)));
            System.out.println("listening on tcp:" + listen.substring(0, colon) + ":" + sockets.port());
        }
        System.out.flush();
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            sockets.close();
            server.close();
            stop.countDown();
        }, "9p-shutdown"));
        stop.await();
    }

    private static void usage(String error) {
        if (error != null) {
            System.err.println("jvmm-9p-server: " + error);
        }
        System.err.println("usage: jvmm-9p-server --socket PATH | --listen HOST:PORT --root DIR [--readonly]\n"
                + "         [--security-model passthrough|mapped-xattr|none] [--threads N] [--msize N]\n"
                + "         [--x-flush exact|historic] [--x-delay-ms N]");
        if (error != null) {
            System.exit(2);
        }
    }
}
