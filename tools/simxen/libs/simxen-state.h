/* simxen's shared grant-table and event-channel state, for the simxen command (the libraries'
 * own ABI is Xen's). The state lives under the directory named by $SIMXEN_DIR. */
#ifndef SIMXEN_STATE_H
#define SIMXEN_STATE_H

#include <stdint.h>

/* Creates the grant/event-channel state of a new domain under state_dir. 0 or -errno. */
int simxen_state_create_domain(const char *state_dir, uint16_t domid);

/* Destroys a domain as Xen does: revokes every grant it made (mappings others hold stay valid
 * until unmapped, as with a dying domain's pages), closes its event-channel ports (a peer
 * notifying them gets an error), and frees its state. 0 or -errno. */
int simxen_state_destroy_domain(const char *state_dir, uint16_t domid);

#endif
