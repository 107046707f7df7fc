// abba: two global pthread mutexes taken in both orders by two threads,
// one after the other (never deadlocks). Prints the mutexes' addresses,
// waits for a line on stdin, runs, prints "done", and exits at the next
// line or EOF. Lines marked "site:" are what the lock-order test expects.
#include <pthread.h>
#include <stdio.h>
#include <time.h>

pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t mutex_b = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t mutex_c = PTHREAD_MUTEX_INITIALIZER;

// timed_under_a attempts mutex_c with a timeout while holding mutex_a: an
// order edge, whether or not the attempt succeeds.
__attribute__((noinline)) static void timed_under_a(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	pthread_mutex_lock(&mutex_a);
	if (pthread_mutex_timedlock(&mutex_c, &ts) == 0) // site:A-C-timed
		pthread_mutex_unlock(&mutex_c);
	pthread_mutex_unlock(&mutex_a);
}

__attribute__((noinline)) static void lock_ab(void)
{
	pthread_mutex_lock(&mutex_a); // site:AB-held
	pthread_mutex_lock(&mutex_b); // site:AB-acquiring
	pthread_mutex_unlock(&mutex_b);
	pthread_mutex_unlock(&mutex_a);
}

__attribute__((noinline)) static void lock_ba(void)
{
	pthread_mutex_lock(&mutex_b); // site:BA-held
	pthread_mutex_lock(&mutex_a); // site:BA-acquiring
	pthread_mutex_unlock(&mutex_a);
	pthread_mutex_unlock(&mutex_b);
}

static void *run(void *arg)
{
	for (int i = 0; i < 100; i++) {
		if (arg) {
			lock_ab();
			timed_under_a();
		} else {
			lock_ba();
		}
	}
	return NULL;
}

int main(void)
{
	char line[64];
	printf("mutex_a %p\nmutex_b %p\nmutex_c %p\n", (void *)&mutex_a, (void *)&mutex_b, (void *)&mutex_c);
	if (pthread_mutex_trylock(&mutex_c) == 0) // nothing held: no edge
		pthread_mutex_unlock(&mutex_c);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		return 1;
	pthread_t t;
	pthread_create(&t, NULL, run, (void *)1);
	pthread_join(t, NULL);
	pthread_create(&t, NULL, run, NULL);
	pthread_join(t, NULL);
	printf("done\n");
	fflush(stdout);
	fgets(line, sizeof line, stdin);
	return 0;
}
