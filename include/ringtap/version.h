/* The one version line every ringtap program prints for --version (and -V where it takes it).
 * The version itself comes from the file VERSION, through configure (PACKAGE_VERSION). */
#ifndef RINGTAP_VERSION_H
#define RINGTAP_VERSION_H

/* Prints "PROG (ringtap) VERSION" on stdout; returns 0, the exit status of --version. */
int rt_print_version(const char *prog);

#endif
