# What every bench script records (sourced after tests/lib/common.sh, which sets $SRC):
#
#   bench_init SCRIPT ARG...   the results directory $OUT: $BENCH_OUT (the scripts' --out DIR; a
#                              relative DIR is taken from the top of the tree, where the scripts
#                              run) or bench/results/<UTC date-time>-<short commit>/ (gitignored);
#                              writes run.json there (commit, dirty tree, host facts, the exact
#                              command line, load and PSI at the start) and says where it is
#   bench_round [--fio F] [--stats F] [--extra F] [KEY=VALUE...] -- CMD...
#                              one measured run: load average and PSI before, CMD, load and PSI
#                              after; then fio's raw JSON F (and the stats samples F) copied
#                              into $OUT/fio/ ($OUT/stats/) and one JSON line appended to
#                              $OUT/rounds.jsonl with KEY=VALUE (job=, policy=, round=,
#                              placement=, engine=...; a VALUE that is a number, true or false
#                              is kept as such), the copies' names, the JSON object in --extra F
#                              (read after CMD: what CMD measured) and the two snapshots.
#                              Returns CMD's status.
#   bench_table                the ratio table of $OUT (bench/lib/results.py table)
#   bench_keep_serve FILE NAME td-serve's last words (FILE: its stdout, the counters it prints
#                              at exit) kept as $OUT/td-serve/NAME.txt beside fio's JSON
#   bench_simxen_start NAME    simxen_start on tmpfs (/dev/shm/ringtap-NAME.PID): guest memory is a
#                              file there, which on a disk would be written back under the
#                              measurement, and a file on tmpfs is what the kernel lets io_uring
#                              register as a fixed buffer (persistent-grant pages); stopped and
#                              removed at exit
BENCH_PY=$SRC/bench/lib/results.py

bench_keep_serve() {
	mkdir -p "$OUT/td-serve" && cp "$1" "$OUT/td-serve/$2.txt"
}

bench_simxen_start() {
	local dir=/dev/shm/ringtap-$1.$$
	at_exit "rm -rf '$dir'" # after simxen_start's stop, which is registered later
	simxen_start "$dir"
}

bench_init() {
	local script=$1 short
	shift
	if [ -n "${BENCH_OUT:-}" ]; then
		case $BENCH_OUT in /*) OUT=$BENCH_OUT ;; *) OUT=$SRC/$BENCH_OUT ;; esac
	else
		short=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo nogit)
		OUT=$SRC/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-$short
	fi
	mkdir -p "$OUT" || fail "cannot create the results directory $OUT"
	[ ! -e "$OUT/rounds.jsonl" ] ||
		fail "$OUT already holds results (rounds.jsonl): choose another --out"
	python3 "$BENCH_PY" run-json "$OUT" "$script" "$@" || fail "cannot write $OUT/run.json"
	echo "# results: $OUT"
}

bench_round() {
	local opts=() before after rc=0
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -gt 0 ] || fail "bench_round: no -- CMD"
	shift
	before=$(python3 "$BENCH_PY" snapshot)
	"$@" || rc=$?
	after=$(python3 "$BENCH_PY" snapshot)
	python3 "$BENCH_PY" round "$OUT" "$before" "$after" "${opts[@]}" exit="$rc" >&2 ||
		echo "bench_round: could not record the run ($*)" >&2
	return $rc
}

bench_table() { python3 "$BENCH_PY" table "$OUT"; }
