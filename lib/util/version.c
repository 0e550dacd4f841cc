/* --version for every program (include/ringtap/version.h). */
#include <stdio.h>

#include "ringtap/version.h"

int rt_print_version(const char *prog)
{
	printf("%s (ringtap) %s\n", prog, PACKAGE_VERSION);
	return 0;
}
