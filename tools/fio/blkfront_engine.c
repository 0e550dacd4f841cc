/* fio external ioengine `blkfront`: fio as the guest's load generator, every I/O going through
 * libblkfront's ring to the backend. Built against the source of Debian's fio (GPL-2.0).
 *   fio --ioengine=external:build/lib/blkfront.so --filename=/local/domain/5/device/vbd/768 ...
 * The job runs as the guest domain (SIMXEN_DOMID etc. in the environment on simxen). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fio.h"
#include "optgroup.h"

#include "ringtap/blkfront.h"
#include "ringtap/log.h"

/* Engine options (given after ioengine= on the command line). fio stores a thread_data pointer
 * in the first member. */
struct bfe_options {
	void *pad;
	unsigned int ring_order;
	char *abi;
	unsigned int persistent;
	unsigned int max_indirect;
	unsigned int poll;
	unsigned int queue_depth;
	char *stats_file;
};

static struct fio_option options[] = {
	{
		.name = "bf_ring_order",
		.lname = "blkfront ring page order",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct bfe_options, ring_order),
		.minval = 0,
		.maxval = 4,
		.def = "0",
		.help = "ring-page-order to ask for (0..4; the backend's maximum applies)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "bf_abi",
		.lname = "blkfront ring ABI",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct bfe_options, abi),
		.def = "native",
		.help = "ring layout announced in `protocol`: native, x86_32-abi or x86_64-abi",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "bf_persistent",
		.lname = "blkfront persistent grants",
		.type = FIO_OPT_BOOL,
		.off1 = offsetof(struct bfe_options, persistent),
		.def = "1",
		.help = "offer feature-persistent (reuse a pool of granted pages)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "bf_max_indirect",
		.lname = "blkfront indirect segments",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct bfe_options, max_indirect),
		.minval = 0,
		.maxval = 4096,
		.def = "256",
		.help = "segments per indirect request (0: direct requests only)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "bf_poll",
		.lname = "blkfront polling",
		.type = FIO_OPT_BOOL,
		.off1 = offsetof(struct bfe_options, poll),
		.def = "0",
		.help = "poll the ring for responses instead of waiting on the event channel",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "bf_queue_depth",
		.lname = "blkfront ring requests in flight",
		.type = FIO_OPT_INT,
		.off1 = offsetof(struct bfe_options, queue_depth),
		.minval = 0,
		.def = "0",
		.help = "ring requests in flight at most (0: the ring's size)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "bf_stats",
		.lname = "blkfront counters file",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct bfe_options, stats_file),
		.help = "write the engine's counters (JSON) to this file at the end; "
			"otherwise they go to stderr",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = NULL,
	},
};

/* Per-thread engine state (td->io_ops_data): everything lives here, nothing global. */
struct bfe_data {
	struct blkfront *bf;
	bool poll;
	/* completed io_us not yet handed to fio: a FIFO of `cap` entries */
	struct io_u **done;
	unsigned int cap, head, count;
	/* the io_us returned by the last getevents, for event() */
	struct io_u **events;
};

/* Room for one more completion: fio's iodepth bounds them, but nothing here relies on it. */
static int done_reserve(struct bfe_data *d)
{
	unsigned int i, cap = d->cap * 2;
	struct io_u **done, **events;

	if (d->count < d->cap)
		return 0;
	done = calloc(cap, sizeof(*done));
	events = calloc(cap, sizeof(*events));
	if (!done || !events) {
		free(done);
		free(events);
		return -ENOMEM;
	}
	for (i = 0; i < d->count; i++)
		done[i] = d->done[(d->head + i) % d->cap];
	free(d->done);
	free(d->events);
	d->done = done;
	d->events = events;
	d->head = 0;
	d->cap = cap;
	return 0;
}

static void bfe_done(void *arg, int error)
{
	struct io_u *io_u = arg;
	struct bfe_data *d = io_u->engine_data;

	if (error) {
		io_u->error = -error;
		io_u->resid = io_u->xfer_buflen;
	}
	if (done_reserve(d)) {
		log_err("blkfront: out of memory for completions\n");
		return;
	}
	d->done[(d->head + d->count) % d->cap] = io_u;
	d->count++;
}

static int parse_abi(const char *s, enum blkif_abi *abi)
{
	if (!s || !strcmp(s, "native")) {
		*abi = BLKIF_ABI_NATIVE;
		return 0;
	}
	if (!strcmp(s, "x86_32"))
		s = "x86_32-abi";
	else if (!strcmp(s, "x86_64"))
		s = "x86_64-abi";
	return blkif_abi_from_protocol(s, abi);
}

static void bfe_free(struct bfe_data *d)
{
	free(d->done);
	free(d->events);
	free(d);
}

/* Connects in setup, where fio wants the size; the job runs as a thread of this process (as
 * fio's rbd engine does) so the connection stays valid. */
static int bfe_setup(struct thread_data *td)
{
	struct bfe_options *o = td->eo;
	struct blkfront_opts opts;
	struct bfe_data *d;
	struct fio_file *f;
	const struct blkfront_info *info;
	int err;

	if (td->io_ops_data)
		return 0;
	if (td->o.nr_files != 1 || !td->files_index) {
		log_err("blkfront: give exactly one --filename (the frontend's xenstore path)\n");
		return 1;
	}
	td->o.use_thread = 1;
	rt_log_open("fio-blkfront", 1);
	f = td->files[0];
	blkfront_opts_init(&opts);
	opts.ring_order = o->ring_order;
	opts.persistent = o->persistent;
	opts.max_indirect_segs = o->max_indirect;
	opts.queue_depth = o->queue_depth;
	if (parse_abi(o->abi, &opts.abi)) {
		log_err("blkfront: bf_abi=%s: use native, x86_32-abi or x86_64-abi\n", o->abi);
		return 1;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->cap = td->o.iodepth ? td->o.iodepth : 1;
	d->done = calloc(d->cap, sizeof(*d->done));
	d->events = calloc(d->cap, sizeof(*d->events));
	d->poll = o->poll;
	if (!d->done || !d->events) {
		bfe_free(d);
		return 1;
	}
	err = blkfront_open(f->file_name, &opts, &d->bf);
	if (err) {
		log_err("blkfront: %s: %s\n", f->file_name, strerror(-err));
		bfe_free(d);
		return 1;
	}
	info = blkfront_info(d->bf);
	f->real_file_size = info->sectors * info->sector_size;
	fio_file_set_size_known(f);
	td->io_ops_data = d;
	return 0;
}

static int bfe_init(struct thread_data *td)
{
	/* setup runs first whenever the job has files; without it there is nothing to do */
	return td->io_ops_data ? 0 : 1;
}

static void write_stats(struct thread_data *td, struct bfe_data *d)
{
	struct bfe_options *o = td->eo;
	const struct blkfront_info *in = blkfront_info(d->bf);
	struct blkfront_stats s;
	FILE *out = stderr;

	blkfront_stats(d->bf, &s);
	if (o->stats_file && *o->stats_file) {
		out = fopen(o->stats_file, "w");
		if (!out) {
			log_err("blkfront: %s: %s\n", o->stats_file, strerror(errno));
			return;
		}
	}
	fprintf(out,
		"{\"blkfront\": {\"job\": \"%s\", \"notifications_sent\": %llu, "
		"\"events_received\": %llu, \"requests\": %llu, \"responses\": %llu, "
		"\"ios\": %llu, \"errors\": %llu, \"grants_shared\": %llu, \"ring_order\": %u, "
		"\"ring_size\": %u, \"max_segs\": %u, \"persistent\": %s, \"protocol\": \"%s\", "
		"\"mode\": \"%s\"}}\n",
		td->o.name ? td->o.name : "", (unsigned long long)s.notifications_sent,
		(unsigned long long)s.events_received, (unsigned long long)s.requests,
		(unsigned long long)s.responses, (unsigned long long)s.ios,
		(unsigned long long)s.errors, (unsigned long long)s.grants_shared, in->ring_order,
		in->ring_size, in->max_segs, in->persistent ? "true" : "false",
		blkif_abi_name(in->abi), d->poll ? "poll" : "event");
	if (out != stderr)
		fclose(out);
}

static void bfe_cleanup(struct thread_data *td)
{
	struct bfe_data *d = td->io_ops_data;

	if (!d)
		return;
	write_stats(td, d);
	blkfront_close(d->bf);
	bfe_free(d);
	td->io_ops_data = NULL;
}

static int bfe_open_file(struct thread_data *td, struct fio_file *f)
{
	return td->io_ops_data ? 0 : EIO;
}

static int bfe_close_file(struct thread_data *td, struct fio_file *f)
{
	return 0;
}

static enum fio_q_status bfe_queue(struct thread_data *td, struct io_u *io_u)
{
	struct bfe_data *d = td->io_ops_data;
	enum blkfront_op op;
	int err;

	switch (io_u->ddir) {
	case DDIR_READ:
		op = BLKFRONT_READ;
		break;
	case DDIR_WRITE:
		op = BLKFRONT_WRITE;
		break;
	case DDIR_TRIM:
		op = BLKFRONT_DISCARD;
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
	case DDIR_SYNC_FILE_RANGE:
		op = BLKFRONT_FLUSH;
		break;
	default:
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	io_u->engine_data = d;
	err = blkfront_submit(d->bf, op, io_u->offset, io_u->xfer_buf, io_u->xfer_buflen, bfe_done,
			      io_u);
	if (err) {
		io_u->error = -err;
		return FIO_Q_COMPLETED;
	}
	return FIO_Q_QUEUED;
}

static int bfe_commit(struct thread_data *td)
{
	struct bfe_data *d = td->io_ops_data;

	blkfront_commit(d->bf);
	return 0;
}

static int64_t ns_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 +
	       (deadline->tv_nsec - now.tv_nsec);
}

static int bfe_getevents(struct thread_data *td, unsigned int min, unsigned int max,
			 const struct timespec *t)
{
	struct bfe_data *d = td->io_ops_data;
	struct timespec deadline;
	unsigned int n;
	int err = 0;

	if (t) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += t->tv_sec;
		deadline.tv_nsec += t->tv_nsec;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	err = blkfront_process(d->bf, !d->poll);
	while (err >= 0 && d->count < min) {
		int64_t left = t ? ns_left(&deadline) : -1;

		if (t && left <= 0)
			break;
		if (d->poll)
			err = blkfront_process(d->bf, false);
		else
			err = blkfront_wait(d->bf, !t ? 1000 : left > 1000000000 ? 1000
									       : (int)(left / 1000000));
	}
	if (err < 0 && !d->count) {
		log_err("blkfront: ring stopped: %s\n", strerror(-err));
		return err;
	}
	/* hand over what is complete right away: fio counts io_us in flight until reaped */
	n = d->count < max ? d->count : max;
	for (unsigned int i = 0; i < n; i++) {
		d->events[i] = d->done[d->head];
		d->head = (d->head + 1) % d->cap;
	}
	d->count -= n;
	return (int)n;
}

static struct io_u *bfe_event(struct thread_data *td, int event)
{
	struct bfe_data *d = td->io_ops_data;

	return d->events[event];
}

/* fio finds the engine through this exported symbol (external:...so) */
struct ioengine_ops ioengine = {
	.name = "blkfront",
	.version = FIO_IOOPS_VERSION,
	.flags = FIO_DISKLESSIO | FIO_NODISKUTIL | FIO_NOEXTEND,
	.setup = bfe_setup,
	.init = bfe_init,
	.queue = bfe_queue,
	.commit = bfe_commit,
	.getevents = bfe_getevents,
	.event = bfe_event,
	.cleanup = bfe_cleanup,
	.open_file = bfe_open_file,
	.close_file = bfe_close_file,
	.options = options,
	.option_struct_size = sizeof(struct bfe_options),
};
