// Direct I/O: writes argv[1] (argv[2] blocks of argv[3] KiB) with
// buffered writes and fsync, prints "ready", waits for a line on stdin,
// then overwrites every block with O_DIRECT pwrite (one request per
// block: the file is already allocated, so no metadata is written),
// calls fdatasync and prints "done".
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	int blocks = atoi(argv[2]);
	size_t bs = (size_t)atol(argv[3]) << 10;
	void *buf;
	if (posix_memalign(&buf, 4096, bs))
		return 1;
	memset(buf, 'a', bs);
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	for (int i = 0; i < blocks; i++) {
		if (write(fd, buf, bs) != (ssize_t)bs) {
			perror("write");
			return 1;
		}
	}
	if (fsync(fd)) {
		perror("fsync");
		return 1;
	}
	close(fd);
	fd = open(argv[1], O_WRONLY | O_DIRECT);
	if (fd < 0) {
		perror("open O_DIRECT");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	memset(buf, 'b', bs);
	for (int i = 0; i < blocks; i++) {
		if (pwrite(fd, buf, bs, (off_t)i * bs) != (ssize_t)bs) {
			perror("pwrite");
			return 1;
		}
	}
	if (fdatasync(fd)) {
		perror("fdatasync");
		return 1;
	}
	printf("done\n");
	return 0;
}
