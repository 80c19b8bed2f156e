package io.jvmm.tests.virtio;

import io.jvmm.testkit.driver.virtio.VirtioFeatureBits;
import io.jvmm.testkit.driver.virtio.VirtioPciDriver;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static io.jvmm.testkit.driver.virtio.VirtioStatus.*;
import static org.junit.jupiter.api.Assertions.*;

/** Step by step through virtio 1.x 3.1.1 with the raw registers: FEATURES_OK sticks only for acceptable features. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FeatureNegotiationTest {
    @TempDir
    Path dir;

    private static int offerFeatures(VirtioPciDriver dev, long features) {
        dev.reset();
        dev.writeStatus(ACKNOWLEDGE);
        dev.writeStatus(ACKNOWLEDGE | DRIVER);
        dev.writeDriverFeatures(features);
        dev.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        return dev.status();
    }

    @Test
    void featuresOkSticksOnlyForOfferedFeaturesWithVersion1() {
        try (VirtioTestBed bed = VirtioTestBed.create(dir)) {
            VirtioPciDriver dev = bed.blk.device();
            long offered = dev.deviceFeatures();
            assertEquals(ACKNOWLEDGE | DRIVER | FEATURES_OK, offerFeatures(dev, offered));
            assertEquals(ACKNOWLEDGE | DRIVER, offerFeatures(dev, offered & ~VirtioFeatureBits.VERSION_1),
                    "a legacy (pre-1.0) driver must be refused");
            long notOffered = Long.lowestOneBit(~offered & 0xFFFF_FFFFL);
            assertEquals(ACKNOWLEDGE | DRIVER, offerFeatures(dev, offered | notOffered),
                    "a feature the device did not offer must be refused");
            // The sequence still completes properly afterwards.
            bed.blk.initialize();
            assertEquals(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK, dev.status());
            assertTrue(bed.blk.write(0, new byte[512]).ok());
        }
    }
}
