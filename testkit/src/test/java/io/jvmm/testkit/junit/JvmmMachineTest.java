package io.jvmm.testkit.junit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.testkit.TestMachine;
import io.jvmm.testkit.driver.Guest;
import io.jvmm.testkit.driver.PageAllocator;
import io.jvmm.testkit.driver.virtio.Chain;
import io.jvmm.testkit.driver.virtio.QueueSetup;
import io.jvmm.testkit.driver.virtio.SplitQueue;
import io.jvmm.testkit.driver.virtio.UsedBuffer;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import io.jvmm.virtio.DeviceStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link JvmmMachine} as a user writes it: a machine per test from options, parameters injected. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
@JvmmMachine(options = {"-device", "jvmm-test-sink,id=sink0", "-device", "jvmm-test-sink,id=sink1",
        "-device", "jvmm-testdev,id=td0"}, memory = "64M")
class JvmmMachineTest {
    private static TestMachine seenByBeforeEach;
    private static TestMachine previous;
    private static int machinesSeen;

    @BeforeEach
    void machineIsThereBeforeEachTest(TestMachine machine) {
        seenByBeforeEach = machine;
    }

    @Test
    void theMachineIsBuiltFromTheOptionsAndInjected(TestMachine machine, Guest guest, JvmmFixture fixture) throws Exception {
        assertSame(seenByBeforeEach, machine, "@BeforeEach and the test see the same machine");
        assertSame(machine, fixture.machine());
        assertSame(guest, fixture.guest(), "one guest per machine");
        assertEquals(List.of("sink0", "sink1", "td0"), machine.devices().stream().map(d -> d.id()).toList());
        assertEquals(64L << 20, machine.memory().size());
        assertTrue(Files.isDirectory(fixture.workDir()));
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(fixture.workDir())));
        countMachine(machine);
    }

    @Test
    void aVirtioFunctionIsInjectedOncePerDeviceAndByIdWhenAsked(VirtioPciDriver first, @DeviceId("sink1") VirtioPciDriver second,
                                                               @DeviceId("sink0") VirtioPciDriver firstAgain, TestMachine machine) {
        assertSame(first, firstAgain, "one driver per device");
        assertNotSame(first, second);
        assertEquals(machine.pciDevice("sink1").slot(), second.function().address().slot());
        List<SplitQueue> queues = second.initialize(0, List.of(QueueSetup.deviceMax()));
        assertTrue((second.status() & DeviceStatus.DRIVER_OK) != 0);
        SplitQueue q = queues.get(0);
        long page = second.guest().pages().allocate(PageAllocator.PAGE);
        q.add(Chain.create().writable(page, 64), "buffer");
        q.kick();
        List<UsedBuffer> used = q.awaitUsed(Duration.ofSeconds(20));
        assertEquals(1, used.size(), "the sink returned the buffer");
        countMachine(machine);
    }

    @Test
    @JvmmMachine(options = {"-object", "memory-backend-file,id=m0,size=1M,share=on,mem-path={image:bar2.img:1M}",
            "-device", "jvmm-testdev,id=only,memdev=m0"})
    void aMethodsOwnMachineReplacesTheClasssAndPlaceholdersAreExpanded(TestMachine machine, JvmmFixture fixture) throws Exception {
        assertEquals(List.of("only"), machine.devices().stream().map(d -> d.id()).toList());
        Path image = fixture.workDir().resolve("bar2.img");
        assertEquals(1 << 20, Files.size(image), "{image:bar2.img:1M} was created");
        assertEquals(fixture.workDir() + "/x/y.sock", fixture.expand("{dir:x}/y.sock"));
        assertTrue(Files.isDirectory(fixture.workDir().resolve("x")));
        countMachine(machine);
    }

    private static synchronized void countMachine(TestMachine machine) {
        assertNotSame(previous, machine, "a new machine for each test");
        previous = machine;
        machinesSeen++;
    }

    @AfterAll
    static void eachTestHadItsOwnMachine() {
        assertEquals(3, machinesSeen);
    }
}
