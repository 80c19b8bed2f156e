package io.jvmm.testkit.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.testkit.TestMachine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The builder for {@code @RegisterExtension}: one machine for the class, a back-end process started
 * before it (here a shell that creates its "socket" and waits).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PerClassMachineTest {
    @RegisterExtension
    static final JvmmExtension JVMM = JvmmExtension.builder()
            .backend("fake", "/bin/sh", "-c", "echo fake back-end up; : > {socket:fake}; exec sleep 600")
            .device("jvmm-test-sink,id=sink0")
            .perClass()
            .build();

    private static TestMachine first;
    private static BackendProcess backend;
    private static Path workDir;

    @Test
    @Order(1)
    void theBackEndRunsBeforeTheMachineIsBuilt(TestMachine machine, BackendProcess fake, JvmmFixture fixture) {
        first = machine;
        backend = fake;
        workDir = fixture.workDir();
        assertTrue(fake.isAlive());
        assertEquals("fake", fake.name());
        assertEquals(fixture.socket("fake"), fake.socket());
        assertTrue(Files.exists(fake.socket()), "it was waited for until its socket existed");
        assertSame(fake, fixture.backend("fake"));
        assertEquals("/bin/sh -c echo fake back-end up; : > " + fixture.socket("fake") + "; exec sleep 600",
                String.join(" ", fake.command()), "placeholders expanded in the command");
    }

    @Test
    @Order(2)
    void theSecondTestHasTheSameMachine(TestMachine machine, BackendProcess fake) {
        assertNotNull(first);
        assertSame(first, machine);
        assertSame(backend, fake);
        assertTrue(fake.outputTail(5).contains("fake back-end up"), "its output is kept: " + fake.outputTail(5));
    }

    @AfterAll
    static void theMachineLivesUntilTheClassIsOver() {
        // The extension's afterAll runs after this: JvmmFailureReportTest checks what it stops.
        assertTrue(backend.isAlive());
        assertTrue(Files.isDirectory(workDir));
    }
}
