/* The table of image drivers: the only place that names them. */
#include <stddef.h>

#include "ringtap/driver.h"

extern const struct td_driver_ops td_driver_aio;
extern const struct td_driver_ops td_driver_nbd;
extern const struct td_driver_ops td_driver_null;
extern const struct td_driver_ops td_driver_rbd;
extern const struct td_driver_ops td_driver_vhd;

const struct td_driver_ops *const td_drivers[] = {
	&td_driver_aio,
	&td_driver_nbd,
	&td_driver_null,
	&td_driver_rbd,
	&td_driver_vhd,
	NULL,
};
