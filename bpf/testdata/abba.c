// abba: two global pthread mutexes taken in both orders by two threads,
// one after the other (never deadlocks). Prints the mutexes' addresses,
// waits for a line on stdin, runs, prints "done", and exits at the next
// line or EOF. Lines marked "site:" are what the lock-order test expects.
#include <pthread.h>
#include <stdio.h>

pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t mutex_b = PTHREAD_MUTEX_INITIALIZER;

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
		if (arg)
			lock_ab();
		else
			lock_ba();
	}
	return NULL;
}

int main(void)
{
	char line[64];
	printf("mutex_a %p\nmutex_b %p\n", (void *)&mutex_a, (void *)&mutex_b);
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
