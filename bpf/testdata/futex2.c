// One thread waits with futex_wait(2) on w0, then with futex_waitv(2) on
// {w1, w2}; the main thread wakes it each time, once it is asleep, through
// w0 and then w2. Prints "w0 <addr> w2 <addr> tid <waiter> waker <main>",
// waits for a line on stdin, runs, prints "done".
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef SYS_futex_wait
#define SYS_futex_wait 455
#endif
#define FUTEX2_SIZE_U32 0x02
#define FUTEX2_PRIVATE 128
#define HOLD_NS 200000

static uint32_t w0, w1, w2;
static int phase, go;
static volatile long waiter_tid;

static void *waiter(void *arg)
{
	(void)arg;
	waiter_tid = syscall(SYS_gettid);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		sched_yield();
	while (__atomic_load_n(&w0, __ATOMIC_ACQUIRE) == 0)
		syscall(SYS_futex_wait, &w0, 0UL, 0xffffffffUL, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE, NULL, 0);
	__atomic_store_n(&phase, 1, __ATOMIC_RELEASE);
	struct futex_waitv ws[2];
	memset(ws, 0, sizeof(ws));
	ws[0].uaddr = (uintptr_t)&w1;
	ws[0].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
	ws[1].uaddr = (uintptr_t)&w2;
	ws[1].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
	while (__atomic_load_n(&w2, __ATOMIC_ACQUIRE) == 0)
		syscall(SYS_futex_waitv, ws, 2, 0, NULL, 0);
	return NULL;
}

// asleep reports whether thread tid is in state S (sleeping).
static int asleep(long tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void spin(long ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

int main(void)
{
	pthread_t t;
	char line[16];

	if (pthread_create(&t, NULL, waiter, NULL) != 0)
		return 1;
	while (!waiter_tid)
		;
	printf("w0 %p w2 %p tid %ld waker %ld\n", (void *)&w0, (void *)&w2, waiter_tid, (long)syscall(SYS_gettid));
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	while (!asleep(waiter_tid))
		;
	spin(HOLD_NS);
	__atomic_store_n(&w0, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &w0, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	while (!__atomic_load_n(&phase, __ATOMIC_ACQUIRE) || !asleep(waiter_tid))
		;
	spin(HOLD_NS);
	__atomic_store_n(&w2, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &w2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(t, NULL);
	printf("done\n");
	return 0;
}
