// TCP transfer between two network namespaces.
//
//   tcpxfer recv <addr> <port>   listens, prints "listening", accepts one
//                                connection, reads it to EOF, prints
//                                "received <bytes>", then "done".
//   tcpxfer send <addr> <port> <ms>
//                                prints "ready", waits for a line on stdin,
//                                connects (the socket is created only now,
//                                in the cgroup it was moved to), prints
//                                "conn <SO_COOKIE> <local port>", writes
//                                for <ms> milliseconds, closes, prints
//                                "sent <bytes>", then "done".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static socklen_t sockaddr_of(const char *addr, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			return 0;
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
		return 0;
	return sizeof(*s4);
}

static int recv_main(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(addr, port, &ss);
	int one = 1;
	int l = socket(ss.ss_family, SOCK_STREAM, 0);
	if (!len || l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&ss, len) || listen(l, 1)) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	int c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("accept");
		return 1;
	}
	// Never hang a test: give up after 15 s without data.
	struct timeval tv = {.tv_sec = 15};
	if (setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("SO_RCVTIMEO");
		return 1;
	}
	static char buf[1 << 16];
	long total = 0;
	ssize_t n;
	while ((n = read(c, buf, sizeof(buf))) > 0)
		total += n;
	printf("received %ld\ndone\n", total);
	return n < 0;
}

static int send_main(const char *addr, int port, long ms)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(addr, port, &ss);
	if (!len)
		return 2;
	printf("ready\n");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	int s = socket(ss.ss_family, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 15};
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(s, (struct sockaddr *)&ss, len)) {
		perror("connect");
		return 1;
	}
	uint64_t cookie = 0;
	socklen_t clen = sizeof(cookie);
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	if (getsockopt(s, SOL_SOCKET, SO_COOKIE, &cookie, &clen) ||
	    getsockname(s, (struct sockaddr *)&local, &llen)) {
		perror("socket identity");
		return 1;
	}
	int lport = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port :
						     ((struct sockaddr_in *)&local)->sin_port);
	printf("conn %llu %d\n", (unsigned long long)cookie, lport);
	fflush(stdout);
	static char buf[1 << 14];
	memset(buf, 'x', sizeof(buf));
	long total = 0, end = now_ms() + ms;
	while (now_ms() < end) {
		ssize_t n = write(s, buf, sizeof(buf));
		if (n < 0) {
			perror("write");
			return 1;
		}
		total += n;
	}
	if (close(s)) {
		perror("close");
		return 1;
	}
	printf("sent %ld\ndone\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return recv_main(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "send"))
		return send_main(argv[2], atoi(argv[3]), atol(argv[4]));
	fprintf(stderr, "usage: tcpxfer recv ADDR PORT | send ADDR PORT MS\n");
	return 2;
}
