/* simxen domain create / destroy / list: what a toolstack does around a domain's life in
 * xenstore (libxl's nodes and permissions), plus simxen's grant and event-channel state. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "tools/simxen/cmd/simxen.h"
#include "tools/simxen/libs/simxen-state.h"

/* Serialises domain id allocation between concurrent `simxen domain` commands. */
static int lock_domains(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/domains.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* Like Xen, ids are not reused while the host runs: the next one is kept in a file. */
static int next_domid(const char *dir, struct xs_handle *h, uint16_t *out)
{
	char path[PATH_MAX], node[64];
	unsigned int id = 1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, SX_DOMID_FILE);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%u", &id) != 1 || id == 0)
			id = 1;
		fclose(f);
	}
	for (;; id++) {
		char *v;

		if (id >= 0x7FF0)
			return -ENOSPC;
		snprintf(node, sizeof(node), "/local/domain/%u", id);
		v = xs_read(h, XBT_NULL, node, NULL);
		if (!v)
			break;
		free(v);
	}
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", id + 1);
	if (fclose(f) != 0)
		return -EIO;
	*out = (uint16_t)id;
	return 0;
}

struct new_domain {
	uint16_t domid;
	const char *name;
};

static int write_domain(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	/* libxl: the home is dom0's, readable by the domain; the domain owns these subtrees. */
	static const char *const guest_owned[] = { "device", "data",  "drivers",	 "feature",
						   "attr",   "error", "control/shutdown" };
	const struct new_domain *nd = arg;
	struct xs_permissions ro[2] = { { .id = 0, .perms = XS_PERM_NONE },
					{ .id = nd->domid, .perms = XS_PERM_READ } };
	struct xs_permissions rw[1] = { { .id = nd->domid, .perms = XS_PERM_NONE } };
	char home[64], path[128], id[8];
	unsigned int i;
	int rc;

	snprintf(home, sizeof(home), "/local/domain/%u", nd->domid);
	snprintf(id, sizeof(id), "%u", nd->domid);
	rc = sx_xs_put(h, t, home, "", ro, 2);
	snprintf(path, sizeof(path), "%s/name", home);
	if (rc == 0)
		rc = sx_xs_put(h, t, path, nd->name, NULL, 0);
	snprintf(path, sizeof(path), "%s/domid", home);
	if (rc == 0)
		rc = sx_xs_put(h, t, path, id, NULL, 0);
	snprintf(path, sizeof(path), "%s/control", home);
	if (rc == 0)
		rc = sx_xs_put(h, t, path, "", ro, 2);
	for (i = 0; rc == 0 && i < sizeof(guest_owned) / sizeof(guest_owned[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", home, guest_owned[i]);
		rc = sx_xs_put(h, t, path, "", rw, 1);
	}
	return rc;
}

static int remove_home(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	return xs_rm(h, t, arg) ? 0 : -errno;
}

static bool name_taken(struct xs_handle *h, const char *name)
{
	unsigned int i, n = 0;
	char **ids = xs_directory(h, XBT_NULL, "/local/domain", &n);
	bool taken = false;

	for (i = 0; ids && i < n && !taken; i++) {
		char path[128];
		char *v;

		snprintf(path, sizeof(path), "/local/domain/%s/name", ids[i]);
		v = xs_read(h, XBT_NULL, path, NULL);
		taken = v && strcmp(v, name) == 0;
		free(v);
	}
	free(ids);
	return taken;
}

static int valid_name(const char *name)
{
	const char *p;

	if (!*name || strlen(name) > 64)
		return -EINVAL;
	for (p = name; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return -EINVAL;
	return 0;
}

static int domain_create(const char *dir, const char *name)
{
	struct new_domain nd = { .name = name };
	struct xs_handle *h;
	char home[64];
	int lock, rc;

	if (valid_name(name) < 0)
		return sx_error(-EINVAL, "domain name '%s' (1-64 printable characters, no spaces)",
				name);
	rc = sx_xs_open(dir, &h);
	if (rc < 0)
		return sx_error(rc, "no simxen host in %s (run `simxen start`)", dir);
	lock = lock_domains(dir);
	if (lock < 0) {
		xs_close(h);
		return sx_error(lock, "cannot lock %s/domains.lock", dir);
	}
	if (name_taken(h, name)) {
		rc = sx_error(-EEXIST, "a domain is already called '%s'", name);
		goto out;
	}
	rc = next_domid(dir, h, &nd.domid);
	if (rc < 0) {
		sx_error(rc, "cannot allocate a domain id");
		goto out;
	}
	snprintf(home, sizeof(home), "/local/domain/%u", nd.domid);
	rc = sx_xs_transaction(h, write_domain, &nd);
	if (rc < 0) {
		sx_error(rc, "cannot write %s", home);
		goto out;
	}
	/* -EEXIST: a process already opened a handle as this domain, which creates it. */
	rc = simxen_state_create_domain(dir, nd.domid);
	if (rc == -EEXIST)
		rc = 0;
	if (rc < 0) {
		sx_error(rc, "cannot create domain %u's grant and event-channel state", nd.domid);
		sx_xs_transaction(h, remove_home, home);
		goto out;
	}
	/* Gives the domain its xenstore socket and fires @introduceDomain. */
	if (!xs_introduce_domain(h, nd.domid, 0, 0)) {
		rc = sx_error(-errno, "xenstored refused to introduce domain %u", nd.domid);
		simxen_state_destroy_domain(dir, nd.domid);
		sx_xs_transaction(h, remove_home, home);
		goto out;
	}
	printf("%u\n", nd.domid);
out:
	close(lock);
	xs_close(h);
	return rc;
}

static int domain_destroy(const char *dir, const char *id)
{
	struct xs_handle *h;
	uint16_t domid;
	char home[64];
	char *v;
	bool exists, introduced;
	int lock, rc;

	if (sx_parse_domid(id, &domid) < 0)
		return sx_error(-EINVAL, "'%s' is not a guest domain id", id);
	rc = sx_xs_open(dir, &h);
	if (rc < 0)
		return sx_error(rc, "no simxen host in %s (run `simxen start`)", dir);
	lock = lock_domains(dir);
	if (lock < 0) {
		xs_close(h);
		return sx_error(lock, "cannot lock %s/domains.lock", dir);
	}
	snprintf(home, sizeof(home), "/local/domain/%u", domid);
	v = xs_read(h, XBT_NULL, home, NULL);
	exists = v != NULL;
	free(v);
	introduced = xs_is_domain_introduced(h, domid);
	if (!exists && !introduced) {
		rc = sx_error(-ENOENT, "no domain %u", domid);
		goto out;
	}
	rc = sx_xs_transaction(h, remove_home, home);
	if (rc < 0 && rc != -ENOENT)
		sx_error(rc, "cannot remove %s", home);
	/* The domain dies: its grants are revoked and ports closed, then xenstored notices. */
	rc = simxen_state_destroy_domain(dir, domid);
	if (rc < 0 && rc != -ENOENT)
		sx_error(rc, "cannot destroy domain %u's grant and event-channel state", domid);
	rc = 0;
	if (introduced && !xs_release_domain(h, domid))
		rc = sx_error(-errno, "xenstored refused to release domain %u", domid);
out:
	close(lock);
	xs_close(h);
	return rc;
}

static int cmp_domid(const void *a, const void *b)
{
	unsigned long x = strtoul(*(char *const *)a, NULL, 10);
	unsigned long y = strtoul(*(char *const *)b, NULL, 10);

	return x < y ? -1 : x > y;
}

static int domain_list(const char *dir)
{
	struct xs_handle *h;
	unsigned int i, n = 0;
	char **ids;
	int rc = sx_xs_open(dir, &h);

	if (rc < 0)
		return sx_error(rc, "no simxen host in %s (run `simxen start`)", dir);
	ids = xs_directory(h, XBT_NULL, "/local/domain", &n);
	if (!ids && errno != ENOENT)
		rc = sx_error(-errno, "cannot list /local/domain");
	if (ids)
		qsort(ids, n, sizeof(*ids), cmp_domid);
	for (i = 0; ids && i < n; i++) {
		char path[128];
		char *name;

		snprintf(path, sizeof(path), "/local/domain/%s/name", ids[i]);
		name = xs_read(h, XBT_NULL, path, NULL);
		printf("%s %s\n", ids[i], name ? name : "-");
		free(name);
	}
	free(ids);
	xs_close(h);
	return rc;
}

int cmd_domain(const struct cmd_opts *o, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "create") == 0)
		return domain_create(o->dir, argv[1]);
	if (argc == 2 && strcmp(argv[0], "destroy") == 0)
		return domain_destroy(o->dir, argv[1]);
	if (argc == 1 && strcmp(argv[0], "list") == 0)
		return domain_list(o->dir);
	return sx_error(-EINVAL, "usage: simxen domain create NAME | destroy ID | list");
}
