/*
 * jvmm-load: a small static tool for the Linux test guest (busybox has no fio, no setfattr).
 *
 *   jvmm-load pread FILE THREADS SECONDS BLOCK seq|rand   threads of O_DIRECT pread (queue depth = threads);
 *                                                         prints "RESULT bytes=N ops=N seconds=S mbps=X iops=Y"
 *   jvmm-load create DIR N                                creates N files in DIR and stats each
 *   jvmm-load count DIR                                   lists DIR (readdir only, no stat) and prints the entries
 *   jvmm-load setxattr FILE NAME VALUE | getxattr FILE NAME
 *   jvmm-load unlinked FILE                               open, write, unlink, then fstat/read/write/ftruncate the fd
 *
 * Built static by tests/guest/Makefile (build/jvmm-load); exit status 0 on success.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

struct worker {
    const char *file;
    int random;
    size_t block;
    off_t size;
    double end;
    unsigned seed;
    int index;
    int threads;
    uint64_t bytes;
    uint64_t ops;
    int error;
};

static void *reader(void *arg) {
    struct worker *w = arg;
    int fd = open(w->file, O_RDONLY | O_DIRECT);
    if (fd < 0) {
        fd = open(w->file, O_RDONLY);   /* a file system without O_DIRECT */
    }
    if (fd < 0) {
        w->error = errno;
        return NULL;
    }
    void *buf;
    if (posix_memalign(&buf, 4096, w->block) != 0) {
        w->error = ENOMEM;
        close(fd);
        return NULL;
    }
    off_t blocks = w->size / (off_t) w->block;
    off_t next = (blocks / w->threads) * w->index;
    while (now() < w->end) {
        off_t b = w->random ? (off_t) (rand_r(&w->seed) % (blocks ? blocks : 1)) : next;
        ssize_t n = pread(fd, buf, w->block, b * (off_t) w->block);
        if (n < 0) {
            w->error = errno;
            break;
        }
        w->bytes += (uint64_t) n;
        w->ops++;
        next = (next + 1) % (blocks ? blocks : 1);
    }
    free(buf);
    close(fd);
    return NULL;
}

static int cmd_pread(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: jvmm-load pread FILE THREADS SECONDS BLOCK seq|rand\n");
        return 2;
    }
    int threads = atoi(argv[3]);
    double seconds = atof(argv[4]);
    size_t block = (size_t) atol(argv[5]);
    struct stat st;
    if (stat(argv[2], &st) != 0 || threads < 1 || threads > 256 || block < 512) {
        fprintf(stderr, "jvmm-load: bad file or arguments: %s\n", strerror(errno));
        return 2;
    }
    struct worker *w = calloc((size_t) threads, sizeof *w);
    pthread_t *t = calloc((size_t) threads, sizeof *t);
    double start = now();
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){ .file = argv[2], .random = strcmp(argv[6], "rand") == 0, .block = block, .size = st.st_size,
                                .end = start + seconds, .seed = 1234u + (unsigned) i, .index = i, .threads = threads };
        pthread_create(&t[i], NULL, reader, &w[i]);
    }
    uint64_t bytes = 0, ops = 0;
    int error = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        bytes += w[i].bytes;
        ops += w[i].ops;
        if (w[i].error) {
            error = w[i].error;
        }
    }
    double took = now() - start;
    if (error) {
        fprintf(stderr, "jvmm-load: pread: %s\n", strerror(error));
        return 1;
    }
    printf("RESULT bytes=%llu ops=%llu seconds=%.3f mbps=%.2f iops=%.1f\n", (unsigned long long) bytes,
           (unsigned long long) ops, took, bytes / took / 1e6, ops / took);
    return 0;
}

static int cmd_create(int argc, char **argv) {
    if (argc != 4) {
        return 2;
    }
    int n = atoi(argv[3]);
    char path[4096];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/f%05d", argv[2], i);
        int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        if (fd < 0 || write(fd, path, strlen(path)) < 0 || close(fd) != 0) {
            fprintf(stderr, "jvmm-load: create %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/f%05d", argv[2], i);
        if (stat(path, &st) != 0 || st.st_size != (off_t) strlen(path)) {
            fprintf(stderr, "jvmm-load: stat %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    printf("created and stat'ed %d files\n", n);
    return 0;
}

static int cmd_unlinked(int argc, char **argv) {
    if (argc != 3) {
        return 2;
    }
    int fd = open(argv[2], O_CREAT | O_TRUNC | O_RDWR, 0600);
    char buf[16] = {0};
    struct stat st;
    if (fd < 0 || write(fd, "0123456789", 10) != 10 || unlink(argv[2]) != 0) {
        fprintf(stderr, "jvmm-load: unlinked: setup: %s\n", strerror(errno));
        return 1;
    }
    if (access(argv[2], F_OK) == 0) {
        fprintf(stderr, "jvmm-load: unlinked: the name is still there\n");
        return 1;
    }
    if (fstat(fd, &st) != 0 || st.st_size != 10 || pread(fd, buf, 3, 3) != 3 || memcmp(buf, "345", 3) != 0
        || pwrite(fd, "ab", 2, 10) != 2 || ftruncate(fd, 4) != 0 || fstat(fd, &st) != 0 || st.st_size != 4) {
        fprintf(stderr, "jvmm-load: unlinked: using the fd: %s (size %lld)\n", strerror(errno), (long long) st.st_size);
        return 1;
    }
    close(fd);
    printf("open-unlink-fstat ok\n");
    return 0;
}

static int cmd_count(int argc, char **argv) {
    if (argc != 3) {
        return 2;
    }
    DIR *d = opendir(argv[2]);
    if (!d) {
        fprintf(stderr, "jvmm-load: opendir %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    long n = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            n++;
        }
    }
    if (errno != 0) {
        fprintf(stderr, "jvmm-load: readdir %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    closedir(d);
    printf("%ld\n", n);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "count") == 0) {
        return cmd_count(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "pread") == 0) {
        return cmd_pread(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "create") == 0) {
        return cmd_create(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "unlinked") == 0) {
        return cmd_unlinked(argc, argv);
    }
    if (argc == 5 && strcmp(argv[1], "setxattr") == 0) {
        if (setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0) != 0) {
            fprintf(stderr, "jvmm-load: setxattr: %s\n", strerror(errno));
            return 1;
        }
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "getxattr") == 0) {
        char value[4096];
        ssize_t n = getxattr(argv[2], argv[3], value, sizeof value - 1);
        if (n < 0) {
            fprintf(stderr, "jvmm-load: getxattr: %s\n", strerror(errno));
            return 1;
        }
        value[n] = 0;
        printf("%s\n", value);
        return 0;
    }
    fprintf(stderr, "usage: jvmm-load pread|create|count|unlinked|setxattr|getxattr ...\n");
    return 2;
}
