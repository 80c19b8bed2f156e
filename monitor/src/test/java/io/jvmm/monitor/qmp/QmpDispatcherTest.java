package io.jvmm.monitor.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.jvmm.monitor.RunState;
import io.jvmm.platform.registry.Registry;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * QEMU's dispatch rules without a socket: request shape, negotiation, {@code id} echoed whatever its
 * JSON type, argument checks with QEMU's texts, and no effect from a refused request.
 */
class QmpDispatcherTest {
    private final BareMachine machine = new BareMachine();
    private final QmpDispatcher dispatcher = new QmpDispatcher(CommandTable.create(
            new QmpContext(machine, Registry.of(List.of(), List.of()), () -> "unix:/x.sock,server=on")));
    private final QmpDispatcher.Session session = new QmpDispatcher.Session();

    private JsonNode send(String json) {
        return dispatcher.dispatch(new JsonSplitter.Message(json.getBytes(StandardCharsets.UTF_8)), session).reply();
    }

    private void negotiate() {
        assertEquals("{}", send("{\"execute\":\"qmp_capabilities\"}").path("return").toString());
    }

    private static void assertError(JsonNode reply, String errorClass, String desc) {
        assertEquals(errorClass, reply.path("error").path("class").asText(), reply.toString());
        assertEquals(desc, reply.path("error").path("desc").asText(), reply.toString());
    }

    @Test
    void everyCommandButNegotiationIsRefusedBeforeIt() {
        assertError(send("{\"execute\":\"query-status\"}"), "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        assertError(send("{\"execute\":\"no-such-command\"}"), "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        assertError(send("{\"execute\":\"stop\"}"), "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        assertEquals(RunState.RUNNING, machine.runState(), "nothing ran");
        negotiate();
        assertTrue(session.negotiated());
        assertError(send("{\"execute\":\"qmp_capabilities\"}"), "CommandNotFound", "Capabilities negotiation is already complete, command ignored");
        assertEquals("running", send("{\"execute\":\"query-status\"}").path("return").path("status").asText());
    }

    @Test
    void capabilitiesJvmmDoesNotOfferAreRefusedAndLeaveNegotiationOpen() {
        assertError(send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}"), "GenericError",
                "Capability 'oob' not available");
        assertError(send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"fast\"]}}"), "GenericError",
                "Parameter 'enable[0]' does not accept value 'fast'");
        assertError(send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":\"oob\"}}"), "GenericError",
                "Invalid parameter type for 'enable', expected: array");
        assertError(send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[1]}}"), "GenericError",
                "Invalid parameter type for 'enable[0]', expected: string");
        assertFalse(session.negotiated());
        assertEquals("{}", send("{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[]}}").path("return").toString());
    }

    @Test
    void theIdComesBackWhateverItsJsonType() {
        negotiate();
        for (String id : List.of("1", "-7.5", "\"a\"", "[1,{\"a\":null}]", "{\"k\":[true]}", "null", "false")) {
            JsonNode reply = send("{\"execute\":\"query-status\",\"id\":" + id + "}");
            assertEquals(id, reply.get("id").toString(), reply.toString());
            assertTrue(reply.has("return"));
            JsonNode error = send("{\"execute\":\"no-such\",\"id\":" + id + "}");
            assertEquals(id, error.get("id").toString(), "on errors too: " + error);
            JsonNode shape = send("{\"id\":" + id + ",\"foo\":1}");
            assertEquals(id, shape.get("id").toString(), "on malformed requests too: " + shape);
        }
        assertNull(send("{\"execute\":\"query-status\"}").get("id"), "no id given, none returned");
    }

    @Test
    void malformedRequestsGetQemusErrors() {
        negotiate();
        assertError(send("[1,2]"), "GenericError", "QMP input must be a JSON object");
        assertError(send("'abc'"), "GenericError", "QMP input must be a JSON object");
        assertError(send("{\"execute\":1}"), "GenericError", "QMP input member 'execute' must be a string");
        assertError(send("{\"execute\":\"query-status\",\"arguments\":[]}"), "GenericError", "QMP input member 'arguments' must be an object");
        assertError(send("{\"execute\":\"query-status\",\"foo\":1}"), "GenericError", "QMP input member 'foo' is unexpected");
        assertError(send("{\"exec-oob\":\"query-status\"}"), "GenericError", "QMP input member 'exec-oob' is unexpected");
        assertError(send("{\"id\":3}"), "GenericError", "QMP input lacks member 'execute'");
        assertError(send("{\"execute\":\"nope\"}"), "CommandNotFound", "The command nope has not been found");
        JsonNode parse = send("{\"execute\": }");
        assertEquals("GenericError", parse.path("error").path("class").asText());
        assertTrue(parse.path("error").path("desc").asText().startsWith("JSON parse error, "), parse.toString());
        JsonNode framed = dispatcher.dispatch(new JsonSplitter.Malformed("unexpected '}'"), session).reply();
        assertError(framed, "GenericError", "JSON parse error, unexpected '}'");
        assertEquals("{\"return\":{},\"id\":\"q'x\"}", send("{'execute':'cont', 'id':'q\\'x'}").toString(), "QEMU's single quotes");
    }

    @Test
    void argumentsAreCheckedInQemusOrderBeforeAnythingRuns() {
        negotiate();
        assertError(send("{\"execute\":\"stop\",\"arguments\":{\"now\":true}}"), "GenericError", "Parameter 'now' is unexpected");
        assertEquals(RunState.RUNNING, machine.runState(), "a refused stop stops nothing");
        assertError(send("{\"execute\":\"qom-get\",\"arguments\":{\"path\":1,\"property\":\"x\"}}"), "GenericError",
                "Invalid parameter type for 'path', expected: string");
        assertError(send("{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine\"}}"), "GenericError", "Parameter 'property' is missing");
        assertError(send("{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/machine\",\"property\":\"x\"}}"), "GenericError",
                "Parameter 'value' is missing");
        assertError(send("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info status\",\"cpu-index\":\"0\"}}"),
                "GenericError", "Invalid parameter type for 'cpu-index', expected: integer");
        assertError(send("{\"execute\":\"device_del\",\"arguments\":{\"id\":1}}"), "GenericError", "Invalid parameter type for 'id', expected: string");
        assertError(send("{\"execute\":\"device_add\",\"arguments\":{\"id\":\"r5\"}}"), "GenericError", "Parameter 'driver' is missing");
        assertError(send("{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"nope\"}}"), "GenericError", "'nope' is not a valid device model name");
        assertError(send("{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/nope\",\"property\":\"x\"}}"), "DeviceNotFound", "Device '/nope' not found");
        assertError(send("{\"execute\":\"device_del\",\"arguments\":{\"id\":\"nope\"}}"), "DeviceNotFound", "Device 'nope' not found");
    }

    @Test
    void everyListedCommandIsInTheTable() {
        negotiate();
        JsonNode list = send("{\"execute\":\"query-commands\"}").path("return");
        assertTrue(list.size() >= 17, list.toString());
        for (JsonNode c : list) {
            String name = c.path("name").asText();
            if (name.equals("quit") || name.equals("qmp_capabilities")) {
                continue;
            }
            JsonNode reply = send("{\"execute\":\"" + name + "\"}");
            assertNotEquals("CommandNotFound", reply.path("error").path("class").asText(), name + ": " + reply);
        }
    }

    @Test
    void quitAnswersFirstThenEnds() {
        negotiate();
        QmpDispatcher.Outcome outcome = dispatcher.dispatch(new JsonSplitter.Message("{\"execute\":\"quit\"}".getBytes(StandardCharsets.UTF_8)),
                session);
        assertEquals("{}", outcome.reply().path("return").toString());
        assertEquals(0, machine.quits, "not before the reply is sent");
        outcome.afterReply().run();
        assertEquals(1, machine.quits);
    }

    @Test
    void queryVersionAndStatusHaveQemusShape() {
        negotiate();
        JsonNode version = send("{\"execute\":\"query-version\"}").path("return");
        assertTrue(version.path("qemu").path("major").isInt() && version.path("qemu").path("minor").isInt()
                && version.path("qemu").path("micro").isInt() && version.path("package").isTextual(), version.toString());
        JsonNode status = send("{\"execute\":\"query-status\"}").path("return");
        assertEquals("{\"status\":\"running\",\"singlestep\":false,\"running\":true}", status.toString());
        send("{\"execute\":\"stop\"}");
        assertEquals("{\"status\":\"paused\",\"singlestep\":false,\"running\":false}", send("{\"execute\":\"query-status\"}").path("return").toString());
        assertEquals("VM status: paused\r\n", send("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info status\"}}")
                .path("return").asText());
        assertEquals("unknown command: 'info nope'\r\n",
                send("{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info nope\"}}").path("return").asText());
    }
}
