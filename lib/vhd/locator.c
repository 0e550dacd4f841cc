/* Parent locators: MacX file:// URLs (UTF-8) and W2ku/W2ru Windows paths (UTF-16LE), the
 * UTF-16 conversions they and the header's parent name (UTF-16BE) need, relative paths. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "private.h"

bool vhd_locator_code_valid(uint32_t code)
{
	switch (code) {
	case VHD_PLAT_NONE:
	case VHD_PLAT_WI2R:
	case VHD_PLAT_WI2K:
	case VHD_PLAT_W2RU:
	case VHD_PLAT_W2KU:
	case VHD_PLAT_MAC:
	case VHD_PLAT_MACX:
		return true;
	default:
		return false;
	}
}

const char *vhd_locator_code_name(uint32_t code)
{
	switch (code) {
	case VHD_PLAT_NONE:
		return "PLAT_CODE_NONE";
	case VHD_PLAT_WI2R:
		return "PLAT_CODE_WI2R";
	case VHD_PLAT_WI2K:
		return "PLAT_CODE_WI2K";
	case VHD_PLAT_W2RU:
		return "PLAT_CODE_W2RU";
	case VHD_PLAT_W2KU:
		return "PLAT_CODE_W2KU";
	case VHD_PLAT_MAC:
		return "PLAT_CODE_MAC";
	case VHD_PLAT_MACX:
		return "PLAT_CODE_MACX";
	default:
		return "UNKNOWN";
	}
}

uint32_t vhd_locator_space(const struct vhd_locator *loc)
{
	/* the spec says sectors; Microsoft and blktap write bytes: tell them apart like blktap */
	if (loc->data_space < VHD_SECTOR_SIZE)
		return loc->data_space * VHD_SECTOR_SIZE;
	if (loc->data_space % VHD_SECTOR_SIZE == 0)
		return loc->data_space;
	return 0;
}

/* Next code point of a UTF-8 string; -EILSEQ on malformed, overlong or surrogate input. */
static int utf8_next(const unsigned char **s, uint32_t *cp)
{
	const unsigned char *p = *s;
	uint32_t c = p[0], min;
	int n;

	if (c < 0x80) {
		*cp = c;
		*s = p + 1;
		return 0;
	} else if ((c & 0xe0) == 0xc0) {
		n = 1, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3, c &= 0x07, min = 0x10000;
	} else {
		return -EILSEQ;
	}
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -EILSEQ;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -EILSEQ;
	*cp = c;
	*s = p + n + 1;
	return 0;
}

static void put16(uint8_t *p, uint16_t u, bool be)
{
	p[be ? 0 : 1] = (uint8_t)(u >> 8);
	p[be ? 1 : 0] = (uint8_t)u;
}

int vhd_utf8_to_utf16(const char *in, uint8_t *out, size_t outlen, bool big_endian, size_t *written)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = 0;
	uint32_t cp;
	int err;

	while (*s) {
		err = utf8_next(&s, &cp);
		if (err)
			return err;
		if (cp >= 0x10000) {
			if (n + 4 > outlen)
				return -ENAMETOOLONG;
			cp -= 0x10000;
			put16(out + n, (uint16_t)(0xd800 | cp >> 10), big_endian);
			put16(out + n + 2, (uint16_t)(0xdc00 | (cp & 0x3ff)), big_endian);
			n += 4;
		} else {
			if (n + 2 > outlen)
				return -ENAMETOOLONG;
			put16(out + n, (uint16_t)cp, big_endian);
			n += 2;
		}
	}
	*written = n;
	return 0;
}

static uint16_t get16(const uint8_t *p, bool be)
{
	return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

int vhd_utf16_to_utf8(const uint8_t *in, size_t inlen, bool big_endian, char *out, size_t outlen)
{
	size_t n = 0;

	if (inlen % 2)
		return -EILSEQ;
	for (size_t i = 0; i < inlen; i += 2) {
		uint32_t cp = get16(in + i, big_endian);
		char enc[4];
		size_t len;

		if (cp == 0)
			break;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			uint16_t lo;

			if (i + 4 > inlen)
				return -EILSEQ;
			lo = get16(in + i + 2, big_endian);
			if (lo < 0xdc00 || lo > 0xdfff)
				return -EILSEQ;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00u);
			i += 2;
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			return -EILSEQ;
		}
		if (cp < 0x80) {
			enc[0] = (char)cp;
			len = 1;
		} else if (cp < 0x800) {
			enc[0] = (char)(0xc0 | cp >> 6);
			enc[1] = (char)(0x80 | (cp & 0x3f));
			len = 2;
		} else if (cp < 0x10000) {
			enc[0] = (char)(0xe0 | cp >> 12);
			enc[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			enc[2] = (char)(0x80 | (cp & 0x3f));
			len = 3;
		} else {
			enc[0] = (char)(0xf0 | cp >> 18);
			enc[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
			enc[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
			enc[3] = (char)(0x80 | (cp & 0x3f));
			len = 4;
		}
		if (n + len + 1 > outlen)
			return -ENAMETOOLONG;
		memcpy(out + n, enc, len);
		n += len;
	}
	if (n + 1 > outlen)
		return -ENAMETOOLONG;
	out[n] = '\0';
	return 0;
}

int vhd_locator_encode(uint32_t code, const char *path, uint8_t *out, size_t outlen, size_t *len)
{
	char tmp[4096 + 8];
	const char *rest;
	int n;

	if (!*path)
		return -EINVAL;
	switch (code) {
	case VHD_PLAT_MACX:
		n = snprintf(tmp, sizeof(tmp), "file://%s", path);
		if (n < 0 || (size_t)n >= sizeof(tmp) || (size_t)n > outlen)
			return -ENAMETOOLONG;
		memcpy(out, tmp, (size_t)n);
		*len = (size_t)n;
		return 0;
	case VHD_PLAT_W2KU:
	case VHD_PLAT_W2RU:
		/* blktap: relative paths as ".\name", separators as backslashes */
		rest = path;
		if (path[0] != '/') {
			if (strncmp(path, "./", 2) == 0)
				rest = path + 2;
			n = snprintf(tmp, sizeof(tmp), ".\\%s", rest);
		} else {
			n = snprintf(tmp, sizeof(tmp), "%s", path);
		}
		if (n < 0 || (size_t)n >= sizeof(tmp))
			return -ENAMETOOLONG;
		for (char *c = tmp; *c; c++)
			if (*c == '/')
				*c = '\\';
		return vhd_utf8_to_utf16(tmp, out, outlen, false, len);
	default:
		return -EOPNOTSUPP;
	}
}

int vhd_locator_decode(uint32_t code, const uint8_t *data, size_t len, char *out, size_t outlen)
{
	int err;

	switch (code) {
	case VHD_PLAT_MACX: {
		const unsigned char *s;
		uint32_t cp;

		if (len + 1 > outlen)
			return -ENAMETOOLONG;
		memcpy(out, data, len);
		out[len] = '\0';
		if (strlen(out) != len) /* embedded NUL: accept trailing padding only */
			len = strlen(out);
		for (s = (const unsigned char *)out; *s;) {
			err = utf8_next(&s, &cp);
			if (err)
				return err;
		}
		if (strncmp(out, "file://", 7) != 0)
			return -EINVAL;
		memmove(out, out + 7, len - 7 + 1);
		break;
	}
	case VHD_PLAT_W2KU:
	case VHD_PLAT_W2RU:
		err = vhd_utf16_to_utf8(data, len, false, out, outlen);
		if (err)
			return err;
		for (char *c = out; *c; c++)
			if (*c == '\\')
				*c = '/';
		/* a drive letter means nothing here */
		if (((out[0] | 0x20) >= 'a' && (out[0] | 0x20) <= 'z') && out[1] == ':')
			memmove(out, out + 2, strlen(out + 2) + 1);
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (!out[0])
		return -EINVAL;
	return 0;
}

int vhd_relative_path(const char *from, const char *to, char *out, size_t outlen)
{
	size_t common = 0, i, n = 0;
	const char *fdir_end = strrchr(from, '/');
	int ups = 0;

	if (from[0] != '/' || to[0] != '/' || !fdir_end)
		return -EINVAL;
	/* longest common prefix ending on a '/' boundary, within the directory of `from` */
	for (i = 0; from + i <= fdir_end && to[i] && from[i] == to[i]; i++)
		if (from[i] == '/')
			common = i + 1;
	/* one "../" per directory of `from` below the common prefix */
	for (const char *p = from + common; p <= fdir_end; p++)
		if (*p == '/')
			ups++;
	if (ups == 0) {
		if (outlen < 3)
			return -ENAMETOOLONG;
		memcpy(out, "./", 2);
		n = 2;
	}
	for (int u = 0; u < ups; u++) {
		if (n + 3 >= outlen)
			return -ENAMETOOLONG;
		memcpy(out + n, "../", 3);
		n += 3;
	}
	if (n + strlen(to + common) + 1 > outlen)
		return -ENAMETOOLONG;
	strcpy(out + n, to + common);
	return 0;
}
