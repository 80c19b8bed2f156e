/*
 * What waking another thread costs on this host: two threads bounce an eventfd N times (write
 * one, read the other) and the time per round trip is printed. A read at 1 in flight through a
 * device's context is one such round trip plus the work, so this is the floor under
 * PERFORMANCE.md's 1-in-flight figures. Run by scripts/host-wakeup-cost.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static int ping, pong;
static long rounds;

static void must(int ok, const char *what) {
    if (!ok) {
        perror(what);
        exit(1);
    }
}

static void *peer(void *unused) {
    uint64_t v;
    for (long i = 0; i < rounds; i++) {
        must(read(ping, &v, 8) == 8, "read");
        v = 1;
        must(write(pong, &v, 8) == 8, "write");
    }
    return unused;
}

int main(int argc, char **argv) {
    rounds = argc > 1 ? atol(argv[1]) : 20000;
    must(rounds > 0, "rounds");
    ping = eventfd(0, 0);
    pong = eventfd(0, 0);
    must(ping >= 0 && pong >= 0, "eventfd");
    pthread_t t;
    must(pthread_create(&t, NULL, peer, NULL) == 0, "pthread_create");
    struct timespec s, e;
    uint64_t v;
    clock_gettime(CLOCK_MONOTONIC, &s);
    for (long i = 0; i < rounds; i++) {
        v = 1;
        must(write(ping, &v, 8) == 8, "write");
        must(read(pong, &v, 8) == 8, "read");
    }
    clock_gettime(CLOCK_MONOTONIC, &e);
    pthread_join(t, NULL);
    printf("%.2f\n", ((e.tv_sec - s.tv_sec) * 1e9 + (e.tv_nsec - s.tv_nsec)) / rounds / 1000.0);
    return 0;
}
