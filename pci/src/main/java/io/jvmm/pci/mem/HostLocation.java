package io.jvmm.pci.mem;

import io.jvmm.chardev.SharedMemory;

/**
 * Where a guest-physical address lives on the host: what a back-end in another process needs
 * (fd and offset, e.g. for vhost-user SET_MEM_TABLE) and the host virtual address (for KVM).
 *
 * @param memory      the mapping holding the address
 * @param fd          the file descriptor to hand to a peer
 * @param fdOffset    the offset of the address inside that fd
 * @param hostAddress the address in this process
 * @param remaining   bytes from the address to the end of its region
 */
public record HostLocation(SharedMemory memory, int fd, long fdOffset, long hostAddress, long remaining) {
}
