#!/bin/sh
# Proves check-insns.sh rejects what it must and accepts ordinary code: each case is assembled
# into a one-function object and checked.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

check() {   # expected-rc function-name instruction
    printf '.text\n.globl %s\n%s:\n%s\nret\n' "$2" "$2" "$3" >"$tmp/t.S"
    ${CC:-gcc} -c "$tmp/t.S" -o "$tmp/t.o" || { echo "selftest: cannot assemble '$3'"; fails=1; return; }
    sh "$here/check-insns.sh" "$tmp/t.o" >/dev/null 2>&1
    rc=$?
    if [ "$rc" != "$1" ]; then
        echo "selftest: check-insns.sh gave $rc for '$3' in $2, expected $1"
        fails=1
    fi
}

for insn in 'xsave (%rax)' 'xsaveopt (%rax)' 'xrstor (%rax)' 'fxsave (%rax)' 'cmpxchg16b (%rdi)' \
            'movaps %xmm0,%xmm1' 'vmovdqu %ymm0,(%rax)' 'paddq %mm0,%mm1' 'fldz' 'int $0x80' 'int3' \
            'ud2' 'lock cmpxchg16b (%rdi)' 'popcnt %rax,%rbx'; do
    check 1 f "$insn"
done
for insn in 'nop' 'rep movsq' 'lock incl (%rax)' 'cmpxchg8b (%rdi)' 'iretq' 'hlt' 'movabs $0xfee000b0,%rax'; do
    check 0 f "$insn"
done
check 0 run_fault 'int3'
check 0 run_fault 'ud2'

[ "$fails" = 0 ] && echo "check-insns selftest: ok"
exit "$fails"
