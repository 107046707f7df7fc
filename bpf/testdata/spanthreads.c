// spanthreads: two threads, each inside its own span (debugai_span_enter),
// take turns blocking on a mutex the other holds, then fdatasync their own
// file. Prints "mutex <addr>" and "tid <tid> span <hex>" per thread, waits
// for a line on stdin before running, prints "done" and exits at the next
// line or EOF. Usage: spanthreads DIR
//
// Nothing is left to the scheduler: the main thread drives every step
// through pipes (a blocked read is not a futex wait). In each of ROUNDS
// rounds one thread locks the mutex and reports it; the other then asks
// for it; the main thread reads /proc/self/task/<tid>/syscall until that
// thread is blocked in futex(2) on the mutex, waits HOLD_US more, and
// tells the holder to unlock. So each thread waits on the mutex exactly
// ROUNDS/2 times, each wait lasting at least HOLD_US, and makes no other
// futex call inside its span.
#define _GNU_SOURCE
#define DEBUGAI_HINT_IMPLEMENTATION
#include "debugai_hint.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 8
#define HOLD_US 300

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const char *dir;
static int inbox[2][2];  /* main -> thread i */
static int outbox[2];    /* threads -> main */
static long tids[2];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static char get(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		die("read");
	return c;
}

static void put(int fd, char c)
{
	if (write(fd, &c, 1) != 1)
		die("write");
}

static void *run(void *arg)
{
	uint64_t i = (uint64_t)(uintptr_t)arg;
	uint64_t span = 0x5c00000000000000ull | (i + 1);
	char path[4096], buf[4096];
	snprintf(path, sizeof path, "%s/%llu", dir, (unsigned long long)i);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		die("open");
	memset(buf, 'x', sizeof buf);
	tids[i] = syscall(SYS_gettid);
	put(outbox[1], 'T');
	get(inbox[i][0]); /* start */
	debugai_span_enter(0xdeb1000000000000ull | i, 0x1111222233334444ull, span);
	for (;;) {
		char c = get(inbox[i][0]);
		if (c == 'H') { /* hold until told */
			pthread_mutex_lock(&mu);
			put(outbox[1], 'L');
			if (get(inbox[i][0]) != 'U')
				die("protocol");
			pthread_mutex_unlock(&mu);
		} else if (c == 'W') { /* wait for the holder */
			pthread_mutex_lock(&mu);
			pthread_mutex_unlock(&mu);
			put(outbox[1], 'A');
		} else {
			break;
		}
	}
	if (write(fd, buf, sizeof buf) != sizeof buf || fdatasync(fd) != 0)
		die("fdatasync");
	debugai_span_exit(0xdeb1000000000000ull | i, 0x1111222233334444ull, span);
	close(fd);
	put(outbox[1], 'F');
	return NULL;
}

/* blocked_on_mu reports whether thread tid is blocked in futex(2) on mu. */
static int blocked_on_mu(long tid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/self/task/%ld/syscall", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		die("open syscall");
	int ok = 0;
	if (fgets(line, sizeof line, f)) {
		long nr;
		unsigned long a0;
		ok = sscanf(line, "%ld %lx", &nr, &a0) == 2 && nr == SYS_futex && a0 == (unsigned long)&mu;
	}
	fclose(f);
	return ok;
}

int main(int argc, char **argv)
{
	char line[64];
	if (argc != 2)
		return 2;
	dir = argv[1];
	if (pipe(outbox) || pipe(inbox[0]) || pipe(inbox[1]))
		die("pipe");
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++) {
		pthread_create(&t[i], NULL, run, (void *)i);
		get(outbox[0]);
	}
	printf("mutex %p\n", (void *)&mu);
	for (int i = 0; i < 2; i++)
		printf("tid %ld span %016llx\n", tids[i], 0x5c00000000000000ull | (unsigned long long)(i + 1));
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	for (int i = 0; i < 2; i++)
		put(inbox[i][1], 'S');
	for (int r = 0; r < ROUNDS; r++) {
		int h = r % 2, w = 1 - h;
		put(inbox[h][1], 'H');
		if (get(outbox[0]) != 'L')
			die("protocol");
		put(inbox[w][1], 'W');
		while (!blocked_on_mu(tids[w]))
			usleep(50);
		usleep(HOLD_US);
		put(inbox[h][1], 'U');
		if (get(outbox[0]) != 'A')
			die("protocol");
	}
	for (int i = 0; i < 2; i++) {
		put(inbox[i][1], 'X');
		get(outbox[0]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	fflush(stdout);
	fgets(line, sizeof line, stdin);
	return 0;
}
