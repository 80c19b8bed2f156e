package io.jvmm.testkit.fuzz;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jvmm.testkit.driver.fs.FsResponse;
import io.jvmm.testkit.driver.fs.FuseAttrOut;
import io.jvmm.testkit.driver.fs.FuseCreated;
import io.jvmm.testkit.driver.fs.FuseDirent;
import io.jvmm.testkit.driver.fs.FuseEntryOut;
import io.jvmm.testkit.driver.fs.FuseException;
import io.jvmm.testkit.driver.fs.FuseInitOut;
import io.jvmm.testkit.driver.fs.FuseOpenOut;
import io.jvmm.testkit.driver.fs.FuseProtocolException;
import io.jvmm.testkit.driver.fs.FuseReply;
import io.jvmm.testkit.driver.fs.FuseRequest;
import io.jvmm.testkit.driver.fs.FuseRequests;
import io.jvmm.testkit.driver.fs.FuseWriteOut;
import java.util.List;
import java.util.function.Consumer;

/**
 * Fuzz target for what a virtio-fs device (a back-end such as virtiofsd, through jvmm) writes as a
 * reply: {@link FuseReply#parse} then every body decoder of the guest's FUSE client. A bad reply
 * must end as a {@link FuseProtocolException} (or a {@link FuseException} for a well-formed error);
 * anything else thrown is a bug. Regression inputs in {@code FuseReplyFuzzTestInputs/reply/}.
 */
class FuseReplyFuzzTest {
    private static final List<FuseRequest> REQUESTS = List.of(FuseRequests.init(7, 31, 65536, 0), FuseRequests.lookup(1, "a"),
            FuseRequests.getattr(1, 0), FuseRequests.open(2, 0), FuseRequests.read(2, 1, 0, 4096), FuseRequests.readdir(1, 1, 0, 4096),
            FuseRequests.write(2, 1, 0, new byte[] {1}), FuseRequests.create(1, "b", 0, 0644, 0), FuseRequests.unlink(1, "a"));

    @FuzzTest(maxDuration = "30s")
    void reply(FuzzedDataProvider data) {
        FuseRequest request = data.pickValue(REQUESTS);
        long unique = data.consumeBoolean() ? 42 : data.consumeLong();
        int capacity = data.consumeInt(0, 1 << 16);
        long used = data.consumeBoolean() ? data.consumeLong(0, capacity) : data.consumeLong();
        byte[] written = data.consumeRemainingAsBytes();
        FuseReply r;
        try {
            r = FuseReply.parse(new FsResponse(written, used, capacity), request, unique);
        } catch (FuseProtocolException | FuseException expected) {
            return;
        }
        byte[] body = r.body();
        attempt(body, FuseInitOut::decode);
        attempt(body, FuseEntryOut::decode);
        attempt(body, FuseAttrOut::decode);
        attempt(body, FuseOpenOut::decode);
        attempt(body, FuseWriteOut::decode);
        attempt(body, FuseCreated::decode);
        attempt(body, FuseDirent::decodeAll);
    }

    private static void attempt(byte[] body, Consumer<byte[]> decoder) {
        try {
            decoder.accept(body);
        } catch (FuseProtocolException expected) {
            // malformed body, reported as such
        }
    }
}
