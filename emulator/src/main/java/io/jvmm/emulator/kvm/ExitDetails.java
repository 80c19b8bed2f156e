package io.jvmm.emulator.kvm;

/**
 * An exit that ends a run, in words for the user, from the exit's own data in kvm_run
 * (include/uapi/linux/kvm.h: the union after exit_reason).
 */
final class ExitDetails {
    private ExitDetails() {
    }

    /** What {@code reason} (KVM's {@code code}) says, e.g. "KVM_EXIT_INTERNAL_ERROR: ... (suberror 1), data [...]". */
    static String describe(ExitReason reason, int code, KvmRun run) {
        return switch (reason) {
            case HLT -> "";
            case SHUTDOWN -> "triple fault (KVM_EXIT_SHUTDOWN)";
            case FAIL_ENTRY -> String.format("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%x on host cpu %d",
                    run.u64(KvmRun.FAIL_ENTRY_REASON), run.u32(KvmRun.FAIL_ENTRY_CPU));
            case INTERNAL_ERROR -> internalError(run);
            case SYSTEM_EVENT -> systemEvent(run);
            case UNKNOWN -> String.format("KVM_EXIT_UNKNOWN (hardware exit reason 0x%x) is not handled by jvmm",
                    run.u64(KvmRun.HW_EXIT_REASON));
            case UNRECOGNIZED -> "KVM exit reason " + code + " is not handled by jvmm";
            default -> "KVM_EXIT_" + reason.name() + " is not handled by jvmm";
        };
    }

    private static String internalError(KvmRun run) {
        int suberror = run.u32(KvmRun.INTERNAL_SUBERROR);
        String what = switch (suberror) {
            case 1 -> "instruction emulation failed";
            case 2 -> "simultaneous exceptions";
            case 3 -> "exception while delivering an event";
            case 4 -> "unexpected exit reason";
            default -> "suberror " + suberror;
        };
        return "KVM_EXIT_INTERNAL_ERROR: " + what + " (suberror " + suberror + ")"
                + dataWords(run, KvmRun.INTERNAL_NDATA, KvmRun.INTERNAL_DATA);
    }

    private static String systemEvent(KvmRun run) {
        int type = run.u32(KvmRun.SYSTEM_EVENT_TYPE);
        String what = switch (type) {
            case 1 -> "shutdown";
            case 2 -> "reset";
            case 3 -> "crash";
            case 4 -> "wakeup";
            case 5 -> "suspend";
            default -> "type " + type;
        };
        return "KVM_EXIT_SYSTEM_EVENT: " + what + dataWords(run, KvmRun.SYSTEM_EVENT_NDATA, KvmRun.SYSTEM_EVENT_DATA);
    }

    /** ", data [0x.., ..]" for an exit's u64 array, bounded by the exit union. */
    private static String dataWords(KvmRun run, int ndataOffset, int dataOffset) {
        long n = Integer.toUnsignedLong(run.u32(ndataOffset));
        long max = (KvmRun.EXIT_UNION_END - dataOffset) / 8;
        if (n == 0) {
            return "";
        }
        StringBuilder sb = new StringBuilder(", data [");
        for (int i = 0; i < Math.min(n, max); i++) {
            sb.append(i == 0 ? "" : ", ").append("0x").append(Long.toHexString(run.u64(dataOffset + 8 * i)));
        }
        return sb.append(']').toString();
    }
}
