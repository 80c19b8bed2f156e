package io.jvmm.devices.blk;

import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.devices.blk.nbd.NbdUri;
import io.jvmm.devices.nbd.NbdAddress;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** The {@code -blockdev} drivers: {@code file} (a raw image), {@code qcow2}, {@code nbd}. */
public final class BlockdevTypes {
    private BlockdevTypes() {
    }

    static final Property<Boolean> READ_ONLY = Property.bool("read-only", "refuse writes").withDefault(false);

    private static List<Property<?>> withNbdTimeouts(Property<?>... ps) {
        List<Property<?>> l = new ArrayList<>(List.of(ps));
        l.add(DriveType.OPEN_TIMEOUT);
        l.add(DriveType.REQUEST_TIMEOUT);
        l.add(DriveType.RECONNECT_DELAY);
        return l;
    }

    private abstract static class Base implements BackendType<BlockdevOptions> {
        @Override
        public BackendKind kind() {
            return BackendKind.BLOCKDEV;
        }
    }

    /** {@code -blockdev driver=file,node-name=ID,filename=PATH[,read-only=on]}. */
    public static final class File extends Base {
        static final Property<String> FILENAME = Property.string("filename", "the raw image file").required();

        @Override
        public String name() {
            return "file";
        }

        @Override
        public String description() {
            return "a raw image file";
        }

        @Override
        public List<Property<?>> properties() {
            return List.of(FILENAME, READ_ONLY);
        }

        @Override
        public BlockdevOptions options(PropertyValues v) {
            return new BlockdevOptions(v.id(), name(), FILENAME.check(v.owner(), v.get(FILENAME)), "raw", v.get(READ_ONLY), null);
        }
    }

    /** {@code -blockdev driver=qcow2,node-name=ID,file.filename=PATH[,read-only=on]}. */
    public static final class Qcow2 extends Base {
        static final Property<String> FILE_DRIVER = Property.string("file.driver", "the protocol under the image")
                .allowing(d -> d.equals("file"), "file").withDefault("file");
        static final Property<String> FILE_FILENAME = Property.string("file.filename", "the qcow2 image file").required();

        @Override
        public String name() {
            return "qcow2";
        }

        @Override
        public String description() {
            return "a qcow2 image (with its backing chain: raw, qcow2 or NBD)";
        }

        @Override
        public List<Property<?>> properties() {
            return withNbdTimeouts(FILE_DRIVER, FILE_FILENAME, READ_ONLY);
        }

        @Override
        public BlockdevOptions options(PropertyValues v) {
            FILE_DRIVER.check(v.owner(), v.get(FILE_DRIVER));
            return new BlockdevOptions(v.id(), name(), FILE_FILENAME.check(v.owner(), v.get(FILE_FILENAME)), "qcow2",
                    v.get(READ_ONLY), DriveType.nbdSettings(v));
        }
    }

    /**
     * {@code -blockdev driver=nbd,node-name=ID,server.type=unix,server.path=PATH,export=NAME} or
     * {@code server.type=inet,server.host=HOST,server.port=PORT}, with reconnect-delay and timeouts.
     */
    public static final class Nbd extends Base {
        static final Property<String> SERVER_TYPE = Property.string("server.type", "unix or inet")
                .allowing(t -> t.equals("unix") || t.equals("inet"), "unix or inet").required();
        static final Property<String> SERVER_PATH = Property.string("server.path", "the server's Unix socket (server.type=unix)");
        static final Property<String> SERVER_HOST = Property.string("server.host", "the server's host (server.type=inet)");
        static final Property<Integer> SERVER_PORT = Property.integer("server.port", "port", 1, 65535, "the server's TCP port")
                .withDefault(NbdAddress.DEFAULT_PORT);
        static final Property<String> EXPORT = Property.string("export", "the export's name").withDefault("");

        @Override
        public String name() {
            return "nbd";
        }

        @Override
        public String description() {
            return "an NBD export";
        }

        @Override
        public List<Property<?>> properties() {
            return withNbdTimeouts(SERVER_TYPE, SERVER_PATH, SERVER_HOST, SERVER_PORT, EXPORT, READ_ONLY);
        }

        @Override
        public BlockdevOptions options(PropertyValues v) {
            String owner = v.owner();
            String type = SERVER_TYPE.check(owner, v.get(SERVER_TYPE));
            NbdAddress a;
            if (type.equals("unix")) {
                if (v.get(SERVER_PATH) == null || v.given(SERVER_HOST)) {
                    throw new UserError(owner + ": server.type=unix takes server.path (and no server.host)");
                }
                a = NbdAddress.unix(Path.of(v.get(SERVER_PATH)));
            } else {
                if (v.get(SERVER_HOST) == null || v.given(SERVER_PATH)) {
                    throw new UserError(owner + ": server.type=inet takes server.host[,server.port] (and no server.path)");
                }
                a = NbdAddress.tcp(v.get(SERVER_HOST), v.get(SERVER_PORT));
            }
            NbdClientSettings s = DriveType.nbdSettings(v);
            return new BlockdevOptions(v.id(), name(), new NbdUri(a, v.get(EXPORT)).toString(), "raw", v.get(READ_ONLY), s);
        }
    }
}
