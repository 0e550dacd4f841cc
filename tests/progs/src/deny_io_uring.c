/* deny-io-uring [--errno EPERM|ENOSYS] PROGRAM [ARG...]: runs PROGRAM under a seccomp filter
 * that fails io_uring_setup with the error (EPERM by default: what Docker's default profile and
 * kernel.io_uring_disabled answer; ENOSYS: a kernel without io_uring), as a host that refuses
 * io_uring would. The I/O engine's fallback to libaio is tested with it. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int err = EPERM, first = 1;

	if (argc > 2 && !strcmp(argv[1], "--errno")) {
		if (!strcmp(argv[2], "EPERM"))
			err = EPERM;
		else if (!strcmp(argv[2], "ENOSYS"))
			err = ENOSYS;
		else {
			fprintf(stderr, "deny-io-uring: --errno EPERM or ENOSYS\n");
			return 2;
		}
		first = 3;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: deny-io-uring [--errno EPERM|ENOSYS] PROGRAM [ARG...]\n");
		return 2;
	}
	/* The system call number alone: the programs run under it are native ones. */
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K,
			 SECCOMP_RET_ERRNO | ((unsigned int)err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0) {
		perror("deny-io-uring: seccomp");
		return 1;
	}
	execvp(argv[first], argv + first);
	fprintf(stderr, "deny-io-uring: %s: %s\n", argv[first], strerror(errno));
	return 127;
}
