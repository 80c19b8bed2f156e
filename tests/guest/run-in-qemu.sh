#!/bin/bash
# Boots the test guest under Debian's QEMU (PVH boot of the same ELF) with QEMU's own virtio-blk
# and virtio-rng, then checks what a jvmm run must also show: exit status 33 through
# isa-debug-exit, the PASS line, the sector-0 marker read by the guest, and the disk image holding
# exactly the pattern the guest wrote to sectors 1..8.
#
#   run-in-qemu.sh [--kvm] [--append "guest options"] [--timeout SECONDS]
#
# --kvm uses this host's KVM (with -cpu host,-arch-capabilities, which PVM hosts need); QEMU's
# firmware then takes ~10 s here. The default is TCG (well under a second).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
accel=(-accel tcg)
append=""
timeout_s=120
while [ $# -gt 0 ]; do
    case $1 in
        --kvm) accel=(-accel kvm -cpu host,-arch-capabilities); shift ;;
        --append) append=${2:?--append needs a value}; shift 2 ;;
        --timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-in-qemu: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

command -v qemu-system-x86_64 >/dev/null ||
    { echo "run-in-qemu: qemu-system-x86_64 not found (apt-get install -y qemu-system-x86)" >&2; exit 2; }
make -s -C "$here" >/dev/null
elf=$here/build/jvmm-test-guest.elf

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
disk=$work/disk.img
marker=JVMM-SECTOR0-MRK                 # 16 bytes: the guest prints sector 0's first 16 in hex
truncate -s 1M "$disk"
printf '%s' "$marker" | dd of="$disk" conv=notrunc status=none
marker_hex=$(printf '%s' "$marker" | od -An -tx1 | tr -d ' \n')

status=0
start=$(date +%s.%N)
timeout "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 256 -smp 1 -nographic -no-reboot -net none \
    -kernel "$elf" ${append:+-append "$append"} \
    -device isa-debug-exit,iobase=0x501,iosize=2 \
    -drive file="$disk",format=raw,if=none,id=d0 \
    -device virtio-blk-pci,drive=d0,disable-legacy=on \
    -device virtio-rng-pci,disable-legacy=on \
    </dev/null >"$work/console.raw" 2>&1 || status=$?
end=$(date +%s.%N)

# The guest's lines, without the firmware's escape sequences and carriage returns.
tr -d '\r' <"$work/console.raw" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/^Booting from ROM\.\.//' |
    sed -n '/^jvmm-guest: start/,$p' >"$work/console.log"
cat "$work/console.log"

failures=()
if [ "$status" = 124 ]; then
    failures+=("QEMU timed out after $timeout_s s")
elif [ "$status" != 33 ]; then
    failures+=("QEMU exit status $status, expected 33 (debug-exit 0x10)")
fi
grep -qx 'jvmm-guest: PASS' "$work/console.log" || failures+=("no 'jvmm-guest: PASS' line")
grep -qx "blk: sector0 $marker_hex" "$work/console.log" || failures+=("guest did not print the sector-0 marker $marker_hex")
grep -qx 'blk: capacity=2048 write+read ok' "$work/console.log" || failures+=("no 'blk: capacity=2048 write+read ok' line")
grep -q '^rng: 64 bytes ok [0-9a-f]\{16\}$' "$work/console.log" || failures+=("no 'rng: 64 bytes ok' line")
grep -q '^irqs: [1-9]' "$work/console.log" || failures+=("no MSI-X interrupts counted")
# bench=N: exactly N timed reads, a measured TSC rate and a duration (the rate may round to 0
# only if N reads took over a second each, which a working device never does).
if [[ " $append " =~ \ bench=([0-9]+)\  ]]; then
    reads=${BASH_REMATCH[1]}
    grep -q "^bench: blk-reads=$reads bytes=4096 tsc=[1-9][0-9]* tsc-khz=[1-9][0-9]* ns=[1-9][0-9]* reads-per-s=[1-9][0-9]*\$" \
        "$work/console.log" || failures+=("no 'bench: blk-reads=$reads bytes=4096 tsc=.. tsc-khz=.. ns=.. reads-per-s=..' line")
fi
cmp -s <(dd if="$disk" bs=512 skip=1 count=8 status=none) <("$here/build/blk-pattern") ||
    failures+=("disk sectors 1..8 do not hold the pattern the guest writes")

elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
if [ ${#failures[@]} -ne 0 ]; then
    printf 'run-in-qemu: FAILED (%s s):\n' "$elapsed" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    [ -s "$work/console.log" ] || { echo "raw console output:" >&2; cat "$work/console.raw" >&2; }
    exit 1
fi
echo "run-in-qemu: OK (${accel[*]}, ${elapsed} s, exit status 33, disk holds the guest's pattern)"
