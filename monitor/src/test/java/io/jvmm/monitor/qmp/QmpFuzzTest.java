package io.jvmm.monitor.qmp;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.platform.registry.Registry;
import java.util.ArrayList;
import java.util.List;

/**
 * Fuzz target for what a QMP client sends: an arbitrary byte stream through the connection's
 * {@link JsonSplitter} (64 KiB and depth 64 here, so the limits are reached) and
 * {@link QmpDispatcher} over a bare machine, exactly as {@link QmpServer} feeds them, minus the
 * socket. Every frame must get one reply that is a JSON object with either {@code return} or
 * {@code error} (class and desc), and no command may fail with an internal error (the dispatcher's
 * last resort, "... failed: java.lang...", which a bad request must never reach). Actions run after
 * a reply (quit's exit) are not run. Regression inputs in {@code QmpFuzzTestInputs/stream/}.
 */
class QmpFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void stream(byte[] input) {
        BareMachine machine = new BareMachine();
        QmpDispatcher dispatcher = new QmpDispatcher(CommandTable.create(
                new QmpContext(machine, Registry.of(List.of(), List.of()), () -> "unix:/fuzz.sock,server=on")));
        QmpDispatcher.Session session = new QmpDispatcher.Session();
        JsonSplitter splitter = new JsonSplitter(64 << 10, 64);
        List<JsonSplitter.Frame> frames = new ArrayList<>();
        splitter.feed(input, 0, input.length, frames::add);
        for (JsonSplitter.Frame frame : frames) {
            JsonNode reply = dispatcher.dispatch(frame, session).reply();
            assertTrue(reply != null && reply.isObject() && (reply.has("return") ^ reply.has("error")), () -> "reply " + reply);
            if (reply.has("error")) {
                JsonNode e = reply.get("error");
                assertTrue(e.path("class").isTextual() && e.path("desc").isTextual(), () -> "error reply " + reply);
                String desc = e.get("desc").asText();
                if (desc.contains("failed: java.") || desc.contains("failed: com.fasterxml")) {
                    fail("a request ended in an internal error: " + reply);
                }
            }
        }
    }
}
