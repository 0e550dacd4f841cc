# Debian's xenstore command-line tools (xenstore-utils, through the real libxenstore) against
# simxen-xenstored: values, listings, removal, permissions, watches, errors, long directories.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/simxen.sh"
simxen_start

# write / read / exists / list
expect_rc 0 "xenstore-write of several nodes" xenstore-write /t/a/b "hello world" /t/a/c 2 /t/d ""
expect_eq "$(xenstore-read /t/a/b)" "hello world" "xenstore-read reads what was written"
expect_eq "$(xenstore-read /t/a/b /t/a/c)" $'hello world\n2' "xenstore-read of two nodes"
expect_eq "$(xenstore-read /t/a)" "" "a parent created by a write is empty"
expect_rc 1 "xenstore-read of a missing node fails" xenstore-read /t/nope
expect_match "$(cat "$T/err")" "couldn't read path /t/nope" "xenstore-read says which path"
expect_rc 0 "xenstore-exists of a node" xenstore-exists /t/a/c
expect_rc 1 "xenstore-exists of a missing node" xenstore-exists /t/a/zz
expect_eq "$(xenstore-list /t/a)" $'b\nc' "xenstore-list lists children in creation order"
expect_eq "$(xenstore-list /t/d)" "" "xenstore-list of a leaf is empty"
expect_rc 1 "xenstore-list of a missing node fails" xenstore-list /t/zz
expect_rc 0 "overwriting a value" xenstore-write /t/a/c 3
expect_eq "$(xenstore-read /t/a/c)" "3" "the new value is read back"

# xenstore-ls prints the tree with values
expect_eq "$(xenstore-ls /t)" $'a = ""\n b = "hello world"\n c = "3"\nd = ""' "xenstore-ls /t"
expect_match "$(xenstore-ls -f /t)" "/t/a/b = \"hello world\"" "xenstore-ls -f prints full paths"

# invalid paths are refused, not crashed on
expect_rc 1 "a path with // is refused" xenstore-write /t//x 1
expect_rc 1 "a path with a bad character is refused" xenstore-write '/t/x y' 1
long=/t/$(head -c 3100 /dev/zero | tr '\0' x)
expect_rc 1 "a path over XENSTORE_ABS_PATH_MAX is refused" xenstore-write "$long" 1
expect_rc 1 "reading a special node is refused" xenstore-read @releaseDomain

# rm removes a subtree; removing a missing child of an existing node is fine
expect_rc 0 "xenstore-rm of a subtree" xenstore-rm /t/a
expect_rc 1 "the subtree is gone" xenstore-read /t/a/b
expect_eq "$(xenstore-list /t)" "d" "only the sibling remains"
expect_rc 0 "xenstore-rm of a missing child of an existing node succeeds" xenstore-rm /t/gone
expect_rc 1 "xenstore-rm under a missing parent fails" xenstore-rm /t/gone/deeper
expect_rc 0 "xenstore-rm -t removes empty parents" bash -c 'xenstore-write /u/v/w 1 && xenstore-rm -t /u/v/w'
expect_rc 1 "the empty parents went too" xenstore-exists /u

# permissions
expect_rc 0 "xenstore-chmod" xenstore-chmod /t/d n0 r5 w6
expect_match "$(xenstore-ls -p /t)" 'd = "".*\(n0,r5,w6\)' "xenstore-ls -p shows the permissions"
expect_rc 0 "xenstore-chmod -r sets a subtree" bash -c 'xenstore-write /p/q/r 1 && xenstore-chmod -r /p b7'
expect_match "$(xenstore-ls -p /p)" 'r = "1".*\(b7\)' "the subtree's leaf got the permissions"
expect_rc 1 "xenstore-chmod of a missing node fails" xenstore-chmod /t/none n0
expect_rc 1 "xenstore-chmod with a bad permission fails" xenstore-chmod /t/d x0

# a directory too long for one reply goes through DIRECTORY_PART
args=()
for i in $(seq 1 300); do args+=("/big/child-with-a-long-name-$i" "$i"); done
expect_rc 0 "writing 300 children in one transaction" xenstore-write "${args[@]}"
expect_eq "$(xenstore-list /big | wc -l)" "300" "xenstore-list sees all 300 children (>4096 bytes)"
expect_eq "$(xenstore-list /big | tail -n 1)" "child-with-a-long-name-300" "in creation order"

# xenstore-watch: the initial event, changes below, not beside
xenstore-watch -n 4 /w >"$T/watch.out" 2>"$T/watch.err" &
wpid=$!
at_exit "kill $wpid 2>/dev/null"
for i in $(seq 1 100); do [ -s "$T/watch.out" ] && break; sleep 0.1; done
expect_eq "$(cat "$T/watch.out")" "/w" "xenstore-watch prints the initial event"
xenstore-write /w/x 1
xenstore-write /wx 1 # beside /w: no event
xenstore-write /w/y/z 2
xenstore-rm /w/x
for i in $(seq 1 100); do kill -0 $wpid 2>/dev/null || break; sleep 0.1; done
wait $wpid || fail "xenstore-watch -n 4 exited with $? ($(cat "$T/watch.err"))"
expect_eq "$(cat "$T/watch.out")" $'/w\n/w/x\n/w/y/z\n/w/x' "xenstore-watch saw the 3 changes under /w"

# special watches: @introduceDomain fires when simxen creates a domain
xenstore-watch -n 2 @introduceDomain >"$T/intro.out" 2>&1 &
ipid=$!
at_exit "kill $ipid 2>/dev/null"
for i in $(seq 1 100); do [ -s "$T/intro.out" ] && break; sleep 0.1; done
dom=$(simxen_domain_create guest)
for i in $(seq 1 100); do kill -0 $ipid 2>/dev/null || break; sleep 0.1; done
wait $ipid || fail "xenstore-watch @introduceDomain exited with $?"
expect_eq "$(cat "$T/intro.out")" $'@introduceDomain\n@introduceDomain' "@introduceDomain fired for domain $dom"
simxen_stop
echo "ok: simxen stopped cleanly"
