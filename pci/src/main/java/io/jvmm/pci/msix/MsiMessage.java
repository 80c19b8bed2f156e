package io.jvmm.pci.msix;

/**
 * One message-signalled interrupt: a 32-bit {@code data} written to {@code address}. Immutable,
 * so a delivery always uses one consistent (address, data) pair.
 */
public record MsiMessage(long address, int data) {

    public static final MsiMessage ZERO = new MsiMessage(0, 0);

    public MsiMessage withAddress(long newAddress) {
        return new MsiMessage(newAddress, data);
    }

    public MsiMessage withData(int newData) {
        return new MsiMessage(address, newData);
    }

    @Override
    public String toString() {
        return String.format("MSI[0x%x <- 0x%x]", address, data);
    }
}
