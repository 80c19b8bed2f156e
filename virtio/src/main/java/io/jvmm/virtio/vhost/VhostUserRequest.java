package io.jvmm.virtio.vhost;

import java.util.HashMap;
import java.util.Map;

/**
 * Front-end message types (vhost-user.rst, "Front-end message types"): the id on the wire, the
 * request payload, the reply payload for requests that always answer, and how many fds travel
 * with the request. Every id of the specification is named (so logs and errors can say what a
 * peer sent); those jvmm does not use have {@link PayloadKind#UNCHECKED} payloads.
 */
public enum VhostUserRequest {
    GET_FEATURES(1, PayloadKind.NONE, PayloadKind.U64, 0),
    SET_FEATURES(2, PayloadKind.U64, null, 0),
    SET_OWNER(3, PayloadKind.NONE, null, 0),
    RESET_OWNER(4, PayloadKind.NONE, null, 0),
    SET_MEM_TABLE(5, PayloadKind.MEMORY_TABLE, null, -1),
    SET_LOG_BASE(6, PayloadKind.UNCHECKED, null, -1),
    SET_LOG_FD(7, PayloadKind.UNCHECKED, null, -1),
    SET_VRING_NUM(8, PayloadKind.VRING_STATE, null, 0),
    SET_VRING_ADDR(9, PayloadKind.VRING_ADDRESS, null, 0),
    SET_VRING_BASE(10, PayloadKind.VRING_STATE, null, 0),
    GET_VRING_BASE(11, PayloadKind.VRING_STATE, PayloadKind.VRING_STATE, 0),
    SET_VRING_KICK(12, PayloadKind.U64, null, -1),
    SET_VRING_CALL(13, PayloadKind.U64, null, -1),
    SET_VRING_ERR(14, PayloadKind.U64, null, -1),
    GET_PROTOCOL_FEATURES(15, PayloadKind.NONE, PayloadKind.U64, 0),
    SET_PROTOCOL_FEATURES(16, PayloadKind.U64, null, 0),
    GET_QUEUE_NUM(17, PayloadKind.NONE, PayloadKind.U64, 0),
    SET_VRING_ENABLE(18, PayloadKind.VRING_STATE, null, 0),
    SEND_RARP(19, PayloadKind.UNCHECKED, null, 0),
    NET_SET_MTU(20, PayloadKind.UNCHECKED, null, 0),
    SET_BACKEND_REQ_FD(21, PayloadKind.UNCHECKED, null, -1),
    IOTLB_MSG(22, PayloadKind.UNCHECKED, PayloadKind.U64, 0),
    SET_VRING_ENDIAN(23, PayloadKind.UNCHECKED, null, 0),
    GET_CONFIG(24, PayloadKind.CONFIG, PayloadKind.CONFIG, 0),
    SET_CONFIG(25, PayloadKind.CONFIG, null, 0),
    CREATE_CRYPTO_SESSION(26, PayloadKind.UNCHECKED, PayloadKind.UNCHECKED, 0),
    CLOSE_CRYPTO_SESSION(27, PayloadKind.UNCHECKED, null, 0),
    POSTCOPY_ADVISE(28, PayloadKind.UNCHECKED, PayloadKind.UNCHECKED, 0),
    POSTCOPY_LISTEN(29, PayloadKind.UNCHECKED, null, 0),
    POSTCOPY_END(30, PayloadKind.UNCHECKED, PayloadKind.U64, 0),
    GET_INFLIGHT_FD(31, PayloadKind.UNCHECKED, PayloadKind.UNCHECKED, 0),
    SET_INFLIGHT_FD(32, PayloadKind.UNCHECKED, null, -1),
    GPU_SET_SOCKET(33, PayloadKind.UNCHECKED, null, -1),
    RESET_DEVICE(34, PayloadKind.NONE, null, 0),
    VRING_KICK(35, PayloadKind.VRING_STATE, null, 0),
    GET_MAX_MEM_SLOTS(36, PayloadKind.NONE, PayloadKind.U64, 0),
    ADD_MEM_REG(37, PayloadKind.UNCHECKED, null, -1),
    REM_MEM_REG(38, PayloadKind.UNCHECKED, null, -1),
    SET_STATUS(39, PayloadKind.U64, null, 0),
    GET_STATUS(40, PayloadKind.NONE, PayloadKind.U64, 0);

    private static final Map<Integer, VhostUserRequest> BY_ID = new HashMap<>();

    static {
        for (VhostUserRequest r : values()) {
            BY_ID.put(r.id, r);
        }
    }

    private final int id;
    private final PayloadKind requestPayload;
    private final PayloadKind replyPayload;
    private final int fds;

    /**
     * @param fds fds the request carries: 0, or -1 for "depends on the payload" (checked by the
     *     payload's decoder: a region count, or the vring no-fd flag)
     */
    VhostUserRequest(int id, PayloadKind requestPayload, PayloadKind replyPayload, int fds) {
        this.id = id;
        this.requestPayload = requestPayload;
        this.replyPayload = replyPayload;
        this.fds = fds;
    }

    public int id() {
        return id;
    }

    public PayloadKind requestPayload() {
        return requestPayload;
    }

    /** The payload of the reply this request always gets, or null if it gets one only on NEED_REPLY. */
    public PayloadKind replyPayload() {
        return replyPayload;
    }

    /** Whether the back-end answers even without NEED_REPLY. */
    public boolean alwaysReplies() {
        return replyPayload != null;
    }

    /** Whether the request may carry fds (their number is then checked against the payload). */
    public boolean carriesFds() {
        return fds != 0;
    }

    /** The request with this wire id, or null if the specification defines none. */
    public static VhostUserRequest byId(int id) {
        return BY_ID.get(id);
    }

    /** "SET_VRING_CALL" or "unknown request 77", for messages. */
    public static String describe(int id) {
        VhostUserRequest r = byId(id);
        return r == null ? "unknown request " + id : r.name();
    }
}
