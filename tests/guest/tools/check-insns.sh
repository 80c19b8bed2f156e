#!/bin/sh
# Fails if the guest ELF contains an instruction PVM's instruction emulator cannot run (guest
# CPL0 code is emulated there) or that would kill the VM: SSE/AVX/x87/MMX, xsave/xrstor,
# fxsave/fxrstor, cmpxchg16b, software interrupts. Only run_fault (the deliberate fault=int3 and
# fault=triple modes) may contain int3 and ud2; pvh_start32 is 32-bit code and is skipped.
set -eu
elf=$1
objdump=${OBJDUMP:-objdump}
"$objdump" -d --no-show-raw-insn "$elf" | awk '
    /^[0-9a-f]+ <.*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
    /^ *[0-9a-f]+:\t/ {
        line = $0
        sub(/^ *[0-9a-f]+:\t/, "", line)
        split(line, w, /[ \t]+/)
        m = w[1]
        if (m ~ /^(rex(\.[WRXB]+)?|lock|rep|repz|repe|repnz|repne|data16|addr32|cs|ds|es|ss|fs|gs|notrack|bnd)$/ && w[2] != "") m = w[2]
        bad = ""
        if (fn == "pvh_start32") next   # 32-bit code, which objdump decodes as 64-bit
        if (line ~ /\(bad\)/) bad = "undecodable bytes in code"
        else if (line ~ /%(x|y|z)mm[0-9]|%mm[0-7]|%st(\(|$|,)/) bad = "vector/x87 register"
        else if (m ~ /^(xsave|xrstor|fxsave|fxrstor|cmpxchg16b|ldmxcsr|stmxcsr|vzeroupper|emms|into|rdrand|rdseed|popcnt|lzcnt|tzcnt)/) bad = m
        else if (m ~ /^f/ ) bad = "x87 " m
        else if (m == "int" || m == "int1" || m == "icebp") bad = "software interrupt " m
        else if ((m == "int3" || m == "ud2") && fn != "run_fault") bad = m " outside run_fault"
        if (bad != "") { printf "%s: forbidden instruction (%s) in %s: %s\n", FILENAME, bad, fn, line; n++ }
    }
    END { exit n ? 1 : 0 }
' FILENAME="$elf"
