// Major page faults: writes argv[1] (argv[2] MiB), syncs it and drops it
// from the page cache, maps it read-only with MADV_RANDOM (no read-around:
// one major fault per page), prints "map <addr> <len> resident <pages>",
// waits for a line on stdin, reads one byte of every page, prints "done".
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	size_t len = (size_t)atol(argv[2]) << 20;
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	char buf[1 << 16];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 1);
	for (size_t off = 0; off < len; off += sizeof(buf)) {
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror("write");
			return 1;
		}
	}
	if (fsync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
		perror("dropping the file from the page cache");
		return 1;
	}
	unsigned char *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED || madvise(p, len, MADV_RANDOM)) {
		perror("mmap");
		return 1;
	}
	unsigned char *vec = malloc(len / page);
	size_t resident = 0;
	if (vec && mincore(p, len, vec) == 0)
		for (size_t i = 0; i < len / page; i++)
			resident += vec[i] & 1;
	printf("map %p %zu resident %zu\n", (void *)p, len, resident);
	fflush(stdout);

	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	volatile unsigned long sum = 0;
	for (size_t off = 0; off < len; off += page)
		sum += p[off];
	printf("done\n");
	return 0;
}
