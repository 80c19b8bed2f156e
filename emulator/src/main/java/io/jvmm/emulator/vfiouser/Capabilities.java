package io.jvmm.emulator.vfiouser;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import jnr.constants.platform.Errno;

/**
 * The capabilities JSON of VERSION messages ({"capabilities": {"max_msg_fds": 16, ...}}).
 *
 * <p>What the client proposes tells us how to talk to it (how many fds and bytes it takes in one
 * message); what we reply tells it the same about us. The spec wants the reply's list to be a
 * subset of the proposal, so a capability goes back only if the client named it; the spec's
 * defaults then apply on the client side (one fd per message is fine with us).
 */
record Capabilities(int maxMsgFds, long maxDataXferSize, long maxDmaMaps, long pgsizes, boolean writeMultiple) {

    static final int DEFAULT_MAX_MSG_FDS = 1;
    static final long DEFAULT_MAX_DATA_XFER = 1 << 20;
    static final long DEFAULT_MAX_DMA_MAPS = 65535;
    static final long DEFAULT_PGSIZES = 4096;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The spec's defaults: what a client that sends no JSON gets. */
    static Capabilities defaults() {
        return new Capabilities(DEFAULT_MAX_MSG_FDS, DEFAULT_MAX_DATA_XFER, DEFAULT_MAX_DMA_MAPS, DEFAULT_PGSIZES, false);
    }

    /**
     * Parses the version data of a VERSION request: NUL-terminated UTF-8 JSON, or nothing. Missing
     * fields keep the spec's defaults; fields of the wrong type are refused with EINVAL.
     */
    static Parsed parse(byte[] versionData) {
        if (versionData.length == 0) {
            return new Parsed(defaults(), null);
        }
        int end = 0;
        while (end < versionData.length && versionData[end] != 0) {
            end++;
        }
        if (end == versionData.length) {
            throw new VfioUserException(Errno.EINVAL, "VERSION capabilities are not NUL-terminated");
        }
        String text = new String(versionData, 0, end, StandardCharsets.UTF_8);
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new VfioUserException(Errno.EINVAL, "VERSION capabilities are not JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new VfioUserException(Errno.EINVAL, "VERSION capabilities are not a JSON object: " + text);
        }
        JsonNode caps = root.get("capabilities");
        if (caps == null) {
            return new Parsed(defaults(), JSON.createObjectNode());
        }
        if (!caps.isObject()) {
            throw new VfioUserException(Errno.EINVAL, "VERSION \"capabilities\" is not an object: " + caps);
        }
        Capabilities d = defaults();
        Capabilities c = new Capabilities(
                (int) number(caps, "max_msg_fds", d.maxMsgFds, 0, 253),
                number(caps, "max_data_xfer_size", d.maxDataXferSize, 1, Integer.MAX_VALUE),
                number(caps, "max_dma_maps", d.maxDmaMaps, 1, Long.MAX_VALUE),
                number(caps, "pgsizes", d.pgsizes, 1, Long.MAX_VALUE),
                bool(caps, "write_multiple"));
        return new Parsed(c, (ObjectNode) caps);
    }

    /** The client's capabilities, and the JSON object it sent (null if it sent no JSON). */
    record Parsed(Capabilities capabilities, ObjectNode proposed) {
    }

    private static long number(JsonNode caps, String name, long fallback, long min, long max) {
        JsonNode n = caps.get(name);
        if (n == null) {
            return fallback;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < min || n.asLong() > max) {
            throw new VfioUserException(Errno.EINVAL, "VERSION capability " + name + " must be an integer in "
                    + min + ".." + max + ", got " + n);
        }
        return n.asLong();
    }

    private static boolean bool(JsonNode caps, String name) {
        JsonNode n = caps.get(name);
        if (n == null) {
            return false;
        }
        if (!n.isBoolean()) {
            throw new VfioUserException(Errno.EINVAL, "VERSION capability " + name + " must be true or false, got " + n);
        }
        return n.asBoolean();
    }

    /**
     * Our reply's version data: our own values for the capabilities the client proposed (those it
     * did not name are left out), NUL-terminated.
     */
    byte[] replyFor(ObjectNode proposed) {
        ObjectNode caps = JSON.createObjectNode();
        if (proposed != null) {
            if (proposed.has("max_msg_fds")) {
                caps.put("max_msg_fds", maxMsgFds);
            }
            if (proposed.has("max_data_xfer_size")) {
                caps.put("max_data_xfer_size", maxDataXferSize);
            }
            if (proposed.has("max_dma_maps")) {
                caps.put("max_dma_maps", Math.min(maxDmaMaps, proposed.get("max_dma_maps").asLong()));
            }
            if (proposed.has("pgsizes")) {
                caps.put("pgsizes", pgsizes);
            }
            if (proposed.has("write_multiple")) {
                caps.put("write_multiple", writeMultiple && proposed.get("write_multiple").asBoolean());
            }
        }
        ObjectNode root = JSON.createObjectNode();
        root.set("capabilities", caps);
        byte[] text = root.toString().getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[text.length + 1];
        System.arraycopy(text, 0, out, 0, text.length);
        return out;
    }
}
