#!/usr/bin/env python3
"""XAPI's storage manager (SM) and changed block tracking, for system tests: cbt-util run and
parsed as SM's cbtutil.py does, SM's CBT flows (VDI.py: enable, activate, deactivate, the CBT
part of a snapshot, delete with coalesce, disable) and XAPI's list_changed_blocks (VDI.py), on a
file SR directory. Tapdisk is driven through tests/lib/xapi.py (blktap2.py's tap-ctl calls).

Facts restated from xapi-project/sm in our own words (libs/sm/cbtutil.py, libs/sm/VDI.py):
  - every call is [CBT_UTIL, sub-command, options...]; a non-zero exit is a failure (util.pread2)
    retried on EIO/EAGAIN (util.ioretry); the output is stripped, then uuid.UUID() (parent,
    child), bool(int()) (consistent), int() (size), base64-decoded (get -b -E);
  - a VDI's log is <SR path>/<VDI uuid>.cbtlog; a new log is created with the VDI's virtual size
    and marked consistent; consistent is set to 0 while the VDI is attached read-write
    (activate, enable on an attached VDI) and back to 1 at deactivate; a log found inconsistent
    at activate is deleted (alert VDI_CBT_METADATA_INCONSISTENT);
  - list_changed_blocks(from, to) walks the child links from `from`'s log to `to`'s, ORs the
    bitmaps of the logs after `from` (each bit-reversed per byte: block 0 is the first byte's most
    significant bit), grows the result when the disk grew, and returns it base64-encoded.

Used as a command:
    sm_cbt.py cbtutil FUNC ARG...       one cbtutil.py function; prints what it returns
    sm_cbt.py enable SR VDI SIZE [PID MINOR TYPE PATH]   configure_blocktracking(True)
    sm_cbt.py disable SR VDI [PID MINOR TYPE PATH]       configure_blocktracking(False)
    sm_cbt.py activate SR VDI           prints the log to open with (-C), or the alert's name
    sm_cbt.py deactivate SR VDI
    sm_cbt.py snapshot SR VDI SNAP ATTACHED(0|1)   _cbt_snapshot (the VDI's tapdisk is paused)
    sm_cbt.py delete SR VDI [PID MINOR TYPE PATH]  delete's CBT part (the child's tapdisk, if
                                        attached, is paused for the coalesce)
    sm_cbt.py list-changed-blocks SR FROM TO       prints the base64 string
Environment: XAPI_CBT_UTIL (the binary), and xapi.py's."""
import base64
import errno
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xapi  # noqa: E402

CBT_UTIL = os.environ.get("XAPI_CBT_UTIL", "/usr/sbin/cbt-util")
CBT_BLOCK_SIZE = 64 * 1024
CBTLOG_TAG = "cbtlog"
NULL_UUID = str(uuid.UUID(int=0))


# ---- cbtutil.py ------------------------------------------------------------------------------

def _call_cbt_util(cmd):
    """util.ioretry(util.pread2(cmd)): the whole stdout; EIO and EAGAIN retried."""
    for attempt in range(20):
        try:
            return xapi._call(cmd)[1]
        except xapi.CommandFailure as e:
            if e.status not in (errno.EIO, errno.EAGAIN) or attempt == 19:
                raise
            time.sleep(1)


def create_cbt_log(file_name, size):
    _call_cbt_util([CBT_UTIL, "create", "-n", file_name, "-s", str(size)])


def set_cbt_parent(file_name, parent_uuid):
    _call_cbt_util([CBT_UTIL, "set", "-n", file_name, "-p", str(parent_uuid)])


def get_cbt_parent(file_name):
    return str(uuid.UUID(_call_cbt_util([CBT_UTIL, "get", "-n", file_name, "-p"]).strip()))


def set_cbt_child(file_name, child_uuid):
    _call_cbt_util([CBT_UTIL, "set", "-n", file_name, "-c", str(child_uuid)])


def get_cbt_child(file_name):
    return str(uuid.UUID(_call_cbt_util([CBT_UTIL, "get", "-n", file_name, "-c"]).strip()))


def set_cbt_consistency(file_name, consistent):
    _call_cbt_util([CBT_UTIL, "set", "-n", file_name, "-f", str(1 if consistent else 0)])


def get_cbt_consistency(file_name):
    return bool(int(_call_cbt_util([CBT_UTIL, "get", "-n", file_name, "-f"]).strip()))


def get_cbt_bitmap(file_name):
    ret = _call_cbt_util([CBT_UTIL, "get", "-n", file_name, "-b", "-E"])
    return base64.b64decode(ret.strip()) if ret is not None else None


def set_cbt_size(file_name, size):
    _call_cbt_util([CBT_UTIL, "set", "-n", file_name, "-s", str(size)])


def get_cbt_size(file_name):
    return int(_call_cbt_util([CBT_UTIL, "get", "-n", file_name, "-s"]).strip())


def coalesce_bitmap(parent_path, child_path):
    _call_cbt_util([CBT_UTIL, "coalesce", "-p", parent_path, "-c", child_path])


# ---- VDI.py's CBT flows on a file SR -----------------------------------------------------------

class Tap:
    """The VDI's tapdisk, when attached: what blktap2.VDI.tap_pause/tap_unpause act on."""

    def __init__(self, args):
        self.attached = len(args) >= 4
        if self.attached:
            self.pid, self.minor, self.type, self.path = int(args[0]), int(args[1]), args[2], args[3]

    def pause(self):
        if self.attached:
            xapi.pause(self.pid, self.minor)

    def unpause(self, cbtlog):
        """tap_unpause: the VDI's log goes with the unpause while CBT is enabled."""
        if self.attached:
            xapi.unpause(self.pid, self.minor, self.type, self.path,
                         cbtlog if os.path.exists(cbtlog) else None)


def logpath(sr, vdi):
    return os.path.join(sr, "%s.%s" % (vdi, CBTLOG_TAG))


def _create_cbt_log(sr, vdi, size):
    path = logpath(sr, vdi)
    try:
        create_cbt_log(path, size)
        set_cbt_consistency(path, True)
    except Exception:
        if os.path.exists(path):
            os.unlink(path)
        raise
    return path


def enable(sr, vdi, size, tap):
    tap.pause()
    try:
        _create_cbt_log(sr, vdi, size)
        if tap.attached:
            set_cbt_consistency(logpath(sr, vdi), False)
    finally:
        tap.unpause(logpath(sr, vdi))


def disable(sr, vdi, tap):
    tap.pause()
    try:
        parent = get_cbt_parent(logpath(sr, vdi))
        os.unlink(logpath(sr, vdi))
        if os.path.exists(logpath(sr, parent)):
            set_cbt_child(logpath(sr, parent), NULL_UUID)
    finally:
        tap.unpause(logpath(sr, vdi))


def activate(sr, vdi):
    """The log tapdisk opens with (tap-ctl open -C), or the alert raised."""
    path = logpath(sr, vdi)
    if not os.path.exists(path):
        return None
    if not get_cbt_consistency(path):
        os.unlink(path)  # _disable_cbt_on_error
        return "VDI_CBT_METADATA_INCONSISTENT"
    set_cbt_consistency(path, False)
    return path


def deactivate(sr, vdi):
    if os.path.exists(logpath(sr, vdi)):
        set_cbt_consistency(logpath(sr, vdi), True)


def cbt_snapshot(sr, vdi, snap, attached, size):
    """_cbt_snapshot, while the VDI's tapdisk is paused: the VDI's log becomes the snapshot's,
    a new one is created for the VDI and linked after it."""
    snap_log, vdi_log = logpath(sr, snap), logpath(sr, vdi)
    os.rename(vdi_log, snap_log)
    set_cbt_consistency(snap_log, True)
    parent = get_cbt_parent(snap_log)
    if os.path.exists(logpath(sr, parent)):
        set_cbt_child(logpath(sr, parent), snap)
    _create_cbt_log(sr, vdi, size)
    if attached:
        set_cbt_consistency(vdi_log, False)
    child = get_cbt_child(snap_log)
    set_cbt_parent(vdi_log, snap)
    set_cbt_child(vdi_log, child)
    set_cbt_child(snap_log, vdi)


def delete(sr, vdi, child_tap):
    """delete()'s CBT part: relink, coalesce into the child's log, remove the log."""
    path = logpath(sr, vdi)
    if not os.path.exists(path):
        return
    parent, child = get_cbt_parent(path), get_cbt_child(path)
    parent_path, child_path = logpath(sr, parent), logpath(sr, child)
    if os.path.exists(parent_path):
        set_cbt_child(parent_path, child)
    if os.path.exists(child_path):
        set_cbt_parent(child_path, parent)
        paused = False
        try:
            if not get_cbt_consistency(child_path):  # the child's log is in use
                child_tap.pause()
                paused = True
            coalesce_bitmap(path, child_path)
        finally:
            if paused:
                child_tap.unpause(child_path)
    os.unlink(path)


def _bytereverse(data):
    return bytes(int("{:08b}".format(b)[::-1], 2) for b in data)


def list_changed_blocks(sr, vdi_from, vdi_to):
    if vdi_from == vdi_to:
        raise xapi.ParseError("CBTChangedBlocksError: Source and target VDI are same")
    merged, vdi_size, curr = None, 0, vdi_from
    while True:
        nxt = get_cbt_child(logpath(sr, curr))
        if not os.path.exists(logpath(sr, nxt)):
            break
        curr = nxt
        size = get_cbt_size(logpath(sr, curr))
        bitmap = _bytereverse(get_cbt_bitmap(logpath(sr, curr)))
        if len(bitmap) * 8 < size // CBT_BLOCK_SIZE:
            raise xapi.ParseError("CBTMetadataInconsistent: Inconsistent bitmaps")
        if merged is not None:
            if (size < vdi_size or len(bitmap) < len(merged) or
                    (size > vdi_size and len(bitmap) <= len(merged))):
                raise xapi.ParseError("CBTMetadataInconsistent: Inconsistent bitmaps")
            if size > vdi_size:
                vdi_size = size
                merged += bytes(len(bitmap) - len(merged))
            bitmap = bitmap[:len(merged)]
            merged = bytes(a | b for a, b in zip(merged, bitmap))
        else:
            merged, vdi_size = bitmap, size
        if curr == vdi_to:
            return base64.b64encode(merged).decode()
    raise xapi.ParseError("CBTChangedBlocksError: Source and target VDI are unrelated")


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 22
    cmd, a = argv[0], argv[1:]
    if cmd == "cbtutil":
        ret = globals()[a[0]](*a[1:])
        if isinstance(ret, bytes):
            print(ret.hex())
        elif ret is not None:
            print(ret)
    elif cmd == "enable":
        enable(a[0], a[1], int(a[2]), Tap(a[3:]))
    elif cmd == "disable":
        disable(a[0], a[1], Tap(a[2:]))
    elif cmd == "activate":
        print(activate(a[0], a[1]) or "")
    elif cmd == "deactivate":
        deactivate(a[0], a[1])
    elif cmd == "snapshot":
        cbt_snapshot(a[0], a[1], a[2], a[3] == "1", get_cbt_size(logpath(a[0], a[1])))
    elif cmd == "delete":
        delete(a[0], a[1], Tap(a[2:]))
    elif cmd == "list-changed-blocks":
        print(list_changed_blocks(a[0], a[1], a[2]))
    else:
        print("sm_cbt.py: unknown command %s" % cmd, file=sys.stderr)
        return 22
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except xapi.CommandFailure as e:
        print("sm_cbt.py: %s" % e, file=sys.stderr)
        sys.exit(e.status if 0 < e.status < 256 else 1)
    except (xapi.ParseError, ValueError, OSError, KeyError, IndexError) as e:
        print("sm_cbt.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
