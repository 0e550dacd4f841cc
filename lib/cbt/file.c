/* The length of a CBT log file, which may be a block device (an LVM volume on LVHD SRs). */
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtap/cbt.h"

int cbt_file_length(int fd, uint64_t *len)
{
	struct stat st;
	off_t end;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*len = (uint64_t)st.st_size;
		return 0;
	}
	end = lseek(fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	*len = (uint64_t)end;
	return 0;
}
