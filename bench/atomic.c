/* Atomic-increment throughput (bench/smp.sh): two threads each add 1 to one shared counter
 * N times with __atomic_fetch_add (lwarx/stwcx. on Power); prints million increments per second
 * and the total, which must be exactly 2 * N. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define N 2000000L

static long counter;

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < N; i++)
        __atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void)
{
    struct timespec t0, t1;
    pthread_t a, b;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&a, NULL, worker, NULL);
    pthread_create(&b, NULL, worker, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("BENCH mops=%.2f total=%ld\n", 2.0 * N / s / 1e6, counter);
    return counter == 2 * N ? 0 : 1;
}
