package io.jvmm.virtio.vhost;

/**
 * struct vhost_vring_state: a vring index and a number (the ring size for SET_VRING_NUM, the
 * next available index for SET/GET_VRING_BASE, 0/1 for SET_VRING_ENABLE).
 */
public record VringState(int index, long num) {
    public VringState {
        if (num < 0 || num > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("vring state num " + num + " does not fit in 32 bits");
        }
    }

    public byte[] encode() {
        return Payloads.allocate(8).putInt(index).putInt((int) num).array();
    }

    public static VringState decode(VhostUserMessage m, String from) {
        var b = Payloads.check(m, PayloadKind.VRING_STATE, from);
        return new VringState(b.getInt(), Integer.toUnsignedLong(b.getInt()));
    }
}
