package io.jvmm.emulator.vfiouser;

import io.jvmm.pci.dispatch.IoTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection: reads commands in order and answers each through the handler its
 * command has in {@link #handlers} (the protocol coverage is that table). A refused command gets
 * an error reply with an errno and one log line; nothing a client sends ends the session except
 * a stream that cannot be framed any more. When the client goes, its memory is unmapped (after
 * the device is quiet) and its eventfds closed; the device keeps its state for the next client.
 */
final class VfioUserSession {
    private static final Logger log = LoggerFactory.getLogger(VfioUserSession.class);

    private static final int MAJOR = 0;
    private static final int MINOR = 0;
    private static final int DEVICE_FLAGS_RESET = 1;
    private static final int DEVICE_FLAGS_PCI = 2;
    private static final int DMA_MAP_ARGSZ = 32;
    private static final int DMA_UNMAP_ARGSZ = 24;
    private static final int DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1;
    private static final int DMA_UNMAP_FLAG_ALL = 2;
    private static final int DEVICE_INFO_SIZE = 16;
    private static final int REGION_INFO_SIZE = 32;
    private static final int CAP_SPARSE_MMAP = 1;
    private static final int CAP_SPARSE_MMAP_VERSION = 1;
    /** The cap header (8), nr_areas and reserved (8), one area (16). */
    private static final int SPARSE_MMAP_ONE_AREA = 32;
    private static final int IRQ_INFO_SIZE = 16;
    private static final int IRQ_SET_SIZE = 20;
    private static final int REGION_RW_SIZE = 16;
    private static final int WRITE_ONE_SIZE = 24;

    /** A command's handler: the reply payload (null for none), or a VfioUserException. */
    @FunctionalInterface
    private interface Handler {
        ByteBuffer handle(VfioUserMessage request);
    }

    /** A table entry: the handler and whether the command may carry fds at all. */
    private record Entry(Handler handler, boolean takesFds) {
    }

    private final ServedDevice device;
    private final MessageChannel channel;
    private final VfioUserServer.Options options;
    private final Map<VfioUserCommand, Entry> handlers = new EnumMap<>(VfioUserCommand.class);
    private final ClientMemory memory;
    private volatile ClientDma dma;
    private Capabilities client;
    private long served;
    /** Fds to send with the reply being built (commands are served one at a time, on this thread). */
    private int[] replyFds = new int[0];

    VfioUserSession(ServedDevice device, MessageChannel channel, VfioUserServer.Options options) {
        this.device = device;
        this.channel = channel;
        this.options = options;
        this.memory = new ClientMemory(device.id(), device.memory(), Capabilities.DEFAULT_MAX_DMA_MAPS);
        handlers.put(VfioUserCommand.VERSION, new Entry(this::version, false));
        handlers.put(VfioUserCommand.DMA_MAP, new Entry(this::dmaMap, true));
        handlers.put(VfioUserCommand.DMA_UNMAP, new Entry(this::dmaUnmap, false));
        handlers.put(VfioUserCommand.DEVICE_GET_INFO, new Entry(this::deviceInfo, false));
        handlers.put(VfioUserCommand.DEVICE_GET_REGION_INFO, new Entry(this::regionInfo, false));
        handlers.put(VfioUserCommand.DEVICE_GET_IRQ_INFO, new Entry(this::irqInfo, false));
        handlers.put(VfioUserCommand.DEVICE_SET_IRQS, new Entry(this::setIrqs, true));
        handlers.put(VfioUserCommand.REGION_READ, new Entry(this::regionRead, false));
        handlers.put(VfioUserCommand.REGION_WRITE, new Entry(this::regionWrite, false));
        handlers.put(VfioUserCommand.REGION_WRITE_MULTI, new Entry(this::regionWriteMulti, false));
        handlers.put(VfioUserCommand.DEVICE_RESET, new Entry(this::reset, false));
        handlers.put(VfioUserCommand.DMA_READ, new Entry(this::serverToClient, false));
        handlers.put(VfioUserCommand.DMA_WRITE, new Entry(this::serverToClient, false));
        // Not served: DEVICE_GET_REGION_IO_FDS (no ioeventfds), DEVICE_FEATURE and MIG_* (no migration).
    }

    /** Serves the connection until the client leaves (or the stream breaks); then cleans up. */
    void run() {
        dma = new ClientDma(device.id(), channel, memory, Capabilities.DEFAULT_MAX_DATA_XFER, options.dmaTimeout(), Thread.currentThread());
        try {
            while (true) {
                MessageChannel.Frame frame = channel.read();
                if (frame instanceof MessageChannel.Frame.EndOfStream end) {
                    log.info("{}: vfio-user client left ({}) after {} commands", device.id(), end.detail(), served);
                    return;
                }
                if (frame instanceof MessageChannel.Frame.Malformed bad) {
                    log.warn("{}: malformed vfio-user message {}: {}; answering {}", device.id(), bad.header(), bad.reason(),
                            VfioUserException.errnoName(bad.errno()));
                    if (!bad.header().isReply()) {
                        channel.sendError(bad.header(), bad.errno());
                    }
                    if (bad.fatal()) {
                        log.warn("{}: closing the vfio-user connection: the message stream cannot be trusted any more", device.id());
                        return;
                    }
                    continue;
                }
                serve(((MessageChannel.Frame.Message) frame).message());
            }
        } catch (RuntimeException e) {
            if (channel.isClosed() || MessageChannel.isPeerGone(e)) {
                log.info("{}: vfio-user connection closed ({})", device.id(), e.getMessage());
            } else {
                log.error("{}: vfio-user connection failed", device.id(), e);
            }
        } finally {
            cleanUp();
        }
    }

    private void serve(VfioUserMessage m) {
        VfioUserHeader h = m.header();
        try (ReceivedFds fds = m.fds()) {
            if (h.isReply()) {
                if (fds.count() > 0) {
                    log.warn("{}: reply {} carried {} fds; closed them", device.id(), h, fds.count());
                }
                dma.complete(m);
                return;
            }
            served++;
            try {
                replyFds = new int[0];
                ByteBuffer reply = dispatch(m);
                if (!h.noReply()) {
                    int length = reply == null ? 0 : reply.remaining();
                    channel.send(h.reply(VfioUserHeader.SIZE + length), reply, replyFds);
                }
            } catch (VfioUserException e) {
                refuse(h, e.errno(), e.getMessage());
            } catch (IoTimeoutException e) {
                refuse(h, Errno.ETIMEDOUT.intValue(), e.getMessage());
            } catch (IllegalArgumentException e) {
                refuse(h, Errno.EINVAL.intValue(), e.getMessage());
            }
        }
    }

    private ByteBuffer dispatch(VfioUserMessage m) {
        VfioUserHeader h = m.header();
        if (h.type() != VfioUserHeader.TYPE_COMMAND) {
            throw new VfioUserException(Errno.EINVAL, "message type " + h.type() + " is neither command (0) nor reply (1)");
        }
        VfioUserCommand command = VfioUserCommand.of(h.command()).orElseThrow(() ->
                new VfioUserException(Errno.ENOSYS, "unknown command " + h.command()));
        Entry entry = handlers.get(command);
        if (entry == null) {
            throw new VfioUserException(Errno.ENOTSUP, command + " is not supported by this server");
        }
        if (client == null && command != VfioUserCommand.VERSION) {
            throw new VfioUserException(Errno.EINVAL, command + " before VERSION: the version must be negotiated first");
        }
        if (!entry.takesFds() && m.fds().count() > 0) {
            throw new VfioUserException(Errno.EINVAL, command + " carries " + m.fds().count() + " fds, and none belong to it");
        }
        log.trace("{}: {}", device.id(), h);
        return entry.handler().handle(m);
    }

    private void refuse(VfioUserHeader h, int errno, String why) {
        log.warn("{}: vfio-user {} refused with {}: {}", device.id(), h, VfioUserException.errnoName(errno), why);
        if (!h.noReply()) {
            channel.sendError(h, errno);
        }
    }

    // ---- handlers ------------------------------------------------------------------------

    private ByteBuffer version(VfioUserMessage m) {
        m.requirePayload(4, "major and minor version");
        if (client != null) {
            throw new VfioUserException(Errno.EINVAL, "VERSION was already negotiated on this connection");
        }
        int major = Short.toUnsignedInt(m.payload().getShort(0));
        int minor = Short.toUnsignedInt(m.payload().getShort(2));
        if (major != MAJOR) {
            throw new VfioUserException(Errno.ENOTSUP, "protocol version " + major + "." + minor + " proposed; this server speaks "
                    + MAJOR + "." + MINOR);
        }
        byte[] data = new byte[m.payloadSize() - 4];
        m.payload().get(4, data);
        Capabilities.Parsed proposed = Capabilities.parse(data);
        client = proposed.capabilities();
        memory.setMaxMappings(Math.min(client.maxDmaMaps(), Capabilities.DEFAULT_MAX_DMA_MAPS));
        dma = new ClientDma(device.id(), channel, memory, client.maxDataXferSize(), options.dmaTimeout(), Thread.currentThread());
        Capabilities ours = new Capabilities(options.maxMsgFds(), options.maxDataXferSize(), Capabilities.DEFAULT_MAX_DMA_MAPS,
                Capabilities.DEFAULT_PGSIZES, true);
        byte[] json = ours.replyFor(proposed.proposed());
        log.info("{}: vfio-user client speaks {}.{} with {}; we answer {}.{} with {}", device.id(), major, minor,
                new String(data, 0, Math.max(0, data.length - 1), java.nio.charset.StandardCharsets.UTF_8).trim(), MAJOR,
                Math.min(minor, MINOR), new String(json, 0, json.length - 1, java.nio.charset.StandardCharsets.UTF_8));
        return buffer(4 + json.length).putShort((short) MAJOR).putShort((short) Math.min(minor, MINOR)).put(json).flip();
    }

    private ByteBuffer dmaMap(VfioUserMessage m) {
        m.requirePayload(DMA_MAP_ARGSZ, "DMA_MAP's argsz, flags, offset, address and size");
        int argsz = m.u32(0);
        if (argsz != DMA_MAP_ARGSZ) {
            throw new VfioUserException(Errno.EINVAL, "DMA_MAP argsz " + Integer.toUnsignedString(argsz) + " must be " + DMA_MAP_ARGSZ);
        }
        if (m.fds().count() > 1) {
            throw new VfioUserException(Errno.EINVAL, "DMA_MAP carries " + m.fds().count() + " fds (at most 1)");
        }
        int fd = m.fds().count() == 1 ? m.fds().take(0) : -1;
        ClientMemory.Mapping mapped = memory.map(m.u64(16), m.u64(24), m.u64(8), m.u32(4), fd);
        device.memoryChanged("DMA_MAP " + mapped);
        return null;
    }

    private ByteBuffer dmaUnmap(VfioUserMessage m) {
        m.requirePayload(DMA_UNMAP_ARGSZ, "DMA_UNMAP's argsz, flags, address and size");
        int argsz = m.u32(0);
        int flags = m.u32(4);
        long address = m.u64(8);
        long size = m.u64(16);
        if (Integer.compareUnsigned(argsz, DMA_UNMAP_ARGSZ) < 0) {
            throw new VfioUserException(Errno.EINVAL, "DMA_UNMAP argsz " + Integer.toUnsignedString(argsz) + " is below " + DMA_UNMAP_ARGSZ);
        }
        if ((flags & DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) != 0) {
            throw new VfioUserException(Errno.ENOTSUP, "DMA_UNMAP with GET_DIRTY_BITMAP: dirty page tracking is not supported");
        }
        if ((flags & ~DMA_UNMAP_FLAG_ALL) != 0) {
            throw new VfioUserException(Errno.EINVAL, "DMA_UNMAP flags 0x" + Integer.toHexString(flags) + " are unknown");
        }
        List<ClientMemory.Mapping> removed;
        if ((flags & DMA_UNMAP_FLAG_ALL) != 0) {
            if (address != 0 || size != 0) {
                throw new VfioUserException(Errno.EINVAL, "DMA_UNMAP with the ALL flag must have address and size 0");
            }
            removed = memory.unmapAll();
        } else {
            removed = List.of(memory.unmap(address, size));
        }
        // The spec: release every reference before replying. The ranges are out of the guest
        // memory already; once the device is quiet nothing can be using them.
        device.quiesce();
        removed.forEach(ClientMemory.Mapping::release);
        if (!removed.isEmpty()) {
            device.memoryChanged("DMA_UNMAP " + (removed.size() == 1 ? removed.get(0) : "of " + removed.size() + " ranges"));
        }
        return buffer(DMA_UNMAP_ARGSZ).putInt(DMA_UNMAP_ARGSZ).putInt(flags).putLong(address).putLong(size).flip();
    }

    private ByteBuffer deviceInfo(VfioUserMessage m) {
        m.requirePayload(4, "argsz");
        requireArgsz(m, DEVICE_INFO_SIZE);
        return buffer(DEVICE_INFO_SIZE).putInt(DEVICE_INFO_SIZE).putInt(DEVICE_FLAGS_RESET | DEVICE_FLAGS_PCI)
                .putInt(PciRegions.COUNT).putInt(DeviceIrqs.COUNT).flip();
    }

    private ByteBuffer regionInfo(VfioUserMessage m) {
        m.requirePayload(12, "argsz, flags and index");
        requireArgsz(m, REGION_INFO_SIZE);
        int argsz = m.u32(0);
        int index = m.u32(8);
        PciRegions.RegionInfo info = device.regions().info(index);
        if (info.ram() == null) {
            return buffer(REGION_INFO_SIZE).putInt(REGION_INFO_SIZE).putInt(info.flags()).putInt(index).putInt(0)
                    .putLong(info.size()).putLong(0).flip();
        }
        // A RAM BAR: its memory's fd goes with the reply, and a sparse mmap capability says all of it
        // may be mapped. A client that asked with too small an argsz gets the size it needs, and
        // no capability (nor the CAPS flag, which QEMU would take as a capability outside the
        // reply), and asks again.
        replyFds = new int[] {info.ram().fd()};
        int needed = REGION_INFO_SIZE + SPARSE_MMAP_ONE_AREA;
        boolean room = Integer.compareUnsigned(argsz, needed) >= 0;
        int flags = room ? info.flags() : info.flags() & ~PciRegions.FLAG_CAPS;
        ByteBuffer b = buffer(room ? needed : REGION_INFO_SIZE).putInt(needed).putInt(flags).putInt(index)
                .putInt(room ? REGION_INFO_SIZE : 0).putLong(info.size()).putLong(info.ram().fdOffset());
        if (room) {
            b.putShort((short) CAP_SPARSE_MMAP).putShort((short) CAP_SPARSE_MMAP_VERSION).putInt(0)
                    .putInt(1).putInt(0).putLong(0).putLong(info.size());
        }
        return b.flip();
    }

    private ByteBuffer irqInfo(VfioUserMessage m) {
        m.requirePayload(12, "argsz, flags and index");
        requireArgsz(m, IRQ_INFO_SIZE);
        int index = m.u32(8);
        DeviceIrqs.IrqInfo info = device.irqs().info(index);
        return buffer(IRQ_INFO_SIZE).putInt(IRQ_INFO_SIZE).putInt(info.flags()).putInt(index).putInt(info.count()).flip();
    }

    private ByteBuffer setIrqs(VfioUserMessage m) {
        m.requirePayload(IRQ_SET_SIZE, "argsz, flags, index, start and count");
        int argsz = m.u32(0);
        int flags = m.u32(4);
        int index = m.u32(8);
        int start = m.u32(12);
        int count = m.u32(16);
        if (Integer.compareUnsigned(argsz, IRQ_SET_SIZE) < 0) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS argsz " + Integer.toUnsignedString(argsz) + " is below " + IRQ_SET_SIZE);
        }
        if (m.fds().count() > options.maxMsgFds()) {
            throw new VfioUserException(Errno.EINVAL, "SET_IRQS carries " + m.fds().count() + " fds, more than the "
                    + options.maxMsgFds() + " (max_msg_fds) we accept");
        }
        byte[] bools = null;
        if ((flags & DeviceIrqs.DATA_BOOL) != 0) {
            if (count < 0 || count > m.payloadSize() - IRQ_SET_SIZE) {
                throw new VfioUserException(Errno.EINVAL, "SET_IRQS DATA_BOOL for " + Integer.toUnsignedString(count)
                        + " interrupts carries only " + (m.payloadSize() - IRQ_SET_SIZE) + " bytes of data");
            }
            bools = new byte[count];
            m.payload().get(IRQ_SET_SIZE, bools);
        }
        device.irqs().set(flags, index, start, count, bools, m.fds());
        return null;
    }

    private ByteBuffer regionRead(VfioUserMessage m) {
        m.requirePayload(REGION_RW_SIZE, "offset, region and count");
        long offset = m.u64(0);
        int region = m.u32(8);
        int count = m.u32(12);
        checkCount(count, "REGION_READ");
        byte[] data = device.regions().read(region, offset, count);
        return buffer(REGION_RW_SIZE + count).putLong(offset).putInt(region).putInt(count).put(data).flip();
    }

    private ByteBuffer regionWrite(VfioUserMessage m) {
        m.requirePayload(REGION_RW_SIZE, "offset, region and count");
        long offset = m.u64(0);
        int region = m.u32(8);
        int count = m.u32(12);
        checkCount(count, "REGION_WRITE");
        if (m.payloadSize() - REGION_RW_SIZE != count) {
            throw new VfioUserException(Errno.EINVAL, "REGION_WRITE count " + count + " but " + (m.payloadSize() - REGION_RW_SIZE)
                    + " bytes of data");
        }
        byte[] data = new byte[count];
        m.payload().get(REGION_RW_SIZE, data);
        device.regions().write(region, offset, data);
        return buffer(REGION_RW_SIZE).putLong(offset).putInt(region).putInt(count).flip();
    }

    private ByteBuffer regionWriteMulti(VfioUserMessage m) {
        m.requirePayload(8, "wr_cnt");
        long writes = m.u64(0);
        long room = (m.payloadSize() - 8) / WRITE_ONE_SIZE;
        if (writes < 1 || writes > room) {
            throw new VfioUserException(Errno.EINVAL, "REGION_WRITE_MULTI wr_cnt " + Long.toUnsignedString(writes)
                    + " but the message has room for " + room + " writes");
        }
        // Validate every write before doing any, so a bad one does not leave half of them done.
        for (int i = 0; i < writes; i++) {
            int at = 8 + i * WRITE_ONE_SIZE;
            int count = m.u32(at + 12);
            if (count < 1 || count > 8) {
                throw new VfioUserException(Errno.EINVAL, "REGION_WRITE_MULTI write #" + i + " has count "
                        + Integer.toUnsignedString(count) + " (1..8)");
            }
        }
        for (int i = 0; i < writes; i++) {
            int at = 8 + i * WRITE_ONE_SIZE;
            byte[] data = new byte[m.u32(at + 12)];
            m.payload().get(at + 16, data);
            device.regions().write(m.u32(at + 8), m.u64(at), data);
        }
        return buffer(8).putLong(writes).flip();
    }

    private ByteBuffer reset(VfioUserMessage m) {
        log.info("{}: device reset by the vfio-user client", device.id());
        device.pci().resetFunction();
        device.irqs().afterReset();
        return null;
    }

    private ByteBuffer serverToClient(VfioUserMessage m) {
        throw new VfioUserException(Errno.EINVAL, m.name() + " is a server-to-client command; a client cannot send it");
    }

    // ---- helpers -------------------------------------------------------------------------

    private void checkCount(int count, String what) {
        if (count <= 0 || count > options.maxDataXferSize()) {
            throw new VfioUserException(count <= 0 ? Errno.EINVAL : Errno.E2BIG, what + " count " + Integer.toUnsignedString(count)
                    + " must be 1.." + options.maxDataXferSize() + " (max_data_xfer_size)");
        }
    }

    private static void requireArgsz(VfioUserMessage m, int replySize) {
        int argsz = m.u32(0);
        if (Integer.compareUnsigned(argsz, replySize) < 0) {
            throw new VfioUserException(Errno.EINVAL, m.name() + " argsz " + Integer.toUnsignedString(argsz)
                    + " is smaller than the " + replySize + "-byte reply");
        }
    }

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The DMA_READ/DMA_WRITE path to this client's memory. */
    ClientDma dma() {
        return dma;
    }

    private void cleanUp() {
        ClientDma d = dma;
        if (d != null) {
            d.close();
        }
        List<ClientMemory.Mapping> removed = memory.unmapAll();
        if (!removed.isEmpty()) {
            device.quiesce();
            removed.forEach(ClientMemory.Mapping::release);
        }
        device.irqs().releaseClient();
        channel.close();
        log.debug("{}: released the client's {} memory ranges and its eventfds", device.id(), removed.size());
    }
}
