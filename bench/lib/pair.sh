# bench/nbd and bench/rbd: bare fio and a guest through ringtap on the same remote storage,
# round by round (sourced after bench/lib/bench.sh). The script sets $size, $runtime and
# $rounds and defines
#   bare NAME RW BS QD            fio on the storage directly; prints the job's IOPS
#   through DEVID NAME RW BS QD   the same job as a guest through td-serve; prints its IOPS
# and calls pair_measure for each job.

# pair_iops JSON RW: IOPS of fio's read or write side
pair_iops() {
	local side=read
	case $2 in *write) side=write ;; esac
	python3 -c 'import json,sys
print("%.0f" % json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]["iops"])' "$1" "$side"
}

# pair_job NAME RW BS QD: the fio options of a job
pair_job() {
	echo "--name=$1 --rw=$2 --bs=$3 --iodepth=$4 --size=$size --runtime=$runtime --time_based" \
		"--ramp_time=1 --norandommap --randrepeat=0 --output-format=json"
}

devid=51712
# pair_measure LABEL NAME RW BS QD: bare and through ringtap, --rounds times, the order reversed
# every other round; one line: the medians, the median of the rounds' ratios, each round's
pair_measure() {
	local label=$1 r b t bs=() ts=()
	shift
	for ((r = 1; r <= rounds; r++)); do
		devid=$((devid + 1))
		if ((r % 2)); then
			b=$(bare "$@") t=$(through $devid "$@")
		else
			t=$(through $devid "$@") b=$(bare "$@")
		fi
		[ -n "$b" ] && [ -n "$t" ] || fail "$label: round $r gave no result"
		bs+=("$b") ts+=("$t")
	done
	python3 -c 'import statistics as st, sys
l, n = sys.argv[1], int(sys.argv[2])
b, t = [float(x) for x in sys.argv[3:3+n]], [float(x) for x in sys.argv[3+n:]]
r = [100.0*y/x for x, y in zip(b, t)]
print("%-30s %12.0f %12.0f %7.1f%% %s" % (l, st.median(b), st.median(t), st.median(r),
      " ".join("%.0f%%" % x for x in r)))' "$label" ${#bs[@]} "${bs[@]}" "${ts[@]}"
}
