package io.jvmm.emulator.config;

import java.nio.file.Path;

/** A validated {@code -drive file=..,format=raw,if=none,id=..[,readonly=on]}. */
public record DrivePlan(String id, Path file, boolean readOnly) {
    static final java.util.Set<String> PROPERTIES = java.util.Set.of("file", "format", "if", "id", "readonly");

    static DrivePlan parse(String text) {
        OptionList o = OptionList.parse("-drive", text, null);
        String id = o.required("id");
        Path file = Path.of(o.required("file"));
        String format = o.string("format", "raw");
        if (!format.equals("raw")) {
            throw new UserError("-drive " + id + ": format '" + format + "' is not supported (only raw)");
        }
        String iface = o.string("if", "none");
        if (!iface.equals("none")) {
            throw new UserError("-drive " + id + ": if=" + iface + " is not supported; use if=none with -device virtio-blk-pci,drive=" + id);
        }
        boolean readOnly = o.bool("readonly", false);
        o.finish(PROPERTIES);
        return new DrivePlan(id, file, readOnly);
    }
}
