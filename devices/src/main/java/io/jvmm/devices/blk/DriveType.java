package io.jvmm.devices.blk;

import io.jvmm.devices.blk.nbd.NbdClientSettings;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.time.Duration;
import java.util.List;

/**
 * {@code -drive}: a disk image or an NBD export for a block device (only {@code if=none}: the
 * device names it with drive=ID).
 */
public final class DriveType implements BackendType<DriveOptions> {
    static final Property<String> FILE = Property.string("file",
            "the image file, or an NBD URI (nbd+unix:///EXPORT?socket=PATH, nbd://HOST:PORT/EXPORT)").required();
    static final Property<String> FORMAT = Property.string("format", "how the file is laid out")
            .allowing(f -> f.equals("raw") || f.equals("qcow2"), "raw or qcow2").withDefault("raw");
    static final Property<String> IF = Property.string("if", "interface; the device is given with -device ...,drive=ID")
            .allowing(i -> i.equals("none"), "none").withDefault("none");
    static final Property<Boolean> READONLY = Property.bool("readonly", "refuse writes (the file is opened read-only)")
            .withDefault(false);
    public static final Property<Integer> OPEN_TIMEOUT = Property.integer("open-timeout", "seconds", 1, 3600,
            "NBD: seconds the connection and negotiation may take when the image is opened").withDefault(30);
    public static final Property<Integer> REQUEST_TIMEOUT = Property.integer("request-timeout", "seconds", 1, 3600,
            "NBD: seconds a request waits for its reply before it fails (IOERR) and the client reconnects").withDefault(30);
    public static final Property<Integer> RECONNECT_DELAY = Property.integer("reconnect-delay", "seconds", 0, 3600,
            "NBD: seconds requests made while the connection is down wait for the reconnect before they fail").withDefault(0);

    @Override
    public BackendKind kind() {
        return BackendKind.DRIVE;
    }

    @Override
    public String name() {
        return "drive";
    }

    @Override
    public String description() {
        return "a disk image or an NBD export";
    }

    @Override
    public List<Property<?>> properties() {
        return List.of(FILE, FORMAT, IF, READONLY, OPEN_TIMEOUT, REQUEST_TIMEOUT, RECONNECT_DELAY);
    }

    /** The NBD client settings the timeouts of {@code v} give. */
    public static NbdClientSettings nbdSettings(PropertyValues v) {
        return new NbdClientSettings(Duration.ofSeconds(v.get(OPEN_TIMEOUT)), Duration.ofSeconds(v.get(REQUEST_TIMEOUT)),
                Duration.ofSeconds(v.get(RECONNECT_DELAY)));
    }

    @Override
    public DriveOptions options(PropertyValues v) {
        String owner = "-drive " + v.id();
        if (!IF.allowedText().equals(v.get(IF))) {
            throw new UserError(owner + ": if=" + v.get(IF) + " is not supported; use if=none with -device virtio-blk-pci,drive=" + v.id());
        }
        return new DriveOptions(v.id(), FILE.check(owner, v.get(FILE)), v.get(FORMAT), v.get(READONLY), nbdSettings(v));
    }
}
