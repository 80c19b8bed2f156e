package io.jvmm.tests.racelab;

/**
 * The guest's half of the races, as busybox shell run by the guest image's /init (it reports
 * the script's status on the console and through the debug-exit port). Each phase prints one
 * result line the host parses ({@link GuestRaceReport}):
 *
 * <ul>
 * <li>{@code RACE-B rounds=N lost=M}: SET_VRING_ENABLE against the first kick. Each round unbinds
 *     the entropy device from virtio_rng and binds it again: the driver resets the device, sets
 *     DRIVER_OK and posts its first request at once (Linux's virtio-rng probe); a read of
 *     /dev/hwrng that does not complete is that first request lost. The next unbind wakes the
 *     reader and resets the device, so a lost round does not spoil the next.</li>
 * <li>{@code RACE-A flips=N lost=M stuck=0|1}: SET_VRING_CALL on unmask. A reader reads /dev/hwrng
 *     without end while the script moves the queue vector's interrupt between the two vCPUs
 *     ({@code /proc/irq/N/smp_affinity}); Linux masks the MSI-X entry around the message update
 *     (on x86 at the vector's next interrupt). After each move the reader must make progress; a
 *     reader that makes none within the bound plus a grace period has lost its interrupt for good
 *     (the pending affinity move itself waits for that interrupt). The script then recovers by
 *     toggling the MSI-X function mask through the config space (a mask and an unmask of every
 *     vector: QEMU 7.2 re-reads its masked notifier then), and goes on; stuck=1 if even that does
 *     not revive the reader.</li>
 * </ul>
 */
public final class RaceGuestScripts {
    /** The bound in which a normal request completes under TCG here; past it a loss is suspected. */
    public static final int SUSPECT_MS = 1000;
    /** How much longer a suspected loss is watched before it counts (a slow host is not a loss). */
    public static final int GRACE_MS = 4000;

    private RaceGuestScripts() {
    }

    /** The PCI slot of device a (race (a), its back-end widens SET_VRING_CALL) and of device b (race (b), its back-end drops kicks). */
    public static final int SLOT_A = 4;
    public static final int SLOT_B = 5;

    /** What a guest run does: race (b) rounds, then race (a) flips; either may be 0. */
    public record Plan(int enableRounds, int stopBAfterLosses, int flips, int stopAAfterLosses) {
    }

    /** The whole script for {@code plan}, with devices a and b in slots {@link #SLOT_A} and {@link #SLOT_B} (QEMU's addr=). */
    public static String script(Plan plan) {
        return script(plan, SLOT_A, SLOT_B);
    }

    /** The whole script for {@code plan}, with devices a and b in the given PCI slots of bus 0. */
    public static String script(Plan plan, int slotA, int slotB) {
        return HEADER.formatted(SUSPECT_MS, GRACE_MS, slotA, slotB, slotA, slotB) + """
                say_config
                B_ROUNDS=%d
                B_STOP=%d
                A_FLIPS=%d
                A_STOP=%d
                [ "$B_ROUNDS" -gt 0 ] && race_b
                [ "$A_FLIPS" -gt 0 ] && race_a
                exit 0
                """.formatted(plan.enableRounds(), plan.stopBAfterLosses(), plan.flips(), plan.stopAAfterLosses());
    }

    private static final String HEADER = """
            #!/bin/sh
            SUSPECT=%d
            GRACE=%d
            byte() { od -An -tu1 -j"$2" -N1 "$1" | tr -d ' '; }
            poke() { printf "\\\\$(printf '%%03o' "$3")" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc 2>/dev/null; }
            now_ms() { read up rest < /proc/uptime; f=${up#*.}; f=${f#0}; echo $(( ${up%%.*} * 1000 + ${f:-0} * 10 )); }

            # the virtio device on PCI slot $1 of bus 0
            dev_at() {
                for d in /sys/bus/virtio/devices/virtio*; do
                    [ "$(basename "$(readlink -f "$d/..")")" = "$(printf '0000:00:%%02x.0' "$1")" ] && basename "$d"
                done
            }
            ADEV=$(dev_at %d); BDEV=$(dev_at %d)
            [ -n "$ADEV" ] && [ -n "$BDEV" ] || { echo "RACE-ERROR no virtio devices in slots %d and %d"; ls -l /sys/bus/virtio/devices; exit 2; }
            APCI=$(readlink -f "/sys/bus/virtio/devices/$ADEV/..")
            BPCI=$(readlink -f "/sys/bus/virtio/devices/$BDEV/..")
            bound() { [ -e "/sys/bus/virtio/drivers/virtio_rng/$1" ]; }

            say_config() {
                echo "RACE-DEVICE a: $ADEV at $APCI, b: $BDEV at $BPCI, $(cat "$APCI/vendor"):$(cat "$APCI/device"), kernel $(uname -r), cpus $(grep -c ^processor /proc/cpuinfo)"
            }

            irq_of() { grep " $1-input\\$" /proc/interrupts | awk '{ print $1 }' | tr -d :; }
            # interrupts of the queue vector on both vCPUs
            count() { awk -v i="$1:" '$1 == i { print $2 + $3 }' /proc/interrupts; }

            msix_cap() {
                cap=$(byte "$1/config" 52)
                while [ "$cap" -ne 0 ] && [ "$(byte "$1/config" "$cap")" -ne 17 ]; do cap=$(byte "$1/config" $((cap + 1))); done
                echo "$cap"
            }
            # a mask and an unmask of every vector of PCI function $1, whose MSI-X capability is at $2
            function_mask_toggle() {
                ctl=$(byte "$1/config" $(($2 + 3)))
                poke "$1/config" $(($2 + 3)) $((ctl | 64))
                poke "$1/config" $(($2 + 3)) $((ctl & 191))
            }

            # waits until "$@" succeeds or $1 ms pass; status 0 if it succeeded
            wait_ms() {
                limit=$1; shift
                end=$(( $(now_ms) + limit ))
                while ! "$@"; do
                    [ "$(now_ms)" -ge "$end" ] && return 1
                    usleep 5000
                done
                return 0
            }

            # ---- race (b): SET_VRING_ENABLE against the first kick
            reader_done() { ! kill -0 "$rpid" 2>/dev/null; }
            race_b() {
                # device b alone: /dev/hwrng reads the device just bound
                bound "$ADEV" && echo "$ADEV" > /sys/bus/virtio/drivers/virtio_rng/unbind
                round=0; lost=0
                while [ $round -lt "$B_ROUNDS" ]; do
                    round=$((round + 1))
                    bound "$BDEV" && echo "$BDEV" > /sys/bus/virtio/drivers/virtio_rng/unbind
                    echo "$BDEV" > /sys/bus/virtio/drivers/virtio_rng/bind
                    dd if=/dev/hwrng of=/dev/null bs=16 count=1 2>/dev/null &
                    rpid=$!
                    if ! wait_ms $((SUSPECT + GRACE)) reader_done; then
                        lost=$((lost + 1))
                        echo "RACE-B-LOST round $round: the first request after DRIVER_OK never completed"
                        [ "$B_STOP" -gt 0 ] && [ $lost -ge "$B_STOP" ] && break
                    fi
                done
                # the unbind wakes a stuck reader; device b stays unbound, device a comes back
                echo "$BDEV" > /sys/bus/virtio/drivers/virtio_rng/unbind
                wait "$rpid" 2>/dev/null
                echo "$ADEV" > /sys/bus/virtio/drivers/virtio_rng/bind
                echo "RACE-B rounds=$round lost=$lost"
            }

            # ---- race (a): SET_VRING_CALL on unmask
            progressed() { [ "$(count "$irq")" -ge "$target" ]; }
            race_a() {
                # device a alone
                bound "$BDEV" && echo "$BDEV" > /sys/bus/virtio/drivers/virtio_rng/unbind
                irq=$(irq_of "$ADEV")
                [ -n "$irq" ] || { echo "RACE-ERROR no MSI-X interrupt for $ADEV-input"; cat /proc/interrupts; return; }
                cap=$(msix_cap "$APCI")
                dd if=/dev/hwrng of=/dev/null bs=16 count=2000000000 2>/dev/null &
                reader=$!
                target=$(( $(count "$irq") + 3 ))
                wait_ms 10000 progressed || echo "RACE-ERROR the reader makes no progress before any flip"
                flips=0; lost=0; stuck=0; cpu=1
                while [ $flips -lt "$A_FLIPS" ]; do
                    target=$(( $(count "$irq") + 3 ))
                    cpu=$((3 - cpu))
                    echo $cpu > "/proc/irq/$irq/smp_affinity"
                    flips=$((flips + 1))
                    wait_ms "$SUSPECT" progressed && continue
                    wait_ms "$GRACE" progressed && { echo "RACE-A-SLOW flip $flips"; continue; }
                    lost=$((lost + 1))
                    echo "RACE-A-LOST flip $flips: no interrupt for $((SUSPECT + GRACE)) ms (count $(count "$irq"))"
                    r=0; target=$(( $(count "$irq") + 1 ))
                    while [ $r -lt 5 ]; do
                        function_mask_toggle "$APCI" "$cap"
                        wait_ms 500 progressed && break
                        r=$((r + 1))
                    done
                    [ $r -ge 5 ] && { stuck=1; echo "RACE-A-STUCK the function mask did not revive the reader"; break; }
                    [ "$A_STOP" -gt 0 ] && [ $lost -ge "$A_STOP" ] && break
                done
                kill "$reader" 2>/dev/null
                echo "RACE-A flips=$flips lost=$lost stuck=$stuck"
            }
            """;
}
