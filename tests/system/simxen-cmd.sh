# The simxen command: start (environment, dom0's nodes), domain create/list/destroy (nodes,
# permissions, ids, guest sockets), vbd add/remove (xenopsd's vbd3 nodes), argument errors, stop.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
dir=$T/host

expect_rc 0 "simxen start" "$SIMXEN" start --dir "$dir"
at_exit "\"$SIMXEN\" stop --dir \"$dir\""
env_out=$(cat "$T/out")
expect_match "$env_out" "export SIMXEN_DIR='$dir'" "start prints SIMXEN_DIR"
expect_match "$env_out" "export XENSTORED_PATH='$dir/xenstored.sock'" "start prints XENSTORED_PATH"
expect_match "$env_out" "export LD_LIBRARY_PATH='$RINGTAP_BUILD/lib'" "start puts simxen's libraries first"
eval "$env_out"
[ -S "$XENSTORED_PATH" ] || fail "no socket at $XENSTORED_PATH"
expect_eq "$(xenstore-read /local/domain/0/name)" "Domain-0" "dom0's name"
expect_eq "$(xenstore-read /local/domain/0/domid)" "0" "dom0's domid"
expect_rc 16 "a second start in the same directory: EBUSY" "$SIMXEN" start --dir "$dir"
expect_eq "$(SIMXEN_DIR=$dir "$SIMXEN" env)" "$env_out" "simxen env (directory from \$SIMXEN_DIR) prints the same"

# domains
expect_rc 0 "domain create" "$SIMXEN" domain create alpha
expect_eq "$(cat "$T/out")" "1" "the first domain is 1"
expect_eq "$("$SIMXEN" domain create beta)" "2" "the second is 2"
expect_rc 17 "a duplicate name: EEXIST" "$SIMXEN" domain create alpha
expect_eq "$("$SIMXEN" domain list)" $'0 Domain-0\n1 alpha\n2 beta' "domain list"
expect_eq "$(xenstore-read /local/domain/1/name)" "alpha" "the domain's name node"
expect_eq "$(xenstore-read /local/domain/1/domid)" "1" "the domain's domid node"
ls_p=$(xenstore-ls -p /local/domain/1)
expect_match "$ls_p" 'name = "alpha".*\(n0,r1\)' "the home is dom0's, readable by the domain"
expect_match "$ls_p" 'device = "".*\(n1\)' "device/ is the domain's"
expect_match "$ls_p" 'data = "".*\(n1\)' "data/ is the domain's"
[ -S "$dir/xenstored.d1.sock" ] || fail "no guest socket for domain 1"
echo "ok: domain 1 has its xenstore socket"
expect_eq "$(env $(simxen_guest_env 1) xenstore-read name)" "alpha" "a guest process reads its own name"
expect_rc 1 "a guest process cannot write dom0's nodes" env $(simxen_guest_env 1) xenstore-write /local/domain/0/x 1
expect_rc 1 "nor read another domain's" env $(simxen_guest_env 1) xenstore-read /local/domain/2/name

# vbd add: the vbd3 nodes of XAPI.md, in one transaction, with xenopsd's permissions
expect_rc 0 "vbd add" "$SIMXEN" vbd add 1 --params "nbd:unix:/run/x.sock:exportname=v"
expect_eq "$(cat "$T/out")" "51712" "the default devid is xvda's"
fe=/local/domain/1/device/vbd/51712
be=/local/domain/0/backend/vbd3/1/51712
expect_eq "$(xenstore-ls "$fe")" 'backend = "'"$be"'"
backend-id = "0"
state = "1"
virtual-device = "51712"
device-type = "disk"' "frontend nodes"
expect_eq "$(xenstore-ls "$be")" 'frontend = "'"$fe"'"
frontend-id = "1"
online = "1"
removable = "0"
state = "1"
dev = "xvda"
type = "phy"
mode = "w"
params = "nbd:unix:/run/x.sock:exportname=v"
polling-duration = "8000"
polling-idle-threshold = "50"' "backend nodes"
expect_match "$(xenstore-ls -p "$fe")" 'state = "1".*\(n1,r0\)' "frontend: the domain's, dom0 reads"
expect_match "$(xenstore-ls -p "$be")" 'mode = "w".*\(n0,r1\)' "backend: dom0's, the domain reads"
expect_eq "$(env $(simxen_guest_env 1) xenstore-read "$be/params")" "nbd:unix:/run/x.sock:exportname=v" \
	"the guest reads its backend"
expect_rc 17 "the same VBD twice: EEXIST" "$SIMXEN" vbd add 1
expect_rc 0 "vbd add with options" "$SIMXEN" vbd add 1 --devid 51728 --mode r \
	--physical-device-path /run/blktap-control/nbd123.4
expect_eq "$(xenstore-read /local/domain/0/backend/vbd3/1/51728/mode)" "r" "--mode r"
expect_eq "$(xenstore-read /local/domain/0/backend/vbd3/1/51728/dev)" "xvdb" "devid 51728 is xvdb"
expect_eq "$(xenstore-read /local/domain/0/backend/vbd3/1/51728/hotplug-status)" "connected" \
	"--physical-device-path plays the hotplug script"
expect_eq "$(xenstore-read /local/domain/0/backend/vbd3/1/51728/physical-device-path)" \
	"/run/blktap-control/nbd123.4" "physical-device-path"
expect_rc 2 "vbd add for a missing domain: ENOENT" "$SIMXEN" vbd add 7
expect_rc 22 "vbd add with a bad mode: EINVAL" "$SIMXEN" vbd add 1 --devid 5 --mode x
expect_rc 0 "vbd remove" "$SIMXEN" vbd remove 1 51712
expect_rc 1 "the frontend is gone" xenstore-exists "$fe"
expect_rc 1 "the backend is gone" xenstore-exists "$be"
expect_rc 2 "vbd remove again: ENOENT" "$SIMXEN" vbd remove 1 51712

# destroy
expect_rc 0 "domain destroy" "$SIMXEN" domain destroy 2
expect_rc 1 "its nodes are gone" xenstore-exists /local/domain/2
[ ! -e "$dir/xenstored.d2.sock" ] || fail "domain 2's socket is still there"
echo "ok: its socket is gone"
expect_rc 2 "destroying it again: ENOENT" "$SIMXEN" domain destroy 2
expect_eq "$("$SIMXEN" domain create gamma)" "3" "ids are not reused"
expect_eq "$("$SIMXEN" domain list)" $'0 Domain-0\n1 alpha\n3 gamma' "domain list after destroy"

# arguments
expect_rc 22 "an unknown command" "$SIMXEN" frob
expect_rc 22 "domain create without a name" "$SIMXEN" domain create
expect_rc 22 "domain destroy 0" "$SIMXEN" domain destroy 0
expect_rc 22 "domain destroy of a non-number" "$SIMXEN" domain destroy 1x
expect_rc 22 "a vbd option elsewhere" "$SIMXEN" domain list --mode r
expect_rc 22 "a bad devid" "$SIMXEN" vbd add 1 --devid -3
expect_rc 2 "commands without a host: ENOENT" "$SIMXEN" --dir "$T/none" domain list

# stop
pid=$(cat "$dir/xenstored.pid")
expect_rc 0 "simxen stop (and xenstored reported no error)" "$SIMXEN" stop --dir "$dir"
if kill -0 "$pid" 2>/dev/null; then fail "simxen-xenstored still runs"; fi
echo "ok: the daemon is gone"
[ ! -e "$dir" ] || fail "$dir is still there"
echo "ok: the state directory is gone"
expect_rc 0 "stop is idempotent" "$SIMXEN" stop --dir "$dir"
