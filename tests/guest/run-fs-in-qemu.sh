#!/bin/bash
# Boots the test guest under Debian's QEMU with a vhost-user-fs-pci device served by virtiofsd,
# and checks the guest's fs=FILE run from the host side: exit status 33, the PASS line, the fs
# lines (INIT, the file read with the checksum the host computes for it, the file written, the
# reset cycles) and the content of the file the guest wrote, byte for byte.
#
#   run-fs-in-qemu.sh [--kvm] [--size BYTES] [--append "guest options"] [--timeout SECONDS]
#                     [--corrupt OFFSET]
#
# --size is the shared file's size (default 64 MiB); --append adds guest options such as
# fs-resets=N or fs-verify=cpl0. --corrupt flips the byte at OFFSET of the shared file and then
# expects the guest to FAIL (status 35), naming that word's offset: proof that the check can fail.
# Needs root (virtiofsd), qemu-system-x86 and virtiofsd (/usr/lib/qemu/virtiofsd from
# qemu-system-common, or $VIRTIOFSD).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
accel=(-accel tcg)
append=""
size=$((64 * 1024 * 1024))
timeout_s=180
file=data.bin
written=jvmm-guest-wrote
corrupt=""
while [ $# -gt 0 ]; do
    case $1 in
        --kvm) accel=(-accel kvm -cpu host,-arch-capabilities); shift ;;
        --size) size=${2:?--size needs a value}; shift 2 ;;
        --append) append=${2:?--append needs a value}; shift 2 ;;
        --timeout) timeout_s=${2:?--timeout needs a value}; shift 2 ;;
        --corrupt) corrupt=${2:?--corrupt needs a value}; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-fs-in-qemu: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
[[ $size =~ ^[1-9][0-9]*$ ]] || { echo "run-fs-in-qemu: --size wants a positive number of bytes" >&2; exit 2; }
if [ -n "$corrupt" ] && { ! [[ $corrupt =~ ^[0-9]+$ ]] || [ "$corrupt" -ge "$size" ]; }; then
    echo "run-fs-in-qemu: --corrupt wants a byte offset below --size ($size)" >&2; exit 2
fi

command -v qemu-system-x86_64 >/dev/null ||
    { echo "run-fs-in-qemu: qemu-system-x86_64 not found (apt-get install -y qemu-system-x86)" >&2; exit 2; }
virtiofsd=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
[ -x "$virtiofsd" ] || virtiofsd=$(command -v virtiofsd || true)
[ -n "$virtiofsd" ] && [ -x "$virtiofsd" ] ||
    { echo "run-fs-in-qemu: virtiofsd not found (apt-get install -y qemu-system-common, or set VIRTIOFSD)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "run-fs-in-qemu: virtiofsd needs root" >&2; exit 2; }
make -s -C "$here" >/dev/null
elf=$here/build/jvmm-test-guest.elf
pattern=$here/build/fs-pattern

work=$(mktemp -d)
vfsd_pid=""
cleanup() {
    if [ -n "$vfsd_pid" ] && kill -0 "$vfsd_pid" 2>/dev/null; then
        kill "$vfsd_pid" 2>/dev/null || true
        wait "$vfsd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
share=$work/share
sock=$work/vfsd.sock
mkdir "$share"
"$pattern" source "$size" >"$share/$file"
expected_sum=$("$pattern" checksum <"$share/$file")
if [ -n "$corrupt" ]; then
    byte=$(dd if="$share/$file" bs=1 skip="$corrupt" count=1 status=none | od -An -tu1 | tr -d ' ')
    printf "\\$(printf '%03o' $((byte ^ 0xff)))" | dd of="$share/$file" bs=1 seek="$corrupt" conv=notrunc status=none
fi
written_bytes=$("$pattern" written | wc -c)
resets=10
if [[ " $append " =~ \ fs-resets=([0-9]+)\  ]]; then resets=${BASH_REMATCH[1]}; fi

# virtiofsd's default sandbox (namespaces) fails in some containers; chroot works there.
start_virtiofsd() {
    "$virtiofsd" --socket-path="$sock" -o source="$share" -o cache=none "$@" >"$work/virtiofsd.log" 2>&1 &
    vfsd_pid=$!
    for _ in $(seq 100); do
        [ -S "$sock" ] && return 0
        kill -0 "$vfsd_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$vfsd_pid" 2>/dev/null || true
    wait "$vfsd_pid" 2>/dev/null || true
    vfsd_pid=""
    rm -f "$sock"
    return 1
}
start_virtiofsd || start_virtiofsd -o sandbox=chroot ||
    { echo "run-fs-in-qemu: virtiofsd did not create its socket:" >&2; cat "$work/virtiofsd.log" >&2; exit 1; }

status=0
start=$(date +%s.%N)
timeout "$timeout_s" qemu-system-x86_64 "${accel[@]}" -m 256 -smp 1 -nographic -no-reboot -net none \
    -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
    -kernel "$elf" -append "fs=$file fs-write=$written require=fs${append:+ $append}" \
    -device isa-debug-exit,iobase=0x501,iosize=2 \
    -chardev socket,id=c0,path="$sock" -device vhost-user-fs-pci,chardev=c0,tag=jvmmfs \
    </dev/null >"$work/console.raw" 2>&1 || status=$?
end=$(date +%s.%N)

# The guest's lines, without the firmware's escape sequences and carriage returns.
tr -d '\r' <"$work/console.raw" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/^Booting from ROM\.\.//' |
    sed -n '/^jvmm-guest: start/,$p' >"$work/console.log"
cat "$work/console.log"

failures=()
expect_line() {   # regex (whole line), description
    grep -qx "$1" "$work/console.log" || failures+=("no '$2' line")
}
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
if [ -n "$corrupt" ]; then
    # The guest must stop at the word holding the flipped byte and say where.
    [ "$status" = 35 ] || failures+=("QEMU exit status $status, expected 35 (debug-exit 0x11: the guest must FAIL)")
    word=$((corrupt / 8 * 8))
    expect_line "fs: $file at offset $word: read 0x[0-9a-f]*, the host wrote 0x[0-9a-f]*" \
        "fs: $file at offset $word: read .., the host wrote .."
    expect_line 'jvmm-guest: FAIL fs 00:[0-9a-f][0-9a-f]\.[0-7]: data read differs from the pattern the host wrote' \
        'jvmm-guest: FAIL fs ..: data read differs from the pattern the host wrote'
    if [ ${#failures[@]} -ne 0 ]; then
        printf 'run-fs-in-qemu: FAILED (%s s):\n' "$elapsed" >&2
        printf '  - %s\n' "${failures[@]}" >&2
        exit 1
    fi
    echo "run-fs-in-qemu: OK (${accel[*]}, ${elapsed} s, the guest caught the byte flipped at offset $corrupt)"
    exit 0
fi
if [ "$status" = 124 ]; then
    failures+=("QEMU timed out after $timeout_s s")
elif [ "$status" != 33 ]; then
    failures+=("QEMU exit status $status, expected 33 (debug-exit 0x10)")
fi
expect_line 'jvmm-guest: PASS' 'jvmm-guest: PASS'
expect_line 'fs: tag jvmmfs, request queues [1-9][0-9]*' 'fs: tag jvmmfs, request queues N'
expect_line 'fs: init ok 7\.[0-9][0-9]* max_write=[1-9][0-9]* max_read=[1-9][0-9]*' 'fs: init ok 7.NN max_write=.. max_read=..'
expect_line "fs: read $file $size ok checksum=$expected_sum" "fs: read $file $size ok checksum=$expected_sum (the host's checksum)"
expect_line "fs: wrote $written $written_bytes" "fs: wrote $written $written_bytes"
expect_line "fs: reset cycles $resets ok" "fs: reset cycles $resets ok"
if [ -f "$share/$written" ]; then
    cmp -s "$share/$written" <("$pattern" written) ||
        failures+=("$written on the host does not hold what the guest must have written (fs-pattern written)")
else
    failures+=("the guest's file $written does not exist on the host")
fi

if [ ${#failures[@]} -ne 0 ]; then
    printf 'run-fs-in-qemu: FAILED (%s s):\n' "$elapsed" >&2
    printf '  - %s\n' "${failures[@]}" >&2
    [ -s "$work/console.log" ] || { echo "raw console output:" >&2; cat "$work/console.raw" >&2; }
    echo "virtiofsd log:" >&2
    tail -20 "$work/virtiofsd.log" >&2
    exit 1
fi
echo "run-fs-in-qemu: OK (${accel[*]}, ${elapsed} s, exit status 33, checksum $expected_sum matches, $written holds the guest's $written_bytes bytes)"
