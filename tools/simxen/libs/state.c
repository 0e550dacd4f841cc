/* simxen-state.h: creating and destroying domains in the state directory, for the simxen
 * command (the hypervisor's part of a domain's life). */
#include <errno.h>

#include "grant.h"
#include "port.h"
#include "simxen-state.h"

static int state_check_domid(uint16_t domid)
{
	if (domid == 0)
		return -EPERM; /* dom0 is the host itself */
	return sx_domid_valid(domid) ? 0 : -EINVAL;
}

int simxen_state_create_domain(const char *state_dir, uint16_t domid)
{
	struct sx_host host;
	struct sx_domain *dom;
	bool was_live = false;
	int rc = state_check_domid(domid);

	if (rc < 0)
		return rc;
	rc = sx_host_open(&host, state_dir);
	if (rc < 0)
		return rc;
	rc = sx_domain_create(&host, domid, &dom, &was_live);
	sx_host_close(&host);
	if (rc == 0 && was_live)
		rc = -EEXIST;
	return rc;
}

int simxen_state_destroy_domain(const char *state_dir, uint16_t domid)
{
	struct sx_host host;
	struct sx_domain *dom;
	uint32_t i;
	int rc = state_check_domid(domid);

	if (rc < 0)
		return rc;
	rc = sx_host_open(&host, state_dir);
	if (rc < 0)
		return rc;
	rc = sx_domain_get(&host, domid, &dom);
	if (rc == 0 && !atomic_exchange(&dom->shared->live, 0))
		rc = -ESRCH;
	if (rc < 0) {
		sx_host_close(&host);
		return rc;
	}
	/* No new map or copy from here on (live is 0); existing mappings keep their pages. */
	for (i = SX_FIRST_GRANT; i < SX_NR_GRANTS; i++)
		sx_grant_revoke(dom, i);
	sx_host_evtchn_lock(&host);
	for (i = 1; i < SX_NR_PORTS; i++)
		if (atomic_load(&dom->shared->ports[i]))
			sx_port_close_dying(&host, dom, i);
	sx_host_evtchn_unlock(&host);
	sx_host_close(&host);
	return 0;
}
