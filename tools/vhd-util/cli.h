/* vhd-util's shared command-line plumbing: the sub-command table, option parsing helpers,
 * error reporting (stderr, positive errno exit codes), the progress bar. */
#ifndef VHD_UTIL_CLI_H
#define VHD_UTIL_CLI_H

#include <stdbool.h>
#include <stdint.h>

struct vu_cmd {
	const char *name;
	int (*run)(int argc, char **argv); /* returns 0 or a negative errno */
	const char *usage; /* options, after "vhd-util NAME " */
	const char *help; /* one paragraph per option */
	bool operands; /* takes operands after the options (optind points at them) */
};

extern const struct vu_cmd vu_create, vu_snapshot, vu_query, vu_read, vu_set, vu_modify, vu_key,
	vu_scan, vu_resize, vu_revert, vu_coalesce, vu_check, vu_repair, vu_fill;

/* The work of create, snapshot and query once their options are parsed: td-util calls these too.
 * Each prints what blktap prints and returns 0 or a negative errno. */
struct vu_image_opts {
	const char *name, *parent;
	uint64_t size_mib, msize_mib; /* -s, -S */
	bool reserve; /* -r: a fixed disk */
	bool parent_raw; /* -m */
	bool no_empty_check; /* -e */
	uint64_t limit; /* -l: chain depth limit, 0 for none */
};
int vu_create_image(const struct vu_image_opts *o);
int vu_snapshot_image(const struct vu_image_opts *o);

struct vu_query_opts {
	const char *name;
	int open_flags; /* VHD_OPEN_BACKUP_FOOTER for td-util's -b */
	bool virt, phys, parent, fields, marker, alloc, depth, max;
	bool unresolved; /* -u: the parent as recorded, not looked up */
};
int vu_query_image(const struct vu_query_opts *o);

/* getopt over argv with `opts` plus --help; handles -h/--help (prints the usage, returns 1),
 * unknown options and missing arguments (message on stderr, returns -EINVAL). Otherwise calls
 * on_opt for each option; its negative return aborts. 0 when done; *optind_out the first
 * operand. */
int vu_getopt(const struct vu_cmd *cmd, int argc, char **argv, const char *opts,
	      int (*on_opt)(int c, const char *arg, void *ctx), void *ctx);
void vu_usage(const struct vu_cmd *cmd, bool to_stderr);
/* Prints "vhd-util NAME: message" on stderr; returns err. */
int vu_error(const struct vu_cmd *cmd, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int vu_usage_error(const struct vu_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Strict unsigned decimal; -EINVAL if not a number or out of range. */
int vu_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* A progress bar on stderr when it is a terminal (XAPI parses stdout, never sees it). */
struct vu_progress {
	bool on;
	int last;
	const char *what;
};
void vu_progress_start(struct vu_progress *p, const char *what);
void vu_progress_update(struct vu_progress *p, uint64_t done, uint64_t total);
void vu_progress_end(struct vu_progress *p);
void vu_progress_cb(uint64_t done, uint64_t total, void *arg);

extern bool vu_debug; /* --debug: details of failures also go to syslog */
extern const char *vu_program; /* the name messages start with: "vhd-util" or "td-util" */

#endif
