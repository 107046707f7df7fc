// Two threads contending on one pthread mutex (glibc). Prints the mutex
// address and both thread ids, waits for a line on stdin (the collector is
// attached by then), then runs and prints "done".
//
// Contention is forced, whatever the scheduling: in each round one thread
// holds the mutex until /proc/self/task/<tid>/syscall shows the other
// asleep in futex(2) on it (the kernel reports a syscall only for a task
// that is not running: the wait is queued and needs a wake), holds it
// HOLD_NS longer, and unlocks, waking the other. Roles alternate, so each
// thread waits exactly ROUNDS/2 times, each time woken by the other.
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
static long tids[2];

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

/* blocked_on_mu reports whether thread tid sleeps in futex(2) on mu. */
static int blocked_on_mu(long tid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int ok = 0;
	if (fgets(line, sizeof line, f)) {
		long nr;
		unsigned long a0;
		ok = sscanf(line, "%ld %lx", &nr, &a0) == 2 && nr == SYS_futex && a0 == (unsigned long)&mu;
	}
	fclose(f);
	return ok;
}

static void *worker(void *arg)
{
	int me = (int)(long)arg;

	tids[me] = syscall(SYS_gettid);
	printf("tid %ld\n", tids[me]);
	fflush(stdout);
	pthread_barrier_wait(&start);
	for (int i = 0; i < ROUNDS; i++) {
		if (i % 2 == me) {
			pthread_mutex_lock(&mu);
			__atomic_store_n(&held, i + 1, __ATOMIC_RELEASE);
			while (!blocked_on_mu(__atomic_load_n(&tids[1 - me], __ATOMIC_ACQUIRE)))
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
