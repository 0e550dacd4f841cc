/* The NBD fixed newstyle handshake, one state machine step at a time: the greeting, the client's
 * flags, then options until NBD_OPT_GO or NBD_OPT_EXPORT_NAME moves the client to transmission
 * (or NBD_OPT_ABORT ends it). Options this server does not implement are refused with
 * NBD_REP_ERR_UNSUP, so replies stay simple replies. */
#include <errno.h>
#include <string.h>

#include "lib/nbd/conn.h"
#include "ringtap/log.h"

int nbd_handshake_start(struct nbd_conn *c)
{
	uint8_t greeting[NBD_GREETING_SIZE];

	nbd_greeting_encode(greeting);
	c->state = NBD_CONN_CLIENT_FLAGS;
	return nbd_conn_queue(c, greeting, sizeof(greeting));
}

static void enter_transmission(struct nbd_conn *c);

int nbd_handshake_start_oldstyle(struct nbd_conn *c)
{
	uint8_t greeting[NBD_OLDSTYLE_GREETING_SIZE];
	int err;

	nbd_oldstyle_greeting_encode(greeting, c->srv->exp.size);
	err = nbd_conn_queue(c, greeting, sizeof(greeting));
	if (!err)
		enter_transmission(c);
	return err;
}

int nbd_handshake_restart(struct nbd_conn *c)
{
	c->nr_options = 0;
	c->fixed_newstyle = c->no_zeroes = false;
	if (c->oldstyle)
		return nbd_handshake_start_oldstyle(c);
	sock_conn_restart_deadline(&c->sc);
	return nbd_handshake_start(c);
}

static int reply(struct nbd_conn *c, uint32_t type, const void *data, uint32_t len)
{
	uint8_t hdr[NBD_REP_HEADER_SIZE];
	int err;

	nbd_rep_header_encode(hdr, c->opt.option, type, len);
	err = nbd_conn_queue(c, hdr, sizeof(hdr));
	if (!err && len)
		err = nbd_conn_queue(c, data, len);
	return err;
}

/* An option this server refuses. A client that did not ask for fixed newstyle cannot be told,
 * so it is dropped (the spec's rule for such servers). */
static void refuse(struct nbd_conn *c, uint32_t type, const char *why)
{
	if (!c->fixed_newstyle) {
		nbd_conn_drop(c, why);
		return;
	}
	reply(c, type, NULL, 0);
}

static void enter_transmission(struct nbd_conn *c)
{
	c->state = NBD_CONN_REQ_HEADER;
	c->sc.deadline_ms = 0;
	c->active_ms = nbd_now_ms();
}

static void opt_export_name(struct nbd_conn *c)
{
	const struct nbd_export *exp = &c->srv->exp;
	uint8_t buf[NBD_EXPORT_NAME_REPLY_SIZE + NBD_EXPORT_NAME_PAD] = { 0 };

	/* no error reply exists for this option: any name is ours, as for NBD_OPT_GO */
	nbd_put64(buf, exp->size);
	nbd_put16(buf + 8, nbd_transmission_flags(exp->flags));
	if (nbd_conn_queue(c, buf, c->no_zeroes ? NBD_EXPORT_NAME_REPLY_SIZE : sizeof(buf)) == 0)
		enter_transmission(c);
}

static void opt_list(struct nbd_conn *c, uint32_t len)
{
	const struct nbd_export *exp = &c->srv->exp;
	uint32_t name_len = (uint32_t)strlen(exp->name);
	uint32_t desc_len = exp->description ? (uint32_t)strlen(exp->description) : 0;
	uint8_t hdr[NBD_REP_HEADER_SIZE + 4];

	if (len) {
		refuse(c, NBD_REP_ERR_INVALID, "NBD_OPT_LIST with data");
		return;
	}
	nbd_rep_header_encode(hdr, c->opt.option, NBD_REP_SERVER, 4 + name_len + desc_len);
	nbd_put32(hdr + NBD_REP_HEADER_SIZE, name_len);
	if (nbd_conn_queue(c, hdr, sizeof(hdr)) || nbd_conn_queue(c, exp->name, name_len) ||
	    (desc_len && nbd_conn_queue(c, exp->description, desc_len)))
		return;
	reply(c, NBD_REP_ACK, NULL, 0);
}

/* NBD_REP_INFO with a u16 info type and its payload. */
static int info(struct nbd_conn *c, uint16_t type, const void *data, uint32_t len)
{
	uint8_t hdr[NBD_REP_HEADER_SIZE + 2];

	nbd_rep_header_encode(hdr, c->opt.option, NBD_REP_INFO, 2 + len);
	nbd_put16(hdr + NBD_REP_HEADER_SIZE, type);
	if (nbd_conn_queue(c, hdr, sizeof(hdr)))
		return -ENOMEM;
	return len ? nbd_conn_queue(c, data, len) : 0;
}

static void opt_info_go(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	const struct nbd_server *srv = c->srv;
	const struct nbd_export *exp = &srv->exp;
	struct nbd_info_request ir;
	uint8_t export[10], sizes[12];
	int err = nbd_info_request_parse(data, len, &ir);

	if (err) {
		refuse(c, NBD_REP_ERR_INVALID, "malformed NBD_OPT_GO/INFO");
		return;
	}
	nbd_put64(export, exp->size);
	nbd_put16(export + 8, nbd_transmission_flags(exp->flags));
	/* always sent: the maximum is the bound this server enforces on READ and WRITE */
	nbd_put32(sizes, srv->lim.min_block);
	nbd_put32(sizes + 4, NBD_PREFERRED_BLOCK);
	nbd_put32(sizes + 8, srv->lim.max_request);
	if (info(c, NBD_INFO_EXPORT, export, sizeof(export)) ||
	    info(c, NBD_INFO_BLOCK_SIZE, sizes, sizeof(sizes)))
		return;
	/* any name names this export, so the canonical name is the one asked for */
	if (ir.want_name && info(c, NBD_INFO_NAME, ir.name, ir.name_len))
		return;
	if (ir.want_description && exp->description &&
	    info(c, NBD_INFO_DESCRIPTION, exp->description, (uint32_t)strlen(exp->description)))
		return;
	if (reply(c, NBD_REP_ACK, NULL, 0))
		return;
	if (c->opt.option == NBD_OPT_GO)
		enter_transmission(c);
}

static void handle_option(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	switch (c->opt.option) {
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(c);
		break;
	case NBD_OPT_ABORT:
		if (reply(c, NBD_REP_ACK, NULL, 0) == 0)
			c->state = NBD_CONN_CLOSING;
		break;
	case NBD_OPT_LIST:
		opt_list(c, len);
		break;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info_go(c, data, len);
		break;
	default: /* STARTTLS, STRUCTURED_REPLY, meta contexts, newer or unknown options */
		refuse(c, NBD_REP_ERR_UNSUP, "unsupported option");
		break;
	}
}

static enum nbd_step read_client_flags(struct nbd_conn *c)
{
	uint32_t flags;

	if (!nbd_conn_in_need(c, 4))
		return NBD_STEP_WAIT;
	flags = nbd_get32(c->in + c->in_start);
	nbd_conn_in_read(c, NULL, 4);
	if (flags & ~NBD_CLIENT_FLAGS_KNOWN) {
		nbd_conn_drop(c, "unknown client flags"); /* the spec says: MUST close */
		return NBD_STEP_WAIT;
	}
	c->fixed_newstyle = flags & NBD_FLAG_C_FIXED_NEWSTYLE;
	c->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	c->state = NBD_CONN_OPT_HEADER;
	return NBD_STEP_AGAIN;
}

static enum nbd_step read_option_header(struct nbd_conn *c)
{
	if (!nbd_conn_in_need(c, NBD_OPT_HEADER_SIZE))
		return NBD_STEP_WAIT;
	if (nbd_opt_header_decode(c->in + c->in_start, &c->opt)) {
		nbd_conn_drop(c, "bad option magic");
		return NBD_STEP_WAIT;
	}
	nbd_conn_in_read(c, NULL, NBD_OPT_HEADER_SIZE);
	if (++c->nr_options > NBD_MAX_OPTIONS) {
		nbd_conn_drop(c, "too many options");
		return NBD_STEP_WAIT;
	}
	if (c->opt.length > NBD_OPT_MAX_LEN) {
		/* EXPORT_NAME has no error reply, and a non-fixed client no way to hear one */
		if (c->opt.option == NBD_OPT_EXPORT_NAME || !c->fixed_newstyle) {
			nbd_conn_drop(c, "oversized option");
			return NBD_STEP_WAIT;
		}
		c->discard_left = c->opt.length;
		c->state = NBD_CONN_OPT_DISCARD;
		return NBD_STEP_AGAIN;
	}
	c->state = NBD_CONN_OPT_DATA;
	return NBD_STEP_AGAIN;
}

enum nbd_step nbd_handshake_step(struct nbd_conn *c)
{
	switch (c->state) {
	case NBD_CONN_CLIENT_FLAGS:
		return read_client_flags(c);
	case NBD_CONN_OPT_HEADER:
		return read_option_header(c);
	case NBD_CONN_OPT_DATA:
		if (!nbd_conn_in_need(c, c->opt.length))
			return NBD_STEP_WAIT;
		c->state = NBD_CONN_OPT_HEADER; /* unless the option moves it on */
		handle_option(c, c->in + c->in_start, c->opt.length);
		if (!c->sc.dead)
			nbd_conn_in_read(c, NULL, c->opt.length);
		return NBD_STEP_AGAIN;
	case NBD_CONN_OPT_DISCARD:
		while (c->discard_left) {
			size_t n = nbd_conn_in_read(c, NULL,
						    c->discard_left < NBD_IN_BUF_SIZE ?
							    (size_t)c->discard_left :
							    NBD_IN_BUF_SIZE);

			if (!n)
				return NBD_STEP_WAIT;
			c->discard_left -= n;
		}
		c->state = NBD_CONN_OPT_HEADER;
		reply(c, NBD_REP_ERR_TOO_BIG, NULL, 0);
		return NBD_STEP_AGAIN;
	default:
		return NBD_STEP_WAIT;
	}
}
