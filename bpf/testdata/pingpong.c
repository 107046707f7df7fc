// Futex ping-pong: two threads hand a turn back and forth through one
// futex word, ROUNDS times each (argv[1], default 100000): every hand-off
// is a FUTEX_WAKE and usually a FUTEX_WAIT. Prints "ready", waits for a
// line on stdin, runs, prints "done". With "pin" as argv[2] both threads
// run on CPU 0 (hand-offs without cross-CPU wake-ups).
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic int turn;
static long rounds = 100000;

static void *player(void *arg)
{
	int me = (int)(long)arg, other = 1 - me;
	for (long i = 0; i < rounds; i++) {
		int t;
		while ((t = atomic_load(&turn)) != me)
			syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, t, NULL, NULL, 0);
		atomic_store(&turn, other);
		syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[2];
	char line[16];

	if (argc > 1)
		rounds = atol(argv[1]);
	if (argc > 2 && strcmp(argv[2], "pin") == 0) {
		cpu_set_t cpus;
		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
		if (sched_setaffinity(0, sizeof(cpus), &cpus) != 0)
			return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (long i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, player, (void *)i) != 0)
			return 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	return 0;
}
