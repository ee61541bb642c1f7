/* 4 KiB random reads with O_DIRECT from a block device, for bench/disk.sh: a small fio-like loop.
 * Usage: randread DEVICE COUNT SEED. Prints "IOPS <n> <seconds>". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: randread DEVICE COUNT SEED\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    unsigned long long size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0 || size < 4096) {
        perror("BLKGETSIZE64");
        return 1;
    }
    long n = atol(argv[2]);
    unsigned long long x = strtoull(argv[3], 0, 0) | 1, blocks = size / 4096;
    void *buf;
    if (posix_memalign(&buf, 4096, 4096))
        return 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if (pread(fd, buf, 4096, (off_t)(x % blocks) * 4096) != 4096) {
            perror("pread");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    printf("IOPS %.0f %.3f\n", n / s, s);
    return 0;
}
