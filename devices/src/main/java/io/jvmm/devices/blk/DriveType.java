package io.jvmm.devices.blk;

import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;
import java.nio.file.Path;
import java.util.List;

/** {@code -drive}: a disk image for a block device (only {@code if=none}: the device names it with drive=ID). */
public final class DriveType implements BackendType<DriveOptions> {
    static final Property<String> FILE = Property.string("file", "the image file").required();
    static final Property<String> FORMAT = Property.string("format", "how the file is laid out")
            .allowing(f -> f.equals("raw"), "raw").withDefault("raw");
    static final Property<String> IF = Property.string("if", "interface; the device is given with -device ...,drive=ID")
            .allowing(i -> i.equals("none"), "none").withDefault("none");
    static final Property<Boolean> READONLY = Property.bool("readonly", "refuse writes (the file is opened read-only)")
            .withDefault(false);

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
        return "a disk image";
    }

    @Override
    public List<Property<?>> properties() {
        return List.of(FILE, FORMAT, IF, READONLY);
    }

    @Override
    public DriveOptions options(PropertyValues v) {
        String owner = "-drive " + v.id();
        if (!IF.allowedText().equals(v.get(IF))) {
            throw new UserError(owner + ": if=" + v.get(IF) + " is not supported; use if=none with -device virtio-blk-pci,drive=" + v.id());
        }
        return new DriveOptions(v.id(), Path.of(FILE.check(owner, v.get(FILE))), v.get(FORMAT), v.get(READONLY));
    }
}
