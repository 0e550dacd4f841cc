/* Fuzzes tapdisk's blkif datapath around the decoder (src/ring_attach.c, ring.c, request.c,
 * blkif_req.c, pgrant.c): a guest's shared ring, attached with td_ring_attach and consumed with
 * td_ring_drain as the daemon does, every request served by a fake image and answered; the Xen
 * libraries are replaced by fakes over the input's grant pages.
 *
 * Input: [abi][features][max_indirect_segs u16][disk_sectors u64][shared ring page][pages...]
 * features bit 0: persistent grants, 1: read-only, 2: discard, 3: two ring pages, 4: I/O errors.
 * The shared ring (req_prod, req_event, rsp_prod, rsp_event, then the slots) and the guest's
 * grantable pages (grant n = page n) are zero-padded to whole pages. Every consumed request must
 * be answered exactly once, and nothing may stay in flight. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ringtap/log.h"
#include "src/ring_private.h"

#define HDR_SIZE 12u
#define MAX_ROUNDS 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The guest and the image of one input. */
struct host {
	uint8_t *sring; /* the mapped ring pages */
	uint8_t *pages; /* the guest's grantable pages (writable: reads are copied into them) */
	size_t npages;
	unsigned int maps; /* persistent grants mapped and not unmapped */
	struct td_io *queued; /* submitted to the image, not completed */
	bool io_errors;
};

/* The fake Xen libraries have no context argument of their own: the input being run. */
static struct host *current;

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* ---- libxengnttab -------------------------------------------------------------------------- */
xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags)
{
	return (xengnttab_handle *)current;
}

int xengnttab_close(xengnttab_handle *xgt)
{
	return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
	return 0;
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count, uint32_t domid,
				      uint32_t *refs, int prot)
{
	return current->sring;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot)
{
	uint8_t *p;

	if (ref >= current->npages) {
		errno = EINVAL;
		return NULL;
	}
	p = aligned_alloc(TD_PAGE_SIZE, TD_PAGE_SIZE);
	check(p != NULL);
	memcpy(p, current->pages + (size_t)ref * TD_PAGE_SIZE, TD_PAGE_SIZE);
	current->maps++;
	return p;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count)
{
	if (start_address != current->sring) {
		check(count == 1 && current->maps > 0);
		current->maps--;
		free(start_address);
	}
	return 0;
}

/* Bounds and references checked per segment, the status per segment, as Xen does. */
int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
			 xengnttab_grant_copy_segment_t *segs)
{
	for (uint32_t i = 0; i < count; i++) {
		xengnttab_grant_copy_segment_t *s = &segs[i];
		bool from_guest = s->flags & GNTCOPY_source_gref;
		uint32_t ref = from_guest ? s->source.foreign.ref : s->dest.foreign.ref;
		uint16_t offset = from_guest ? s->source.foreign.offset : s->dest.foreign.offset;
		uint8_t *page;

		check(from_guest != !!(s->flags & GNTCOPY_dest_gref));
		if (ref >= current->npages) {
			s->status = GNTST_bad_gntref;
			continue;
		}
		if ((size_t)offset + s->len > TD_PAGE_SIZE) {
			s->status = GNTST_bad_copy_arg;
			continue;
		}
		page = current->pages + (size_t)ref * TD_PAGE_SIZE + offset;
		if (from_guest)
			memcpy(s->dest.virt, page, s->len);
		else
			memcpy(page, s->source.virt, s->len);
		s->status = GNTST_okay;
	}
	return 0;
}

/* ---- libxenevtchn -------------------------------------------------------------------------- */
xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags)
{
	return (xenevtchn_handle *)current;
}

int xenevtchn_close(xenevtchn_handle *xce)
{
	return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
	return -1;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
						     evtchn_port_t remote_port)
{
	return 7;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
	return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
	return -1;
}

/* ---- the image: queues I/Os, completed later from the "loop" ------------------------------ */
static void image_submit(struct td_image *img, struct td_io *io)
{
	struct host *h = img->priv;
	size_t bytes = 0;

	for (int i = 0; i < io->iovcnt; i++) {
		check(io->iov[i].iov_len > 0);
		memset(io->iov[i].iov_base, 0x5a, io->iov[i].iov_len); /* every byte is there */
		bytes += io->iov[i].iov_len;
	}
	check(bytes % 512 == 0);
	io->next = h->queued;
	h->queued = io;
}

static void image_kick(struct td_image *img)
{
}

static const struct td_driver_ops fake_image_ops = {
	.name = "fuzz",
	.submit = image_submit,
	.kick = image_kick,
};

static bool complete_queued(struct host *h)
{
	struct td_io *io = h->queued;

	h->queued = NULL;
	if (!io)
		return false;
	while (io) {
		struct td_io *next = io->next;

		io->done(io, h->io_errors ? -EIO : 0);
		io = next;
	}
	return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	rt_log_set_level(LOG_EMERG); /* refused requests are logged: keep the output readable */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host h = { 0 };
	struct td_image image = { .ops = &fake_image_ops, .priv = &h };
	struct td_ring *r;
	size_t ring_bytes, n;
	RING_IDX start;
	static const char *const protocols[] = { NULL, XEN_IO_PROTO_ABI_X86_32,
						 XEN_IO_PROTO_ABI_X86_64 };

	if (size < HDR_SIZE)
		return 0;
	r = calloc(1, sizeof(*r));
	check(r != NULL);
	r->image = &image; /* the ring's own: what the VBD gives it at connect */
	r->params.domid = 1;
	r->params.protocol = protocols[data[0] % 3];
	r->params.persistent = data[1] & 1;
	r->limits.readonly = data[1] & 2;
	r->limits.discard = data[1] & 4;
	r->params.order = (data[1] & 8) ? 1 : 0;
	h.io_errors = data[1] & 16;
	r->params.max_indirect_segs =
		(uint16_t)((data[2] | data[3] << 8) % (TD_MAX_INDIRECT_SEGS + 1));
	memcpy(&r->limits.disk_sectors, data + 4, 8);
	data += HDR_SIZE;
	size -= HDR_SIZE;

	ring_bytes = (size_t)TD_PAGE_SIZE << r->params.order;
	h.sring = aligned_alloc(TD_PAGE_SIZE, ring_bytes);
	check(h.sring != NULL);
	memset(h.sring, 0, ring_bytes);
	n = size < ring_bytes ? size : ring_bytes;
	memcpy(h.sring, data, n);
	h.npages = (size - n + TD_PAGE_SIZE - 1) / TD_PAGE_SIZE;
	h.pages = calloc(h.npages ? h.npages : 1, TD_PAGE_SIZE);
	check(h.pages != NULL);
	memcpy(h.pages, data + n, size - n);
	current = &h;

	check(td_ring_attach(r, NULL) == 0);
	start = r->back.req_cons;
	/* The loop's work: drain, complete, resume what waited, push the responses. */
	for (int round = 0; round < MAX_ROUNDS; round++) {
		td_ring_drain(r);
		complete_queued(&h);
		td_ring_retry(r);
		td_ring_push_responses(r);
		if (!h.queued && !r->stalled && !r->barrier && !r->retry)
			break;
	}
	check(!h.queued && r->inflight == 0);
	/* every consumed request answered once, in the ring's response slots */
	check(r->back.rsp_prod_pvt - start == r->back.req_cons - start);
	check(r->stats.responses == r->stats.requests);
	td_ring_detach(r);
	check(h.maps == 0);
	current = NULL;
	free(h.pages);
	free(h.sring);
	free(r);
	return 0;
}
