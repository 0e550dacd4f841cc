# Shared helpers for system tests (sourced, not run): a scratch directory, cleanup at exit,
# and assertions that say what went wrong.
set -euo pipefail
: "${RINGTAP_BUILD:?run through make check or tests/run}"
BIN=$RINGTAP_BUILD/bin
TBIN=$RINGTAP_BUILD/tests/bin
SRC=${RINGTAP_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T=$(mktemp -d /tmp/ringtap-test.XXXXXX)
cd "$T" # tools that drop files in the working directory (fio's verify state) drop them here
# the host-wide polling budget table of this test's tapdisks (not the host's /dev/shm one)
export RINGTAP_POLL_BUDGET=$T/poll-budget

_cleanups=()
# at_exit CMD...: run CMD at exit (last registered runs first)
at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
	local rc=$? i
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" || true; done
	# RINGTAP_KEEP_FAILED=DIR: a failed test's scratch directory is kept there, for a post-mortem
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${RINGTAP_KEEP_FAILED:-}" ]; then
		mkdir -p "$RINGTAP_KEEP_FAILED" && cp -a "$T" "$RINGTAP_KEEP_FAILED/" &&
			echo "kept: $RINGTAP_KEEP_FAILED/${T##*/}" >&2
	fi
	rm -rf "$T"
	exit $rc
}
trap _run_cleanups EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
skip() {
	echo "SKIP: $*"
	exit 77
}
# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
	echo "ok: $3"
}
# expect_match TEXT REGEX WHAT
expect_match() {
	[[ $1 =~ $2 ]] || fail "$3: '$1' does not match /$2/"
	echo "ok: $3"
}
# need_built FILE...: fails unless every FILE (a program or library of the build) exists
need_built() {
	local f
	for f in "$@"; do [ -e "$f" ] || fail "$f is not built"; done
}
# io_uring_missing: why this build or this kernel has no io_uring engine to test (empty: it has
# one): no liburing at configure, or io_uring_setup refused as tapdisk would call it (a sysctl,
# a seccomp filter, an old kernel)
io_uring_missing() {
	grep -q '^HAVE_LIBURING := yes' "$SRC/config.mk" || {
		echo "this build has no io_uring backend (liburing-dev was missing at configure)"
		return
	}
	python3 -c '
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(425, 1, ctypes.create_string_buffer(120))
print("" if fd >= 0 else "the kernel refuses io_uring here: " + os.strerror(ctypes.get_errno()))
if fd >= 0: os.close(fd)'
}
# need_io_uring: skips the test, saying why, when io_uring_missing says something
need_io_uring() {
	local why
	why=$(io_uring_missing)
	[ -z "$why" ] || skip "$why"
}
# wait_until SECS WHAT CMD...: polls CMD every 0.1 s until it succeeds; fails naming WHAT after
# SECS seconds. Bounds are generous on purpose: a busy host may be slow, never wrong.
wait_until() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fail "$what (still not so after ${secs}s)"
}
# expect_rc EXPECTED WHAT CMD...: runs CMD, stdout to $T/out, stderr to $T/err
expect_rc() {
	local want=$1 what=$2 rc=0
	shift 2
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want (stderr: $(head -c 400 "$T/err"))"
	echo "ok: $what"
}
