package io.jvmm.monitor.qmp;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jvmm.monitor.RunState;
import io.jvmm.monitor.qmp.QmpCommand.Result;

/** {@code query-status}, {@code stop}, {@code cont}, {@code system_reset}, {@code quit}. */
final class RunControl {
    private final QmpContext context;

    RunControl(QmpContext context) {
        this.context = context;
    }

    Result queryStatus(Arguments a) {
        RunState state = context.machine().runState();
        ObjectNode status = QmpJson.object();
        status.put("status", state.qapiName());
        status.put("singlestep", false);   // QEMU 7.2's reply has it (removed in QEMU 9); jvmm never single-steps
        status.put("running", state.running());
        return Result.of(status);
    }

    Result stop(Arguments a) {
        context.machine().stop();
        return Result.empty();
    }

    Result cont(Arguments a) {
        context.machine().cont();
        return Result.empty();
    }

    Result systemReset(Arguments a) {
        context.machine().systemReset();
        return Result.empty();
    }

    /** Answers first, then ends the machine (SHUTDOWN follows the reply, as in QEMU). */
    Result quit(Arguments a) {
        return Result.emptyThen(() -> context.machine().quit());
    }
}
