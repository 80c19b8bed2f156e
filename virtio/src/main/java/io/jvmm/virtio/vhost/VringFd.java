package io.jvmm.virtio.vhost;

/**
 * The u64 payload of SET_VRING_KICK/CALL/ERR: the vring index in bits 0-7 and, in bit 8, the
 * "invalid fd" flag saying no fd travels with the message (polling instead of an eventfd).
 */
public record VringFd(int index, boolean noFd) {
    public static final long INDEX_MASK = 0xFF;
    public static final long NOFD = 0x100;

    public VringFd {
        if (index < 0 || index > INDEX_MASK) {
            throw new IllegalArgumentException("vring index " + index + " does not fit in 8 bits");
        }
    }

    public byte[] encode() {
        return Payloads.u64(index | (noFd ? NOFD : 0));
    }

    /**
     * Decodes the payload and checks it against the fds that came with the message: exactly one
     * without the flag, none with it. The message's fds are not closed here.
     */
    public static VringFd decode(VhostUserMessage m, String from) {
        long v = Payloads.decodeU64(m, from);
        if ((v & ~(INDEX_MASK | NOFD)) != 0) {
            throw new VhostUserProtocolException(String.format("%s: %s payload 0x%x has bits set beyond the index and no-fd flag",
                    from, m.name(), v));
        }
        VringFd f = new VringFd((int) (v & INDEX_MASK), (v & NOFD) != 0);
        int expected = f.noFd ? 0 : 1;
        if (m.fds().length != expected) {
            throw new VhostUserProtocolException(String.format("%s: %s for vring %d %s but carries %d fds",
                    from, m.name(), f.index, f.noFd ? "has the no-fd flag" : "needs exactly one fd", m.fds().length));
        }
        return f;
    }
}
