package io.jvmm.monitor.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.jvmm.platform.options.UserError;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** QEMU's -qmp syntax: what jvmm takes, and what it refuses with the reason. */
class QmpEndpointTest {
    @Test
    void unixAndTcpAsQemuSpellsThem() {
        assertEquals(new QmpEndpoint.Unix(Path.of("/run/x,y.sock")), QmpEndpoint.parse("unix:/run/x,,y.sock,server=on,wait=off"));
        assertEquals(new QmpEndpoint.Unix(Path.of("q.sock")), QmpEndpoint.parse("unix:q.sock,server,nowait"));
        assertEquals(new QmpEndpoint.Tcp("127.0.0.1", 4444), QmpEndpoint.parse("tcp:127.0.0.1:4444,server=on,wait=off"));
        assertEquals(new QmpEndpoint.Tcp("::1", 0), QmpEndpoint.parse("tcp:[::1]:0,server=on,wait=off"));
        assertEquals("unix:/a.sock,server=on", new QmpEndpoint.Unix(Path.of("/a.sock")).filename());
    }

    @Test
    void whatJvmmDoesNotDoIsRefusedWithTheReason() {
        refused("unix:/a.sock,wait=off", "add server=on");
        refused("unix:/a.sock,server=on", "add wait=off");
        refused("unix:/a.sock,server=on,wait=on", "give wait=off");
        refused("unix:/a.sock,server=off,wait=off", "always a server");
        refused("unix:/a.sock,server=on,wait=off,abstract=on", "'abstract=on' is not supported");
        refused("stdio", "only unix:PATH and tcp:HOST:PORT");
        refused("tcp:8.8.8.8:4444,server=on,wait=off", "loopback only");
        refused("tcp:127.0.0.1:99999,server=on,wait=off", "not 0..65535");
        refused("tcp:127.0.0.1:x,server=on,wait=off", "not a port number");
        refused("unix:,server=on,wait=off", "no socket path");
    }

    private static void refused(String spec, String why) {
        UserError e = assertThrows(UserError.class, () -> QmpEndpoint.parse(spec));
        assertTrue(e.getMessage().startsWith("-qmp " + spec + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }
}
