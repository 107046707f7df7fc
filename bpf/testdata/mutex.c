// Two threads contending on one pthread mutex (glibc). Prints the mutex
// address and both thread ids, waits for a line on stdin (the collector is
// attached by then), then runs and prints "done".
//
// Contention is forced, whatever the scheduling: in each round one thread
// holds the mutex until it sees the other blocking on it (glibc sets the
// lock word to 2 just before FUTEX_WAIT), holds it HOLD_NS longer, and
// unlocks, waking the other. Roles alternate, so each thread waits about
// ROUNDS/2 times, each time woken by the other.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 60
#define HOLD_NS 200000 /* 200 us */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start;
static int held;     /* round + 1 once the round's holder has the mutex */
static int finished; /* threads done with their rounds, summed */

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void wait_until(int *p, int v)
{
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < v)
		sched_yield();
}

static void *worker(void *arg)
{
	int me = (int)(long)arg;

	printf("tid %ld\n", (long)syscall(SYS_gettid));
	fflush(stdout);
	pthread_barrier_wait(&start);
	for (int i = 0; i < ROUNDS; i++) {
		if (i % 2 == me) {
			pthread_mutex_lock(&mu);
			__atomic_store_n(&held, i + 1, __ATOMIC_RELEASE);
			while (__atomic_load_n(&mu.__data.__lock, __ATOMIC_ACQUIRE) != 2)
				sched_yield();
			long end = now_ns() + HOLD_NS;
			while (now_ns() < end)
				;
			pthread_mutex_unlock(&mu);
		} else {
			wait_until(&held, i + 1);
			pthread_mutex_lock(&mu);
			pthread_mutex_unlock(&mu);
		}
		__atomic_add_fetch(&finished, 1, __ATOMIC_ACQ_REL);
		wait_until(&finished, 2 * (i + 1));
	}
	return NULL;
}

int main(void)
{
	pthread_t t[2];
	char line[16];

	pthread_barrier_init(&start, NULL, 3);
	printf("mutex %p\n", (void *)&mu);
	fflush(stdout);
	for (long i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
			return 1;
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pthread_barrier_wait(&start);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	return 0;
}
