package io.jvmm.virtio.vhost.frontend;

import io.jvmm.virtio.queue.DescriptorChain;
import java.nio.ByteBuffer;

/**
 * How a vhost-user device type answers a request its back-end will never answer (the back-end
 * is gone): the front-end writes this error reply into the request's device-writable buffers and
 * returns the chain through the used ring, so the guest's driver fails the request instead of
 * waiting for ever. A device type without one (nothing in its protocol says "error") leaves the
 * requests outstanding until the driver resets the device.
 */
@FunctionalInterface
public interface ErrorCompletion {
    /**
     * Writes the error reply for {@code chain}, a request on {@code queue}.
     *
     * @return the used length: bytes written into the device-writable part
     */
    int write(int queue, DescriptorChain chain);

    /**
     * A status byte at the very end of the device-writable part (virtio-blk's
     * VIRTIO_BLK_S_IOERR = 1, virtio-scsi's style): the used length covers the whole writable
     * part, as a device that wrote the status after the data reports it.
     */
    static ErrorCompletion statusByte(int status) {
        return (queue, chain) -> {
            long writable = chain.writableLength();
            if (writable == 0) {
                return 0;
            }
            chain.copyToWritable(writable - 1, ByteBuffer.wrap(new byte[] {(byte) status}));
            return (int) Math.min(writable, Integer.MAX_VALUE);
        };
    }

    /** virtio-blk: VIRTIO_BLK_S_IOERR in the request's status byte. */
    ErrorCompletion VIRTIO_BLK_IOERR = statusByte(1);
}
