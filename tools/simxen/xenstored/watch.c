/* Watches: registration per client and event delivery for a changed path, its ancestors'
 * watches, the watches below a removed subtree, and the special @introduceDomain and
 * @releaseDomain nodes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ringtap/log.h"
#include "tools/simxen/xenstored/path.h"
#include "tools/simxen/xenstored/xenstored.h"

const struct xs_perms *special_perms(struct xsd *d, const char *path)
{
	if (strcmp(path, "@introduceDomain") == 0)
		return &d->special_perms[0];
	if (strcmp(path, "@releaseDomain") == 0)
		return &d->special_perms[1];
	return NULL;
}

int watch_add(struct xsd *d, struct conn *c, const char *path, const char *token, bool relative,
	      struct watch **out)
{
	struct watch *w;

	for (w = c->watches; w; w = w->next)
		if (strcmp(w->path, path) == 0 && strcmp(w->token, token) == 0)
			return -EEXIST;
	if (!c->privileged && c->nr_watches >= GUEST_MAX_WATCHES)
		return -E2BIG;
	if (strlen(token) > MAX_TOKEN_LEN)
		return -E2BIG;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	w->token = strdup(token);
	if (!w->path || !w->token) {
		free(w->path);
		free(w->token);
		free(w);
		return -ENOMEM;
	}
	w->relative = relative;
	w->next = c->watches;
	c->watches = w;
	c->nr_watches++;
	*out = w;
	return 0;
}

int watch_remove(struct conn *c, const char *path, const char *token)
{
	struct watch **pp;

	for (pp = &c->watches; *pp; pp = &(*pp)->next) {
		struct watch *w = *pp;

		if (strcmp(w->path, path) == 0 && strcmp(w->token, token) == 0) {
			*pp = w->next;
			free(w->path);
			free(w->token);
			free(w);
			c->nr_watches--;
			return 0;
		}
	}
	return -ENOENT;
}

void watch_free_all(struct conn *c)
{
	while (c->watches) {
		struct watch *w = c->watches;

		c->watches = w->next;
		free(w->path);
		free(w->token);
		free(w);
	}
	c->nr_watches = 0;
}

void watch_send_event(struct xsd *d, struct conn *c, const struct watch *w, const char *path)
{
	char buf[XENSTORE_PAYLOAD_MAX];
	char home[PATH_BUF_SIZE];
	size_t plen, tlen, hlen;

	if (c->dead)
		return;
	if (c->out_bytes > OUT_LIMIT) {
		if (c->dropped_events++ % 1000 == 0)
			rt_warn("client %d (domain %u) does not read its events; dropped %lu",
				c->fd, c->domid, c->dropped_events);
		return;
	}
	/* A watch registered with a relative path reports relative paths. */
	if (w->relative) {
		hlen = path_domain_home(c->domid, home);
		if (strncmp(path, home, hlen) == 0 && path[hlen] == '/')
			path += hlen + 1;
	}
	plen = strlen(path) + 1;
	tlen = strlen(w->token) + 1;
	if (plen + tlen > sizeof(buf)) /* cannot happen with the limits watch_add enforces */
		return;
	memcpy(buf, path, plen);
	memcpy(buf + plen, w->token, tlen);
	conn_send(d, c, XS_WATCH_EVENT, 0, 0, buf, (unsigned int)(plen + tlen));
}

static bool may_see(const struct conn *c, const struct xs_perms *perms)
{
	return c->privileged || (perms_for(perms, c->domid, false) & XS_PERM_READ);
}

void watch_fire(struct xsd *d, const char *path, const struct xs_perms *perms)
{
	bool special = path_is_special(path);
	struct conn *c;
	struct watch *w;

	if (special)
		perms = special_perms(d, path);
	for (c = d->conns; c; c = c->next) {
		if (c->dead || (perms && !may_see(c, perms)))
			continue;
		for (w = c->watches; w; w = w->next) {
			if (special ? strcmp(w->path, path) == 0 :
				      path_is_at_or_below(path, w->path))
				watch_send_event(d, c, w, path);
		}
	}
}

void watch_fire_subtree(struct xsd *d, const char *path)
{
	struct conn *c;
	struct watch *w;

	for (c = d->conns; c; c = c->next) {
		if (c->dead)
			continue;
		for (w = c->watches; w; w = w->next) {
			struct xs_node *n;

			if (path_is_special(w->path) || strcmp(w->path, path) == 0 ||
			    !path_is_at_or_below(w->path, path))
				continue;
			if (store_get(d->live, w->path, &n) == 0 && n && may_see(c, &n->perms))
				watch_send_event(d, c, w, w->path);
		}
	}
}
