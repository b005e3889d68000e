/*
 * uringbind - bind() through io_uring (IORING_OP_BIND, Linux 6.11+), with
 * raw system calls: no libc bind(), so LD_PRELOAD never sees it, and no
 * liburing. Tells the story on stdout as key=value.
 *
 *   uringbind [-u] ADDR PORT       (-u: UDP; ADDR IPv4 or IPv6)
 *
 * Prints: bind=ok|ENAME (the completion's result), then listen=ok|ENAME
 * for TCP; exits 0 whatever the bind's result, 2 when io_uring itself or
 * the opcode is missing (bind=unsupported).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define OP_BIND 56                   /* IORING_OP_BIND: newer than the headers */

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "ok";
	return n ? n : "EUNKNOWN";
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int udp = 0, ring, fd, res;

	if (argc > 1 && strcmp(argv[1], "-u") == 0) {
		udp = 1;
		argc--;
		argv++;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: uringbind [-u] ADDR PORT\n");
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		struct sockaddr_in *in = (void *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)atoi(argv[2]));
		len = sizeof *in;
	} else if (inet_pton(AF_INET6, argv[1], &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *in6 = (void *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(argv[2]));
		len = sizeof *in6;
	} else {
		fprintf(stderr, "uringbind: bad address %s\n", argv[1]);
		return 2;
	}
	fd = socket(ss.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
	memset(&p, 0, sizeof p);
	ring = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0 || ring < 0) {
		printf("bind=unsupported setup=%s\n", ename(errno));
		return 2;
	}
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			ring, IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
			ring, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof *sqes,
					 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
					 ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		printf("bind=unsupported mmap=%s\n", ename(errno));
		return 2;
	}
	unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
	unsigned mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *array = (unsigned *)(sq + p.sq_off.array);
	unsigned t = *tail, idx = t & mask;

	memset(&sqes[idx], 0, sizeof sqes[idx]);
	sqes[idx].opcode = OP_BIND;
	sqes[idx].fd = fd;
	sqes[idx].addr = (unsigned long)&ss;
	sqes[idx].addr2 = len;
	array[idx] = idx;
	__atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
		printf("bind=unsupported enter=%s\n", ename(errno));
		return 2;
	}
	unsigned head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
	unsigned cmask = *(unsigned *)(cq + p.cq_off.ring_mask);
	struct io_uring_cqe *cqe = (struct io_uring_cqe *)(cq + p.cq_off.cqes) + (head & cmask);
	res = cqe->res;
	if (res == -EINVAL || res == -EOPNOTSUPP) {
		printf("bind=unsupported res=%s\n", ename(-res));
		return 2;
	}
	printf("bind=%s", ename(-res));
	if (!udp && res == 0)
		printf(" listen=%s", ename(listen(fd, 4) == 0 ? 0 : errno));
	printf("\n");
	return 0;
}
