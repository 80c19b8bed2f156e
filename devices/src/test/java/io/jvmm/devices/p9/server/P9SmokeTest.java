package io.jvmm.devices.p9.server;

import io.jvmm.testkit.driver.p9.P9Client;
import io.jvmm.testkit.driver.p9.P9Wire;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class P9SmokeTest {
    @Test
    void walkOpenRead(@TempDir Path dir) throws Exception {
        Path root = Files.createDirectory(dir.resolve("export"));
        Files.writeString(root.resolve("hello.txt"), "hello, 9p");
        try (ServerFixture f = new ServerFixture(P9ServerConfig.of(root, false, SecurityModel.PASSTHROUGH), dir)) {
            P9Client c = f.client();
            c.walk(0, 1, "hello.txt");
            c.lopen(1, P9Wire.O_RDONLY);
            assertEquals("hello, 9p", new String(c.readAll(1)));
            c.clunk(1);
            assertTrue(c.violations().isEmpty(), c.violations().toString());
        }
    }
}
