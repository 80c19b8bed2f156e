package io.jvmm.testkit.driver.blk;

/**
 * A completed virtio-blk request: the status byte the device wrote, the data it returned (IN,
 * GET_ID; empty otherwise) and the used length it reported (data written plus the status byte).
 */
public record BlkResponse(int type, long sector, int status, byte[] data, int usedLength) {
    public boolean ok() {
        return status == BlkProtocol.S_OK;
    }

    @Override
    public String toString() {
        return String.format("blk response type %d sector %d: %s, %d data bytes, used len %d", type, sector,
                BlkProtocol.statusName(status), data.length, usedLength);
    }
}
