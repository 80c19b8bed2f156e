package io.jvmm.virtio.vhost.backend;

/** How a faulty back-end answers the message chosen by {@link BackendFaults}. */
public enum ReplyFault {
    /** The right reply with its payload cut to half (the header says so too). */
    SHORT,
    /** A header with protocol version 2. */
    MALFORMED,
    /** A reply naming another request. */
    WRONG_REQUEST,
    /** The right reply, carrying an fd nobody asked for. */
    UNEXPECTED_FD,
    /** No reply at all: the front-end's wait must end by itself (or notice the next reply is not this one's). */
    NO_REPLY,
    /** A well-formed acknowledgement saying the request failed (status 1). */
    REFUSE
}
