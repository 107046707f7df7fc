// spanthreads: two threads, each inside its own span (debugai_span_enter),
// contend on a mutex held across a sleep (futex waits) and fdatasync their
// own file. Prints "tid <tid> span <hex>" per thread, waits for a line on
// stdin before running, prints "done" and exits at the next line or EOF.
// Usage: spanthreads DIR
#define _GNU_SOURCE
#define DEBUGAI_HINT_IMPLEMENTATION
#include "debugai_hint.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t start;
static const char *dir;

static void *run(void *arg)
{
	uint64_t i = (uint64_t)(uintptr_t)arg;
	uint64_t span = 0x5c00000000000000ull | (i + 1);
	char path[4096], buf[4096];
	snprintf(path, sizeof path, "%s/%llu", dir, (unsigned long long)i);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0)
		return NULL;
	memset(buf, 'x', sizeof buf);
	pthread_mutex_lock(&out);
	printf("tid %ld span %016llx\n", (long)syscall(SYS_gettid), (unsigned long long)span);
	fflush(stdout);
	pthread_mutex_unlock(&out);
	pthread_barrier_wait(&start);
	debugai_span_enter(0xdeb1000000000000ull | i, 0x1111222233334444ull, span);
	for (int k = 0; k < 20; k++) {
		pthread_mutex_lock(&mu);
		usleep(500);
		pthread_mutex_unlock(&mu);
	}
	if (write(fd, buf, sizeof buf) != sizeof buf || fdatasync(fd) != 0)
		perror("fdatasync");
	debugai_span_exit(0xdeb1000000000000ull | i, 0x1111222233334444ull, span);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	char line[64];
	if (argc != 2)
		return 2;
	dir = argv[1];
	pthread_barrier_init(&start, NULL, 3);
	pthread_t t[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	pthread_barrier_wait(&start);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	fflush(stdout);
	fgets(line, sizeof line, stdin);
	return 0;
}
