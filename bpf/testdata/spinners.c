// Four threads pinned to CPU 0, busy for 300 ms each: every thread spends
// most of that time runnable but waiting for the CPU. Waits for a line on
// stdin before starting the threads, then prints "done".
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#define THREADS 4
#define BUSY_NS 300000000L

static volatile unsigned long shared;

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *spin(void *arg)
{
	(void)arg;
	long end = now_ns() + BUSY_NS;
	while (now_ns() < end)
		shared++;
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	cpu_set_t cpus;
	char line[16];

	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) != 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, spin, NULL) != 0)
			return 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	return 0;
}
