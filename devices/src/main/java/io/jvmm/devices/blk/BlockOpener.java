package io.jvmm.devices.blk;

import io.jvmm.devices.blk.loop.NettyLoop;
import io.jvmm.devices.blk.nbd.NbdBlockBackend;
import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.devices.blk.nbd.NbdUri;
import io.jvmm.devices.blk.qcow2.Qcow2Backend;
import io.jvmm.platform.options.UserError;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Opens block back-ends: a raw file, a qcow2 image (and its backing chain), an NBD export named by
 * a URI. Every open runs on the {@linkplain NettyLoop#MAIN main loop} as one synchronous wait, like
 * QEMU's main-loop opens; whatever it waits for (an NBD connection, even to an export this process
 * serves) runs on other loops, so the wait blocks only its caller (rule 5).
 */
public final class BlockOpener {
    /** What an open may take, on top of the NBD open timeout, before the caller gives up on the main loop. */
    private static final Duration MARGIN = Duration.ofSeconds(30);

    /** What to open. {@code format} is raw or qcow2; {@code file} a path or an NBD URI. */
    public record Spec(String owner, String file, String format, boolean readOnly, NbdClientSettings nbd) {
    }

    private BlockOpener() {
    }

    /**
     * Opens {@code spec} on the main loop and waits for it.
     *
     * @throws UserError naming the owner and what could not be opened
     */
    public static BlockBackend open(Spec spec) {
        try (NettyLoop.Lease main = NettyLoop.main()) {
            NettyLoop loop = main.loop();
            return loop.call("opening " + spec.file() + " for " + spec.owner(), () -> openHere(spec, loop),
                    spec.nbd().openTimeout().multipliedBy(2).plus(MARGIN));
        } catch (UserError e) {
            throw e;
        } catch (RuntimeException e) {
            throw new UserError(spec.owner() + ": " + e.getMessage(), e);
        }
    }

    /** Opens on the calling loop (the main loop), blocking it for any NBD connection. */
    public static BlockBackend openHere(Spec spec, NettyLoop loop) {
        String file = spec.file();
        try {
            if (NbdUri.looksLikeOne(file)) {
                if (!spec.format().equals("raw")) {
                    throw new IllegalArgumentException("format=" + spec.format() + " over NBD is not supported; the export is used as format=raw");
                }
                return NbdBlockBackend.open(spec.owner(), NbdUri.parse(file), spec.nbd(), spec.readOnly(), loop);
            }
            if (file.startsWith("json:")) {
                throw new IllegalArgumentException("'json:' file names are not supported; name a file, or an NBD URI");
            }
            Path path = Path.of(file);
            switch (spec.format()) {
                case "raw":
                    return new RawFileBackend(spec.owner(), path, spec.readOnly(), BlkDeviceType.IO_THREADS);
                case "qcow2":
                    return Qcow2Backend.open(spec.owner(), path, spec.readOnly(), spec.nbd(), loop);
                default:
                    throw new IllegalArgumentException("format=" + spec.format() + " is not supported (raw, qcow2)");
            }
        } catch (UserError e) {
            throw e;
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new UserError(spec.owner() + ": " + e.getMessage(), e);
        }
    }
}
