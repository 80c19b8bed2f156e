package io.jvmm.devices.p9;

import io.jvmm.devices.p9.server.SecurityModel;
import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.Property;
import io.jvmm.platform.registry.PropertyValues;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/** {@code -fsdev local}: a host directory served to the guest by the in-process 9P server (virtio-9p-pci,fsdev=ID). */
public final class FsdevType implements BackendType<FsdevOptions> {
    static final Property<String> PATH = Property.string("path", "the directory to export").required();
    static final Property<String> SECURITY_MODEL = Property.string("security_model",
                    "how owners and modes are kept: passthrough (real, needs root), mapped-xattr (in user.virtfs.* xattrs), none")
            .required().allowing(Set.of("passthrough", "mapped-xattr", "mapped", "none")::contains, "passthrough, mapped-xattr, none");
    static final Property<Boolean> READONLY = Property.bool("readonly", "refuse every change (EROFS)").withDefault(false);
    static final Property<Long> DELAY_MS = Property.number("x-delay-ms", "milliseconds", 0, 60_000,
            "experiments: hold every read, write and readdir this long before it starts (flushes then land in flight)").withDefault(0L);

    @Override
    public BackendKind kind() {
        return BackendKind.FSDEV;
    }

    @Override
    public String name() {
        return "local";
    }

    @Override
    public String description() {
        return "a host directory, served by jvmm's 9P2000.L server";
    }

    @Override
    public List<Property<?>> properties() {
        return List.of(PATH, SECURITY_MODEL, READONLY, DELAY_MS);
    }

    @Override
    public FsdevOptions options(PropertyValues v) {
        String owner = "-fsdev " + v.id();
        Path path = Path.of(PATH.check(owner, v.get(PATH)));
        if (!Files.isDirectory(path)) {
            throw new UserError(owner + ": path=" + path + " is not a directory");
        }
        SecurityModel model = SecurityModel.parse(SECURITY_MODEL.check(owner, v.get(SECURITY_MODEL)));
        return new FsdevOptions(v.id(), path, model, v.get(READONLY), DELAY_MS.check(owner, v.get(DELAY_MS)));
    }
}
