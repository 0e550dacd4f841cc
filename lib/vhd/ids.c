/* VHD timestamps (seconds since 2000-01-01 00:00 UTC) and random UUIDs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "ringtap/vhd.h"

#define VHD_EPOCH 946684800 /* 2000-01-01T00:00:00Z as a Unix time */

uint32_t vhd_time(time_t t)
{
	return t < VHD_EPOCH ? 0 : (uint32_t)(t - VHD_EPOCH);
}

time_t vhd_time_to_unix(uint32_t t)
{
	return (time_t)t + VHD_EPOCH;
}

int vhd_uuid_generate(uint8_t uuid[16])
{
	size_t got = 0;

	while (got < 16) {
		ssize_t n = getrandom(uuid + got, 16 - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return 0;
}

void vhd_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

bool vhd_uuid_is_null(const uint8_t uuid[16])
{
	static const uint8_t zero[16];

	return memcmp(uuid, zero, 16) == 0;
}
