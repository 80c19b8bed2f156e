package io.jvmm.tests.kvm;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * The Linux test guest (Debian's kernel + busybox initramfs) that scripts/build-guest-image
 * builds, or finds up to date in its cache; built at most once per test JVM.
 */
public final class LinuxGuestImage {
    private static Path kernel;
    private static Path initrd;

    private LinuxGuestImage() {
    }

    public static synchronized Path kernel() throws IOException, InterruptedException {
        build();
        return kernel;
    }

    public static synchronized Path initrd() throws IOException, InterruptedException {
        build();
        return initrd;
    }

    private static void build() throws IOException, InterruptedException {
        if (kernel != null) {
            return;
        }
        Process p = new ProcessBuilder(Path.of("..", "scripts", "build-guest-image").toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(900, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("scripts/build-guest-image did not finish within 900 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("scripts/build-guest-image failed (exit " + p.exitValue() + "): " + out);
        }
        Path k = null;
        Path i = null;
        for (String line : out.split("\n")) {
            if (line.startsWith("JVMM_GUEST_KERNEL=")) {
                k = Path.of(line.substring("JVMM_GUEST_KERNEL=".length()));
            } else if (line.startsWith("JVMM_GUEST_INITRD=")) {
                i = Path.of(line.substring("JVMM_GUEST_INITRD=".length()));
            }
        }
        if (k == null || i == null) {
            throw new IllegalStateException("scripts/build-guest-image printed no JVMM_GUEST_KERNEL/JVMM_GUEST_INITRD: " + out);
        }
        kernel = k;
        initrd = i;
    }
}
