/* simxen vbd add / remove: plays xenopsd plugging a vbd3 VBD, writing the frontend and backend
 * nodes in one transaction with the permissions xenopsd gives them (README.md, "Running under
 * XAPI"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/simxen/cmd/simxen.h"

#define XVDA 51712 /* (202 << 8) | 0: xvda */

struct vbd {
	uint16_t fe;
	long devid;
	const char *mode;
	const char *params;
	const char *phys_path;
	char dev[32];
	char fe_path[96];
	char be_path[96];
};

static void vbd_paths(struct vbd *v)
{
	snprintf(v->fe_path, sizeof(v->fe_path), "/local/domain/%u/device/vbd/%ld", v->fe,
		 v->devid);
	snprintf(v->be_path, sizeof(v->be_path), "/local/domain/0/backend/vbd3/%u/%ld", v->fe,
		 v->devid);
}

/* xvd<letter> for the classic xvd numbers (major 202, 16 minors per disk). */
static void default_dev(struct vbd *v)
{
	long disk = (v->devid & 0xff) / 16;

	if ((v->devid >> 8) == 202 && disk < 16)
		snprintf(v->dev, sizeof(v->dev), "xvd%c", (char)('a' + disk));
	else
		snprintf(v->dev, sizeof(v->dev), "%ld", v->devid);
}

static int put(struct xs_handle *h, xs_transaction_t t, const char *dir, const char *key,
	       const char *value)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	return sx_xs_put(h, t, path, value, NULL, 0);
}

static int write_vbd(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vbd *v = arg;
	/* Frontend: the guest's, readable by dom0; backend: dom0's, readable by the guest. */
	struct xs_permissions fe_perms[2] = { { .id = v->fe, .perms = XS_PERM_NONE },
					      { .id = 0, .perms = XS_PERM_READ } };
	struct xs_permissions be_perms[2] = { { .id = 0, .perms = XS_PERM_NONE },
					      { .id = v->fe, .perms = XS_PERM_READ } };
	char fe[8], devid[16];
	char *exists;
	int rc;

	exists = xs_read(h, t, v->fe_path, NULL);
	if (exists) {
		free(exists);
		return -EEXIST;
	}
	snprintf(fe, sizeof(fe), "%u", v->fe);
	snprintf(devid, sizeof(devid), "%ld", v->devid);
	/* The directories first, with their permissions, so that every node inherits them. */
	rc = sx_xs_put(h, t, v->fe_path, "", fe_perms, 2);
	if (rc == 0)
		rc = sx_xs_put(h, t, v->be_path, "", be_perms, 2);
	if (rc == 0)
		rc = put(h, t, v->fe_path, "backend", v->be_path);
	if (rc == 0)
		rc = put(h, t, v->fe_path, "backend-id", "0");
	if (rc == 0)
		rc = put(h, t, v->fe_path, "state", "1");
	if (rc == 0)
		rc = put(h, t, v->fe_path, "virtual-device", devid);
	if (rc == 0)
		rc = put(h, t, v->fe_path, "device-type", "disk");
	if (rc == 0)
		rc = put(h, t, v->be_path, "frontend", v->fe_path);
	if (rc == 0)
		rc = put(h, t, v->be_path, "frontend-id", fe);
	if (rc == 0)
		rc = put(h, t, v->be_path, "online", "1");
	if (rc == 0)
		rc = put(h, t, v->be_path, "removable", "0");
	if (rc == 0)
		rc = put(h, t, v->be_path, "state", "1");
	if (rc == 0)
		rc = put(h, t, v->be_path, "dev", v->dev);
	if (rc == 0)
		rc = put(h, t, v->be_path, "type", "phy");
	if (rc == 0)
		rc = put(h, t, v->be_path, "mode", v->mode);
	if (rc == 0)
		rc = put(h, t, v->be_path, "params", v->params);
	if (rc == 0)
		rc = put(h, t, v->be_path, "polling-duration", "8000");
	if (rc == 0)
		rc = put(h, t, v->be_path, "polling-idle-threshold", "50");
	return rc;
}

/* What the block hotplug script does once the device exists. */
static int write_hotplug(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vbd *v = arg;
	int rc = put(h, t, v->be_path, "physical-device-path", v->phys_path);

	return rc ? rc : put(h, t, v->be_path, "hotplug-status", "connected");
}

static int remove_vbd(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vbd *v = arg;
	char *exists = xs_read(h, t, v->fe_path, NULL);
	char *be = xs_read(h, t, v->be_path, NULL);
	int rc = 0;

	if (!exists && !be)
		rc = -ENOENT;
	if (rc == 0 && !xs_rm(h, t, v->fe_path))
		rc = -errno;
	if (rc == 0 && !xs_rm(h, t, v->be_path))
		rc = -errno;
	free(exists);
	free(be);
	return rc;
}

static int vbd_add(const struct cmd_opts *o, const char *fe)
{
	struct vbd v = { .devid = o->devid >= 0 ? o->devid : XVDA,
			 .mode = o->mode ? o->mode : "w",
			 .params = o->params ? o->params : "",
			 .phys_path = o->phys_path };
	struct xs_handle *h;
	char path[64];
	char *home;
	int rc;

	if (sx_parse_domid(fe, &v.fe) < 0)
		return sx_error(-EINVAL, "'%s' is not a guest domain id", fe);
	if (strcmp(v.mode, "r") != 0 && strcmp(v.mode, "w") != 0)
		return sx_error(-EINVAL, "--mode '%s' (r or w)", v.mode);
	if (o->dev)
		snprintf(v.dev, sizeof(v.dev), "%s", o->dev);
	else
		default_dev(&v);
	vbd_paths(&v);
	rc = sx_xs_open(o->dir, &h);
	if (rc < 0)
		return sx_error(rc, "no simxen host in %s (run `simxen start`)", o->dir);
	snprintf(path, sizeof(path), "/local/domain/%u", v.fe);
	home = xs_read(h, XBT_NULL, path, NULL);
	if (!home) {
		rc = sx_error(-ENOENT, "no domain %u", v.fe);
		goto out;
	}
	free(home);
	rc = sx_xs_transaction(h, write_vbd, &v);
	if (rc < 0) {
		sx_error(rc, "cannot write %s and %s", v.fe_path, v.be_path);
		goto out;
	}
	if (v.phys_path) {
		rc = sx_xs_transaction(h, write_hotplug, &v);
		if (rc < 0) {
			sx_error(rc, "cannot write %s/hotplug-status", v.be_path);
			goto out;
		}
	}
	printf("%ld\n", v.devid);
out:
	xs_close(h);
	return rc;
}

static int vbd_remove(const struct cmd_opts *o, const char *fe, const char *devid)
{
	struct vbd v = { 0 };
	struct xs_handle *h;
	char *end;
	int rc;

	if (sx_parse_domid(fe, &v.fe) < 0)
		return sx_error(-EINVAL, "'%s' is not a guest domain id", fe);
	v.devid = strtol(devid, &end, 10);
	if (*end || end == devid || v.devid <= 0)
		return sx_error(-EINVAL, "'%s' is not a device number", devid);
	vbd_paths(&v);
	rc = sx_xs_open(o->dir, &h);
	if (rc < 0)
		return sx_error(rc, "no simxen host in %s (run `simxen start`)", o->dir);
	rc = sx_xs_transaction(h, remove_vbd, &v);
	if (rc < 0)
		sx_error(rc, "cannot remove VBD %ld of domain %u", v.devid, v.fe);
	xs_close(h);
	return rc;
}

int cmd_vbd(const struct cmd_opts *o, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "add") == 0)
		return vbd_add(o, argv[1]);
	if (argc == 3 && strcmp(argv[0], "remove") == 0 && !o->mode && !o->params && !o->dev &&
	    !o->phys_path && o->devid < 0)
		return vbd_remove(o, argv[1], argv[2]);
	return sx_error(-EINVAL, "usage: simxen vbd add DOMID [--devid N] [--mode r|w] "
				 "[--params P] [--dev NAME] [--physical-device-path P] | "
				 "remove DOMID DEVID");
}
