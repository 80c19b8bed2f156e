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
            String name = executeName(frame);
            JsonNode reply = dispatcher.dispatch(frame, session).reply();
            assertTrue(reply != null && reply.isObject() && (reply.has("return") ^ reply.has("error")), () -> "reply " + reply);
            if (reply.has("error")) {
                JsonNode e = reply.get("error");
                assertTrue(e.path("class").isTextual() && e.path("desc").isTextual(), () -> "error reply " + reply);
                // The fallback's exact shape ("NAME failed: EXCEPTION"); a desc merely echoing a name the
                // client wrote to look like one is not it (the fuzzer's first "finding", kept as an input).
                String desc = e.get("desc").asText();
                if (name != null && e.path("class").asText().equals("GenericError") && desc.startsWith(name + " failed: ")
                        && desc.substring(name.length() + 9).matches("(?s)(java|javax|jdk|com\\.fasterxml|io\\.netty|io\\.jvmm)\\.[\\w.$]+(: .*)?")) {
                    fail("a request ended in an internal error: " + reply);
                }
            }
        }
    }

    /** The request's {@code execute} string, or null (not JSON, not an object, none). */
    private static String executeName(JsonSplitter.Frame frame) {
        if (!(frame instanceof JsonSplitter.Message m)) {
            return null;
        }
        try {
            JsonNode request = QmpJson.parse(m.json());
            return request.path("execute").isTextual() ? request.get("execute").asText() : null;
        } catch (QmpError e) {
            return null;
        }
    }
}
