/* Checks simxen-xenstored through Debian's libxenstore (run by tests/system/simxen-xenstore-*.sh):
 *   xs-client-test tx              transactions: isolation, abort, a real conflict (EAGAIN)
 *   xs-client-test watch           watches: initial event, descendants, removal, unwatch
 *   xs-client-test release DOMID   waits (after printing "ready") for @releaseDomain, then checks
 *                                  DOMID is no longer introduced
 *   xs-client-test guest DOMID     run as domain DOMID: what an unprivileged domain may do
 * Prints "ok: ..." per check; exits 1 at the first failure. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenstore.h>

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void ok(const char *what)
{
	printf("ok: %s\n", what);
	fflush(stdout);
}

static struct xs_handle *open_xs(void)
{
	struct xs_handle *h = xs_open(0);

	if (!h)
		fail("xs_open: %s (XENSTORED_PATH=%s)", strerror(errno), getenv("XENSTORED_PATH"));
	return h;
}

static void put(struct xs_handle *h, xs_transaction_t t, const char *path, const char *v)
{
	if (!xs_write(h, t, path, v, (unsigned int)strlen(v)))
		fail("write %s: %s", path, strerror(errno));
}

/* The value of path, or "<errno name>" when the read fails. */
static const char *get(struct xs_handle *h, xs_transaction_t t, const char *path)
{
	static char buf[256];
	char *v = xs_read(h, t, path, NULL);

	if (!v) {
		snprintf(buf, sizeof(buf), "<%s>",
			 errno == ENOENT ? "ENOENT" :
			 errno == EACCES ? "EACCES" :
					   strerror(errno));
		return buf;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	free(v);
	return buf;
}

static void expect_value(struct xs_handle *h, xs_transaction_t t, const char *path,
			 const char *want, const char *what)
{
	const char *got = get(h, t, path);

	if (strcmp(got, want) != 0)
		fail("%s: %s is '%s', expected '%s'", what, path, got, want);
	ok(what);
}

/* ---- transactions --------------------------------------------------------------------------- */

static int test_tx(void)
{
	struct xs_handle *a = open_xs(), *b = open_xs();
	xs_transaction_t ta, tb;

	put(a, XBT_NULL, "/tx/x", "zero");

	/* Isolation and abort. */
	ta = xs_transaction_start(a);
	if (ta == XBT_NULL)
		fail("transaction_start: %s", strerror(errno));
	put(a, ta, "/tx/x", "inside");
	put(a, ta, "/tx/new/deep", "1");
	expect_value(a, ta, "/tx/x", "inside", "a transaction sees its own write");
	expect_value(b, XBT_NULL, "/tx/x", "zero", "others do not see it before commit");
	expect_value(b, XBT_NULL, "/tx/new/deep", "<ENOENT>", "nor the nodes it created");
	if (!xs_transaction_end(a, ta, true))
		fail("abort: %s", strerror(errno));
	expect_value(b, XBT_NULL, "/tx/x", "zero", "an aborted transaction changes nothing");
	expect_value(b, XBT_NULL, "/tx/new", "<ENOENT>", "not even the parents it created");

	/* A real conflict: both read x, both write it, the second commit loses. */
	ta = xs_transaction_start(a);
	tb = xs_transaction_start(b);
	if (ta == XBT_NULL || tb == XBT_NULL)
		fail("transaction_start: %s", strerror(errno));
	expect_value(a, ta, "/tx/x", "zero", "transaction A reads x");
	expect_value(b, tb, "/tx/x", "zero", "transaction B reads x");
	put(a, ta, "/tx/x", "from-a");
	put(a, ta, "/tx/a-only", "1");
	put(b, tb, "/tx/x", "from-b");
	put(b, tb, "/tx/b-only", "1");
	if (!xs_transaction_end(a, ta, false))
		fail("commit of A (the first): %s", strerror(errno));
	ok("the first commit succeeds");
	if (xs_transaction_end(b, tb, false))
		fail("commit of B succeeded although A changed x since B read it");
	if (errno != EAGAIN)
		fail("commit of B failed with %s, expected EAGAIN", strerror(errno));
	ok("the conflicting commit fails with EAGAIN");
	expect_value(b, XBT_NULL, "/tx/x", "from-a", "the winner's value is visible");
	expect_value(b, XBT_NULL, "/tx/a-only", "1", "all of the winner's writes are visible");
	expect_value(b, XBT_NULL, "/tx/b-only", "<ENOENT>", "none of the loser's");

	/* Retrying, as clients do, succeeds. */
	tb = xs_transaction_start(b);
	expect_value(b, tb, "/tx/x", "from-a", "the retry reads the winner's value");
	put(b, tb, "/tx/x", "from-b");
	if (!xs_transaction_end(b, tb, false))
		fail("retried commit: %s", strerror(errno));
	expect_value(a, XBT_NULL, "/tx/x", "from-b", "the retried transaction commits");

	/* Transactions on unrelated nodes do not conflict. */
	put(a, XBT_NULL, "/tx/one/v", "0");
	put(a, XBT_NULL, "/tx/two/v", "0");
	ta = xs_transaction_start(a);
	tb = xs_transaction_start(b);
	put(a, ta, "/tx/one/v", "a");
	put(b, tb, "/tx/two/v", "b");
	if (!xs_transaction_end(a, ta, false) || !xs_transaction_end(b, tb, false))
		fail("commit of independent transactions: %s", strerror(errno));
	expect_value(a, XBT_NULL, "/tx/two/v", "b", "independent transactions both commit");

	/* A change made outside after a transaction read a node also conflicts. */
	ta = xs_transaction_start(a);
	expect_value(a, ta, "/tx/one/v", "a", "transaction reads v");
	put(b, XBT_NULL, "/tx/one/v", "outside");
	put(a, ta, "/tx/one/w", "1");
	if (xs_transaction_end(a, ta, false) || errno != EAGAIN)
		fail("commit after an outside change to a node it read: %s",
		     errno ? strerror(errno) : "succeeded");
	ok("a node changed outside since the transaction read it makes the commit fail");

	/* An unknown transaction id is refused. */
	if (xs_write(a, 987654, "/tx/y", "1", 1) || errno != ENOENT)
		fail("write in an unknown transaction: %s", errno ? strerror(errno) : "succeeded");
	ok("a write in an unknown transaction fails with ENOENT");
	xs_close(a);
	xs_close(b);
	return 0;
}

/* ---- watches -------------------------------------------------------------------------------- */

/* The next event within 5 s, as "path token". */
static const char *next_event(struct xs_handle *h)
{
	static char buf[512];
	struct pollfd p = { .fd = xs_fileno(h), .events = POLLIN };
	unsigned int n;
	char **v;

	if (poll(&p, 1, 5000) <= 0)
		return "<timeout>";
	v = xs_read_watch(h, &n);
	if (!v)
		fail("xs_read_watch: %s", strerror(errno));
	snprintf(buf, sizeof(buf), "%s %s", v[XS_WATCH_PATH], v[XS_WATCH_TOKEN]);
	free(v);
	return buf;
}

static void expect_event(struct xs_handle *h, const char *want, const char *what)
{
	const char *got = next_event(h);

	if (strcmp(got, want) != 0)
		fail("%s: event '%s', expected '%s'", what, got, want);
	ok(what);
}

static int test_watch(void)
{
	struct xs_handle *w = open_xs(), *x = open_xs();

	put(x, XBT_NULL, "/w/a/b", "1");
	if (!xs_watch(w, "/w", "tok"))
		fail("watch /w: %s", strerror(errno));
	expect_event(w, "/w tok", "a new watch fires once at once");
	if (xs_watch(w, "/w", "tok") || errno != EEXIST)
		fail("a duplicate watch: %s", errno ? strerror(errno) : "accepted");
	ok("the same watch twice is refused with EEXIST");

	put(x, XBT_NULL, "/w/a/b", "2");
	expect_event(w, "/w/a/b tok", "a write below the watch fires with the node's path");
	put(x, XBT_NULL, "/wx", "1"); /* beside, not below: no event */
	put(x, XBT_NULL, "/w", "v");
	expect_event(w, "/w tok", "a write to the watched node itself fires; a sibling does not");

	if (!xs_watch(w, "/w/a/b", "deep"))
		fail("watch /w/a/b: %s", strerror(errno));
	expect_event(w, "/w/a/b deep", "a second watch's initial event");
	if (!xs_rm(x, XBT_NULL, "/w/a"))
		fail("rm /w/a: %s", strerror(errno));
	{
		/* Both watches fire; their order is the daemon's business. */
		char e1[512], e2[512];

		snprintf(e1, sizeof(e1), "%s", next_event(w));
		snprintf(e2, sizeof(e2), "%s", next_event(w));
		if (!((strcmp(e1, "/w/a tok") == 0 && strcmp(e2, "/w/a/b deep") == 0) ||
		      (strcmp(e2, "/w/a tok") == 0 && strcmp(e1, "/w/a/b deep") == 0)))
			fail("removing /w/a fired '%s' and '%s'", e1, e2);
		ok("removing a subtree fires the ancestor's watch and the watch inside it");
	}

	/* Transactions fire at commit, not before. */
	{
		xs_transaction_t t;

		if (!xs_watch(w, "/m", "m"))
			fail("watch /m: %s", strerror(errno));
		expect_event(w, "/m m", "a marker watch");
		t = xs_transaction_start(x);
		put(x, t, "/w/t", "1");
		put(x, XBT_NULL, "/m/x", "1");
		expect_event(w, "/m/x m", "a write inside a transaction does not fire");
		if (!xs_transaction_end(x, t, false))
			fail("commit: %s", strerror(errno));
		expect_event(w, "/w/t tok", "it fires when the transaction commits");
	}

	if (!xs_unwatch(w, "/w", "tok"))
		fail("unwatch: %s", strerror(errno));
	if (xs_unwatch(w, "/w", "tok") || errno != ENOENT)
		fail("unwatch twice: %s", errno ? strerror(errno) : "accepted");
	ok("unwatching a watch that is gone fails with ENOENT");
	if (!xs_watch(w, "/other", "sentinel"))
		fail("watch /other: %s", strerror(errno));
	expect_event(w, "/other sentinel", "sentinel watch");
	put(x, XBT_NULL, "/w/after", "1");
	put(x, XBT_NULL, "/other", "1");
	expect_event(w, "/other sentinel", "no event after unwatch");

	/* A relative watch reports relative paths (dom0's home is /local/domain/0). */
	if (!xs_watch(w, "rel", "r"))
		fail("watch rel: %s", strerror(errno));
	expect_event(w, "rel r", "a relative watch's initial event is relative");
	put(x, XBT_NULL, "/local/domain/0/rel/x", "1");
	expect_event(w, "rel/x r", "its events are relative to the domain's home");
	xs_close(w);
	xs_close(x);
	return 0;
}

/* ---- @releaseDomain ------------------------------------------------------------------------- */

static int test_release(unsigned int domid)
{
	struct xs_handle *h = open_xs();

	if (!xs_is_domain_introduced(h, domid))
		fail("domain %u is not introduced", domid);
	ok("the domain is introduced");
	if (!xs_watch(h, "@releaseDomain", "rel"))
		fail("watch @releaseDomain: %s", strerror(errno));
	expect_event(h, "@releaseDomain rel", "@releaseDomain's initial event");
	printf("ready\n");
	fflush(stdout);
	expect_event(h, "@releaseDomain rel", "@releaseDomain fires when the domain is destroyed");
	if (xs_is_domain_introduced(h, domid))
		fail("domain %u is still introduced after its release", domid);
	ok("the domain is no longer introduced");
	expect_value(h, XBT_NULL, "/local/domain/1000/../x", "<Invalid argument>",
		     "a path with dots is invalid");
	xs_close(h);
	return 0;
}

/* ---- an unprivileged domain ----------------------------------------------------------------- */

static void expect_write_err(struct xs_handle *h, const char *path, int err, const char *what)
{
	if (xs_write(h, XBT_NULL, path, "x", 1))
		fail("%s: writing %s succeeded", what, path);
	if (errno != err)
		fail("%s: writing %s failed with %s, expected %s", what, path, strerror(errno),
		     strerror(err));
	ok(what);
}

static int test_guest(unsigned int domid)
{
	struct xs_handle *h = open_xs();
	char path[256], *home;
	struct xs_permissions perms[2];
	unsigned int n;
	char **dir;

	home = xs_get_domain_path(h, domid);
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	if (!home || strcmp(home, path) != 0)
		fail("get_domain_path: %s", home ? home : strerror(errno));
	free(home);
	ok("GET_DOMAIN_PATH");
	expect_value(h, XBT_NULL, "name", "guest", "the domain reads its name (relative path)");
	put(h, XBT_NULL, "data/hello", "from-guest");
	ok("the domain writes under its data/");
	snprintf(path, sizeof(path), "/local/domain/%u/data/hello", domid);
	{
		struct xs_permissions *got = xs_get_permissions(h, XBT_NULL, path, &n);

		if (!got || n != 1 || got[0].id != domid)
			fail("get_permissions %s: %s", path, got ? "wrong owner" : strerror(errno));
		free(got);
	}
	ok("the domain reads its node's permissions: it owns what it created");
	expect_write_err(h, "/local/domain/0/evil", EACCES, "writing in dom0's home: EACCES");
	expect_write_err(h, "/evil", EACCES, "writing at the root: EACCES");
	expect_value(h, XBT_NULL, "/local/domain/0/name", "<EACCES>",
		     "reading dom0's nodes: EACCES");
	expect_value(h, XBT_NULL, "/local/domain/0/nothere", "<EACCES>",
		     "a missing node under an unreadable one: EACCES, not ENOENT");
	snprintf(path, sizeof(path), "/local/domain/0/backend/vbd3/%u/51712/mode", domid);
	expect_value(h, XBT_NULL, path, "w", "the domain reads the backend dom0 let it read");
	expect_write_err(h, path, EACCES, "but cannot write it: EACCES");
	snprintf(path, sizeof(path), "/local/domain/0/backend/vbd3/%u/51712/nothere", domid);
	expect_value(h, XBT_NULL, path, "<ENOENT>", "a missing node under a readable one: ENOENT");
	snprintf(path, sizeof(path), "/local/domain/%u/device/vbd/51712/state", domid);
	put(h, XBT_NULL, path, "3");
	ok("the domain writes its frontend's state");
	dir = xs_directory(h, XBT_NULL, "/local/domain", &n);
	if (dir || errno != EACCES)
		fail("listing /local/domain: %s", dir ? "allowed" : strerror(errno));
	ok("listing other domains: EACCES");

	/* Giving a node away is dom0's privilege. */
	perms[0].id = 0;
	perms[0].perms = XS_PERM_NONE;
	if (xs_set_permissions(h, XBT_NULL, "data/hello", perms, 1) || errno != EPERM)
		fail("changing the owner: %s", errno ? strerror(errno) : "allowed");
	ok("changing a node's owner: EPERM");
	perms[0].id = (unsigned int)domid;
	perms[0].perms = XS_PERM_NONE;
	perms[1].id = 0;
	perms[1].perms = XS_PERM_READ;
	if (!xs_set_permissions(h, XBT_NULL, "data/hello", perms, 2))
		fail("setting its own node's perms: %s", strerror(errno));
	ok("the owner sets its node's permissions");
	if (xs_is_domain_introduced(h, 0) || errno != EACCES)
		fail("IS_DOMAIN_INTRODUCED from a guest: %s", errno ? strerror(errno) : "allowed");
	ok("privileged requests: EACCES");

	/* Watches: events only for what the domain may read. */
	if (!xs_watch(h, "/local/domain/0/name", "d0"))
		fail("watch: %s", strerror(errno));
	expect_event(h, "/local/domain/0/name d0", "a watch's initial event comes regardless");
	if (!xs_watch(h, "device", "dev"))
		fail("watch device: %s", strerror(errno));
	expect_event(h, "device dev", "a relative watch");
	printf("ready\n");
	fflush(stdout);
	/* The test script now writes /local/domain/0/name and this domain's device/ node. */
	snprintf(path, sizeof(path), "device/vbd/51712/state dev");
	expect_event(h, path, "only the readable change is reported, relative to the home");
	xs_close(h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "tx") == 0)
		return test_tx();
	if (argc == 2 && strcmp(argv[1], "watch") == 0)
		return test_watch();
	if (argc == 3 && strcmp(argv[1], "release") == 0)
		return test_release((unsigned int)atoi(argv[2]));
	if (argc == 3 && strcmp(argv[1], "guest") == 0)
		return test_guest((unsigned int)atoi(argv[2]));
	fprintf(stderr, "usage: xs-client-test tx | watch | release DOMID | guest DOMID\n");
	return 22;
}
