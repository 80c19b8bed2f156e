package io.jvmm.emulator.cli;

import io.jvmm.platform.options.UserError;
import io.jvmm.platform.registry.BackendKind;
import io.jvmm.platform.registry.BackendType;
import io.jvmm.platform.registry.DeviceType;
import io.jvmm.platform.registry.Registry;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * QEMU's in-option help: {@code -device help} (or {@code ?}) lists the devices by category,
 * {@code -device DRIVER,help} a device's properties; the same for {@code -chardev}, {@code -object},
 * {@code -drive}, {@code -fsdev} and {@code -blockdev}. Everything comes from the {@link Registry}.
 */
final class HelpRequest {
    private HelpRequest() {
    }

    static Optional<String> find(Registry registry, List<String> devices, Map<BackendKind, List<String>> backends) {
        for (String text : devices) {
            if (isHelp(text)) {
                return Optional.of(registry.deviceHelp());
            }
            String head = helpTarget(text);
            if (head != null) {
                DeviceType<?> type = registry.device(head).orElseThrow(() -> new UserError("-device " + head
                        + ": unknown device (see -device help)"));
                return Optional.of(registry.deviceHelp(type));
            }
        }
        for (Map.Entry<BackendKind, List<String>> e : backends.entrySet()) {
            BackendKind kind = e.getKey();
            for (String text : e.getValue()) {
                if (isHelp(text)) {
                    return Optional.of(kind.typeKey() == null ? registry.backendHelp(onlyType(registry, kind))
                            : registry.backendHelp(kind));
                }
                String head = helpTarget(text);
                if (head != null) {
                    BackendType<?> type = kind.typeKey() == null ? onlyType(registry, kind)
                            : registry.backend(kind, head).orElseThrow(() -> new UserError(kind.optionName() + " " + head
                                    + ": unknown type (see " + kind.optionName() + " help)"));
                    return Optional.of(registry.backendHelp(type));
                }
            }
        }
        return Optional.empty();
    }

    private static BackendType<?> onlyType(Registry registry, BackendKind kind) {
        List<BackendType<?>> types = registry.backends(kind);
        if (types.isEmpty()) {
            throw new UserError(kind.optionName() + " is not supported by this build (no types registered)");
        }
        return types.get(0);
    }

    private static boolean isHelp(String text) {
        return text.equals("help") || text.equals("?");
    }

    /** "virtio-blk-pci,help" gives "virtio-blk-pci"; anything else null. */
    private static String helpTarget(String text) {
        for (String suffix : new String[] {",help", ",?"}) {
            if (text.endsWith(suffix) && text.length() > suffix.length()) {
                return text.substring(0, text.length() - suffix.length());
            }
        }
        return null;
    }
}
