/* The name a VHD records for a file or device it points at (parent locators, parent name). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtap/vhd.h"

/* An LVM volume resolves to /dev/dm-N, a number that changes from boot to boot; blktap's
 * canonpath names it /dev/mapper/<dm name> instead ("VG_XenStorage--sr-VHD--vdi": the VG's and
 * the LV's dashes doubled), which XAPI's LVHD code turns back into the VDI's uuid. */
int vhd_canonical_path_at(const char *root, const char *path, char *out, size_t outlen)
{
	char real[PATH_MAX], prefix[PATH_MAX], file[2 * PATH_MAX], name[256];
	const char *num;
	size_t plen, n;
	FILE *f;
	int len;

	if (!realpath(path, real))
		return -errno;
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s/dev/dm-", root);
	num = real + plen;
	if (plen >= sizeof(prefix) || strncmp(real, prefix, plen) || !*num ||
	    strspn(num, "0123456789") != strlen(num))
		goto plain;
	snprintf(file, sizeof(file), "%s/sys/block/dm-%s/dm/name", root, num);
	f = fopen(file, "re");
	if (!f)
		goto plain;
	n = fread(name, 1, sizeof(name) - 1, f);
	fclose(f);
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		goto plain;
	snprintf(file, sizeof(file), "%s/dev/mapper/%s", root, name);
	if (access(file, F_OK))
		goto plain; /* no node under that name: the real path is the usable one */
	len = snprintf(out, outlen, "%s", file);
	return len < 0 || (size_t)len >= outlen ? -ENAMETOOLONG : 0;
plain:
	len = snprintf(out, outlen, "%s", real);
	return len < 0 || (size_t)len >= outlen ? -ENAMETOOLONG : 0;
}

int vhd_canonical_path(const char *path, char *out, size_t outlen)
{
	return vhd_canonical_path_at("", path, out, outlen);
}
