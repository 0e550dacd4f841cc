# A one-node Ceph cluster for the rbd tests, in the test's scratch directory: one monitor and one
# memstore OSD (no mgr), cephx on, on 127.0.0.1 with a monitor port of its own (parallel tests do
# not collide; the OSD binds a free port itself), stopped at exit. Source after common.sh.
#   ceph_need            skips the test, saying which, when a Ceph program is missing
#   ceph_start           the cluster, with a pool "rbd" ready for I/O; $CEPH_CONF is its
#                        configuration (client.admin's keyring in it), $CEPH_DIR its directory;
#                        clients give up after 5 s (client_mount_timeout, rados_*_op_timeout)
#                        and have no cache (rbd_cache=false)
#   ceph CMD... / rbd CMD...   the command-line tools on this cluster, bounded in time
#   ceph_osd_freeze      the OSD stops answering (SIGSTOP): to its clients, a dead or cut-off
#                        OSD (a memstore OSD cannot be restarted with its data)
#   ceph_osd_thaw        it answers again (SIGCONT); waits until the pool takes I/O
#   ceph_start_seconds   how long ceph_start took (for the log)
_ceph_mon= _ceph_osd= _ceph_t=
CEPH_PROGS=(ceph-mon ceph-osd ceph-authtool monmaptool ceph rbd rados)

ceph_need() {
	local p
	for p in "${CEPH_PROGS[@]}"; do
		type -P "$p" >/dev/null || skip "$p missing: the Ceph cluster needs ceph-mon, ceph-osd and ceph-common (tools/install-deps)"
	done
	grep -q '^HAVE_LIBRBD := yes' "$SRC/config.mk" ||
		fail "ceph is installed but this build has no rbd driver (librbd-dev missing at configure: tools/install-deps)"
}

ceph() { timeout 60 /usr/bin/env ceph -c "$CEPH_CONF" "$@"; }
rbd() { timeout 60 /usr/bin/env rbd -c "$CEPH_CONF" "$@"; }

# a free TCP port on 127.0.0.1 (the kernel's pick)
_ceph_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_ceph_pool_ready() { timeout 10 rados -c "$CEPH_CONF" -p rbd put ready-probe "$CEPH_CONF" 2>/dev/null; }

# waits until the OSD takes I/O on pool rbd (90 s at most)
_ceph_wait_pool() {
	local end=$((SECONDS + 90))
	# each probe may take the client's 5 s timeout: a deadline, not a count
	until _ceph_pool_ready; do
		kill -0 "$_ceph_osd" 2>/dev/null || fail "ceph-osd exited: $(tail -5 "$CEPH_DIR/log/osd.out")"
		[ "$SECONDS" -lt "$end" ] || fail "the OSD takes no I/O on pool rbd after 90 s"
		sleep 0.2
	done
}

# _ceph_kill PID SIG: SIG, then waits up to 30 s for the exit (SIGKILL after that)
_ceph_kill() {
	local i
	[ -n "$1" ] || return 0
	kill "-$2" "$1" 2>/dev/null || return 0
	for ((i = 0; i < 300; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	return 0
}

ceph_osd_freeze() { kill -STOP "$_ceph_osd"; }
ceph_osd_thaw() {
	kill -CONT "$_ceph_osd"
	_ceph_wait_pool
}

_ceph_stop() {
	kill -CONT "$_ceph_osd" 2>/dev/null || true
	_ceph_kill "$_ceph_osd" TERM
	_ceph_kill "$_ceph_mon" TERM
}

ceph_start() {
	local t0=$SECONDS port fsid uuid
	CEPH_DIR=$T/ceph
	CEPH_CONF=$CEPH_DIR/ceph.conf
	mkdir -p "$CEPH_DIR"/{mon,osd,run,log}
	port=$(_ceph_port)
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$CEPH_CONF" <<-EOF
		[global]
		fsid = $fsid
		mon host = v1:127.0.0.1:$port
		public addr = 127.0.0.1
		ms bind msgr2 = false
		auth cluster required = cephx
		auth service required = cephx
		auth client required = cephx
		keyring = $CEPH_DIR/keyring
		run dir = $CEPH_DIR/run
		admin socket = $CEPH_DIR/run/\$name.asok
		log file = $CEPH_DIR/log/\$name.log
		mon data = $CEPH_DIR/mon
		osd data = $CEPH_DIR/osd
		osd objectstore = memstore
		memstore device bytes = 1073741824
		osd pool default size = 1
		osd pool default min size = 1
		osd pool default pg autoscale mode = off
		osd crush chooseleaf type = 0
		mon allow pool size one = true
		mon warn on pool no redundancy = false
		[osd]
		keyring = $CEPH_DIR/osd/keyring
		[client]
		client mount timeout = 5
		rados mon op timeout = 5
		rados osd op timeout = 5
		rbd cache = false
	EOF
	ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$CEPH_DIR/keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
	ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring "$CEPH_DIR/keyring" >/dev/null
	monmaptool --create --addv a "[v1:127.0.0.1:$port]" --fsid "$fsid" "$CEPH_DIR/monmap" >/dev/null
	ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
		--keyring "$CEPH_DIR/mon.keyring" >>"$CEPH_DIR/log/mkfs.out" 2>&1 || fail "ceph-mon --mkfs"
	at_exit _ceph_stop
	ceph-mon -f -c "$CEPH_CONF" -i a >>"$CEPH_DIR/log/mon.out" 2>&1 &
	_ceph_mon=$!
	uuid=$(cat /proc/sys/kernel/random/uuid)
	ceph osd new "$uuid" >/dev/null || fail "ceph osd new (the monitor does not answer)"
	ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --mkkey --osd-uuid "$uuid" --no-mon-config \
		>>"$CEPH_DIR/log/mkfs.out" 2>&1 || fail "ceph-osd --mkfs"
	ceph auth add osd.0 osd 'allow *' mon 'allow profile osd' -i "$CEPH_DIR/osd/keyring" \
		>/dev/null 2>&1 || fail "ceph auth add osd.0"
	ceph osd pool create rbd 8 8 >/dev/null 2>&1 || fail "ceph osd pool create"
	ceph osd pool application enable rbd rbd >/dev/null 2>&1 || fail "pool application"
	ceph-osd -f -c "$CEPH_CONF" -i 0 >>"$CEPH_DIR/log/osd.out" 2>&1 &
	_ceph_osd=$!
	_ceph_wait_pool
	_ceph_t=$((SECONDS - t0))
	echo "ok: Ceph cluster up in ${_ceph_t}s (mon 127.0.0.1:$port, memstore OSD, cephx)"
}

ceph_start_seconds() { echo "$_ceph_t"; }
