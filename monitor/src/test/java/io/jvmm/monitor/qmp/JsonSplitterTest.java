package io.jvmm.monitor.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The framing: values split and joined across reads, strings with brackets, limits, lexical resets. */
class JsonSplitterTest {
    private final List<JsonSplitter.Frame> frames = new ArrayList<>();

    private void feed(JsonSplitter s, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        s.feed(b, 0, b.length, frames::add);
    }

    private String message(int i) {
        return new String(assertInstanceOf(JsonSplitter.Message.class, frames.get(i)).json(), StandardCharsets.UTF_8);
    }

    private String malformed(int i) {
        return assertInstanceOf(JsonSplitter.Malformed.class, frames.get(i)).reason();
    }

    @Test
    void valuesSplitAcrossReadsAndSeveralInOneRead() {
        JsonSplitter s = new JsonSplitter();
        feed(s, "{\"execute\":");
        assertTrue(frames.isEmpty());
        assertTrue(s.inValue());
        feed(s, " \"stop\"}\r\n{\"a\":[1,{\"b\":2}]} [3]");
        assertEquals(3, frames.size());
        assertEquals("{\"execute\": \"stop\"}", message(0));
        assertEquals("{\"a\":[1,{\"b\":2}]}", message(1));
        assertEquals("[3]", message(2));
        assertFalse(s.inValue());
    }

    @Test
    void byteByByteGivesTheSameValues() {
        JsonSplitter s = new JsonSplitter();
        String text = "{'id':'q\\'}x', \"s\":\"}]{[\\\"\"} {\"x\":\"\u00e9\"}";
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < b.length; i++) {
            s.feed(b, i, 1, frames::add);
        }
        assertEquals(2, frames.size());
        assertEquals("{'id':'q\\'}x', \"s\":\"}]{[\\\"\"}", message(0));
        assertEquals("{\"x\":\"\u00e9\"}", message(1));
    }

    @Test
    void bracketsInsideStringsDoNotCount() {
        JsonSplitter s = new JsonSplitter();
        feed(s, "{\"a\":\"}}}}\",'b':'{{{'}");
        assertEquals(1, frames.size());
        assertEquals("{\"a\":\"}}}}\",'b':'{{{'}", message(0));
    }

    @Test
    void topLevelScalarsAreValuesToo() {
        JsonSplitter s = new JsonSplitter();
        feed(s, "'abc' 42 true\n");
        assertEquals(List.of("'abc'", "42", "true"), List.of(message(0), message(1), message(2)));
    }

    @Test
    void aStrayCloserIsReportedAndTheNextValueParses() {
        JsonSplitter s = new JsonSplitter();
        feed(s, "} {\"ok\":1}");
        assertEquals("unexpected '}'", malformed(0));
        assertEquals("{\"ok\":1}", message(1));
    }

    @Test
    void anOversizedValueIsCountedNotKeptAndReportedWhenItEnds() {
        int limit = 4096;
        JsonSplitter s = new JsonSplitter(limit, 64);
        String head = "{\"execute\":\"x\",\"arguments\":{\"pad\":\"";
        feed(s, head);
        byte[] chunk = new byte[64 << 10];
        Arrays.fill(chunk, (byte) 'a');
        long sent = 0;
        for (int i = 0; i < 256; i++) {   // 16 MiB of string
            s.feed(chunk, 0, chunk.length, frames::add);
            sent += chunk.length;
            assertTrue(s.bufferedBytes() <= limit, "nothing beyond the limit is kept: " + s.bufferedBytes());
        }
        feed(s, "\"}}{\"execute\":\"next\"}");
        assertEquals(2, frames.size());
        assertTrue(malformed(0).contains("over the limit of 4096 bytes"), malformed(0));
        assertTrue(malformed(0).contains(String.valueOf(head.length() + sent + 3)), malformed(0));
        assertEquals("{\"execute\":\"next\"}", message(1));
    }

    @Test
    void nestingDeeperThanTheLimitIsDiscarded() {
        JsonSplitter s = new JsonSplitter(1 << 20, 8);
        feed(s, "[".repeat(9) + "]".repeat(9) + "[[1]]");
        assertTrue(malformed(0).contains("deeper than 8"), malformed(0));
        assertEquals("[[1]]", message(1));
    }

    @Test
    void aControlCharacterAbandonsTheValueUnderWay() {
        JsonSplitter s = new JsonSplitter();
        feed(s, "{\"execute\": \"st\u0001");
        assertTrue(malformed(0).contains("control character 0x01"), malformed(0));
        feed(s, "{\"execute\":\u0002");
        assertTrue(malformed(1).contains("stray byte 0x02"), malformed(1));
        s.feed(new byte[] {(byte) 0xff}, 0, 1, frames::add);
        assertTrue(malformed(2).contains("0xff"), malformed(2));
        feed(s, "{\"execute\":\"stop\"}");
        assertEquals("{\"execute\":\"stop\"}", message(3));
    }
}
