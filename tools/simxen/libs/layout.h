/* The layout of simxen's state directory: per-domain grant tables, event-channel port tables and
 * guest memory, shared by every process of the simulated host through mmap (see README.md). */
#ifndef SIMXEN_LAYOUT_H
#define SIMXEN_LAYOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#define SX_PAGE_SIZE 4096u
/* Xen's default of 64 v1 grant-table frames per domain. */
#define SX_NR_GRANTS 32768u
/* Linux keeps the first refs for the console and xenstore rings; gntalloc never hands them out. */
#define SX_FIRST_GRANT GNTTAB_NR_RESERVED_ENTRIES
/* The 2-level event-channel ABI of a 64-bit guest. Port 0 is never allocated, as in Xen. */
#define SX_NR_PORTS 4096u

/* Owner slots of grant-device handles (owner.h), 1 to SX_NR_OWNERS - 1; 0 is no owner. */
#define SX_NR_OWNERS 8192u

#define SX_HOST_FILE "host"
#define SX_OWNERS_FILE "owners"
#define SX_PINS_FILE_FMT "pins%u.d%u"
#define SX_DOMAIN_FILE_FMT "dom%u.state"
#define SX_MEMORY_FILE_FMT "dom%u.mem"

/*
 * A grant entry is one 64-bit word so that every transition is a single compare-and-swap; a zero
 * word is a free entry, so a freshly created (zero-filled) table is empty.
 *   bits 0-15  the domain the page is granted to
 *   bit  16    in use (granted, or revoked and waiting for its last mapping to go)
 *   bit  17    read-only grant
 *   bit  18    revoked: no new mapping or copy; the page is freed when pins drops to 0
 *   bits 19-31 the owner slot (owner.h) of the xengntshr handle that granted it: its death
 *              revokes the grant
 *   bits 32-63 pins: mappings plus grant copies in progress
 */
#define SX_GNT_IN_USE (1ull << 16)
#define SX_GNT_READONLY (1ull << 17)
#define SX_GNT_REVOKED (1ull << 18)
#define SX_GNT_OWNER_SHIFT 19
#define SX_GNT_PIN (1ull << 32)

static inline uint16_t sx_gnt_domid(uint64_t w)
{
	return (uint16_t)w;
}

static inline uint32_t sx_gnt_owner(uint64_t w)
{
	return (uint32_t)(w >> SX_GNT_OWNER_SHIFT) & (SX_NR_OWNERS - 1);
}

static inline uint32_t sx_gnt_pins(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

/*
 * An event-channel port is one 64-bit word too; zero is a free port.
 *   bits 0-1   state (SX_PORT_*)
 *   bit  2     pending: an event arrived while the port was masked
 *   bit  3     masked: an event was delivered to the owner and not yet unmasked
 *   bits 4-15  remote port (interdomain)
 *   bits 16-31 remote domain (interdomain), or the domain allowed to bind (unbound)
 *   bits 32-63 id of the owning xenevtchn handle (its wakeup FIFO, see port.c)
 */
enum sx_port_state {
	SX_PORT_FREE = 0,
	SX_PORT_UNBOUND = 1,
	SX_PORT_INTERDOMAIN = 2,
	SX_PORT_PEER_DEAD = 3, /* the remote domain was destroyed */
};
#define SX_PORT_STATE_MASK 3ull
#define SX_PORT_PENDING (1ull << 2)
#define SX_PORT_MASKED (1ull << 3)

static inline enum sx_port_state sx_port_state(uint64_t w)
{
	return (enum sx_port_state)(w & SX_PORT_STATE_MASK);
}

static inline uint32_t sx_port_remote_port(uint64_t w)
{
	return (uint32_t)(w >> 4) & (SX_NR_PORTS - 1);
}

static inline uint16_t sx_port_remote_domid(uint64_t w)
{
	return (uint16_t)(w >> 16);
}

static inline uint32_t sx_port_owner(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

static inline uint64_t sx_port_word(enum sx_port_state state, uint16_t remote_domid,
				    uint32_t remote_port, uint32_t owner)
{
	return (uint64_t)state | (uint64_t)(remote_port & (SX_NR_PORTS - 1)) << 4 |
	       (uint64_t)remote_domid << 16 | (uint64_t)owner << 32;
}

/* $SIMXEN_DIR/host: host-wide state. Its file lock serialises event-channel binding. */
struct sx_host_shared {
	_Atomic uint32_t next_handle_id;
};

/* $SIMXEN_DIR/dom<N>.state; guest memory is $SIMXEN_DIR/dom<N>.mem, where the page at
 * offset ref * SX_PAGE_SIZE backs grant ref. */
struct sx_domain_shared {
	_Atomic uint32_t live; /* created and not destroyed */
	uint8_t reserved[SX_PAGE_SIZE - sizeof(uint32_t)];
	_Atomic uint64_t grants[SX_NR_GRANTS];
	_Atomic uint64_t ports[SX_NR_PORTS];
};

/* $SIMXEN_DIR/owners: one entry per owner slot. A slot is held by an open file description lock
 * on its byte of the file (F_OFD_SETLK), which the kernel drops when the holder dies. */
struct sx_owner_shared {
	_Atomic uint32_t claimed; /* held, or its holder died and it was not reaped yet */
	uint32_t domid; /* the holder's domain: the one its xengntshr grants are in */
};

struct sx_owners_shared {
	struct sx_owner_shared slots[SX_NR_OWNERS];
};

/* $SIMXEN_DIR/pins<slot>.d<N>: how many times the holder of slot maps each grant of domain N,
 * so that its death drops those pins. */
struct sx_pins_shared {
	_Atomic uint32_t count[SX_NR_GRANTS];
};

#define SX_MEMORY_SIZE ((uint64_t)SX_NR_GRANTS * SX_PAGE_SIZE)

/* Domain ids a guest can have; DOMID_SELF is resolved by the callers. */
static inline bool sx_domid_valid(uint32_t domid)
{
	return domid < DOMID_FIRST_RESERVED;
}

#endif
