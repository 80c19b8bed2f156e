/*
 * jvmm-blkread: a small block-read load for the Linux test guests (their busybox has no fio).
 * Threads of synchronous preads on one block device, each thread one request in flight, so
 * -j N keeps N requests in flight (as fio --numjobs=N --iodepth=1). Random 4 KiB-aligned
 * offsets by default, sequential with -s; O_DIRECT with -d (the guest's page cache then holds
 * nothing and every read reaches the device).
 *
 *   jvmm-blkread [-d] [-s] [-b BYTES] [-j THREADS] [-t SECONDS] DEVICE
 *
 * Prints one line:
 *   BLKREAD dev=vdb mode=randread direct=1 bs=4096 jobs=16 ops=123456 secs=5.000 iops=24691 mbps=101.1
 * and exits 0, or names what failed and exits 1. Built static (gcc -static -pthread) so it runs
 * in the initramfs. Written for jvmm's benchmarks (scripts/vfio-user-rig/bench-blk).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_JOBS 256

static const char *device;
static int fd;
static int direct;
static int sequential;
static long block = 4096;
static int jobs = 1;
static double seconds = 5.0;
static uint64_t capacity;
static volatile int stop;

struct job {
    pthread_t thread;
    int index;
    uint64_t ops;
    int error;
    uint64_t failed_at;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void *run(void *arg)
{
    struct job *j = arg;
    void *buf;
    uint64_t blocks = capacity / block;
    uint64_t seed = 0x9E3779B97F4A7C15ULL * (j->index + 1);
    /* Sequential jobs each read their own stretch of the device, from its start. */
    uint64_t next = sequential ? blocks / jobs * j->index : 0;

    if (posix_memalign(&buf, 4096, block) != 0) {
        j->error = ENOMEM;
        return NULL;
    }
    while (!stop) {
        uint64_t b;
        if (sequential) {
            b = next++;
            if (next >= blocks) {
                next = 0;
            }
        } else {
            b = xorshift(&seed) % blocks;
        }
        ssize_t n = pread(fd, buf, block, (off_t)(b * block));
        if (n != block) {
            j->error = n < 0 ? errno : EIO;
            j->failed_at = b * block;
            break;
        }
        j->ops++;
    }
    free(buf);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr, "usage: jvmm-blkread [-d] [-s] [-b BYTES] [-j THREADS (1..%d)] [-t SECONDS] DEVICE\n", MAX_JOBS);
    exit(1);
}

int main(int argc, char **argv)
{
    static struct job all[MAX_JOBS];
    int opt;

    while ((opt = getopt(argc, argv, "dsb:j:t:")) != -1) {
        switch (opt) {
        case 'd': direct = 1; break;
        case 's': sequential = 1; break;
        case 'b': block = strtol(optarg, NULL, 0); break;
        case 'j': jobs = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        default: usage();
        }
    }
    if (optind != argc - 1 || jobs < 1 || jobs > MAX_JOBS || block < 512 || block % 512 != 0 || seconds <= 0) {
        usage();
    }
    device = argv[optind];
    fd = open(device, O_RDONLY | (direct ? O_DIRECT : 0));
    if (fd < 0) {
        fprintf(stderr, "jvmm-blkread: cannot open %s: %s\n", device, strerror(errno));
        return 1;
    }
    if (ioctl(fd, BLKGETSIZE64, &capacity) != 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0) {
            fprintf(stderr, "jvmm-blkread: cannot size %s: %s\n", device, strerror(errno));
            return 1;
        }
        capacity = (uint64_t)end;
    }
    if (capacity < (uint64_t)block * jobs) {
        fprintf(stderr, "jvmm-blkread: %s holds %llu bytes, too few for %d jobs of %ld-byte reads\n", device,
                (unsigned long long)capacity, jobs, block);
        return 1;
    }
    double start = now();
    for (int i = 0; i < jobs; i++) {
        all[i].index = i;
        if (pthread_create(&all[i].thread, NULL, run, &all[i]) != 0) {
            fprintf(stderr, "jvmm-blkread: cannot start thread %d\n", i);
            return 1;
        }
    }
    struct timespec nap = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR) {
    }
    stop = 1;
    uint64_t ops = 0;
    int failed = 0;
    for (int i = 0; i < jobs; i++) {
        pthread_join(all[i].thread, NULL);
        ops += all[i].ops;
        if (all[i].error) {
            fprintf(stderr, "jvmm-blkread: %s: read of %ld bytes at %llu failed: %s\n", device, block,
                    (unsigned long long)all[i].failed_at, strerror(all[i].error));
            failed = 1;
        }
    }
    double secs = now() - start;
    const char *name = strrchr(device, '/') ? strrchr(device, '/') + 1 : device;
    printf("BLKREAD dev=%s mode=%s direct=%d bs=%ld jobs=%d ops=%llu secs=%.3f iops=%.0f mbps=%.1f\n", name,
           sequential ? "read" : "randread", direct, block, jobs, (unsigned long long)ops, secs, ops / secs,
           ops * (double)block / secs / 1e6);
    return failed;
}
