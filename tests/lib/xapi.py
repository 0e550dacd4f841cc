#!/usr/bin/env python3
"""XAPI's side of ringtap's tools, for system tests: tap-ctl run and parsed as the storage
manager's blktap2.py (TapCtl, Tapdisk) does, vhd-util as its vhdutil.py does, and the /dev/shm
statistics as rrdp-iostat reads them. Command lines and parsing rules follow README.md's "Running under XAPI".

Used as a command (tests/system/xapi-flows.sh):
    xapi.py list [-m M] [-p P] [-t T] [-f F]   Tapdisk.list: "pid minor state type path" rows
    xapi.py launch TYPE PATH [--rdonly] [--cbtlog LOG]
                                               VDI._tap_activate: list -f, allocate, list -f,
                                               spawn, attach, open [-C LOG], list -m;
                                               "pid minor"
    xapi.py allocate | free MINOR              Blktap.allocate (prints the minor) / free
    xapi.py shutdown PID MINOR                 close -t 120, detach, free
    xapi.py pause PID MINOR                    checks running (list), pause, checks paused
    xapi.py unpause PID MINOR TYPE PATH [--cbtlog LOG]
                                               checks paused, unpause -a TYPE:PATH [-c LOG],
                                               running
    xapi.py stats PID MINOR                    json.loads of the first line, keys checked;
                                               prints the object as JSON
    xapi.py iostat DOMID DEVID PID             rrdp-iostat's files; prints key=value lines
    xapi.py vhd-info PATH                      vhdutil.getVHDInfo: "virt phys parent hidden"
    xapi.py vhd-snapshot LEAF PARENT           vhdutil.snapshot
    xapi.py vhd-coalesce PATH                  vhdutil.coalesce
    xapi.py vhd-set-parent PATH PARENT         vhdutil.setParent
    xapi.py vhd-set-hidden PATH 0|1            vhdutil.setHidden
    xapi.py selftest                           the parsers against canned tap-ctl output
Failures print the failed command, its exit status and stderr, and exit with tap-ctl's status
(a positive errno) or 1. Every command line run is appended to $XAPI_LOG when set.
Environment: XAPI_TAP_CTL, XAPI_VHD_UTIL (the binaries), TAPDISK_RUN_DIR (run directory),
TAPDISK_SHM_DIR (the /dev/shm of the statistics)."""
import errno
import json
import os
import re
import struct
import subprocess
import sys
import time

TAP_CTL = os.environ.get("XAPI_TAP_CTL", "/usr/sbin/tap-ctl")
VHD_UTIL = os.environ.get("XAPI_VHD_UTIL", "/usr/bin/vhd-util")
RUN_DIR = os.environ.get("TAPDISK_RUN_DIR") or "/run/blktap-control"
TAP_MINOR_BASE = RUN_DIR + "/tapdisk"
SHM_DIR = os.environ.get("TAPDISK_SHM_DIR") or "/dev/shm"

# Tapdisk.Flags
PAUSE_REQUESTED = 0x10
PAUSED = 0x20
PAUSE_MASK = PAUSE_REQUESTED | PAUSED
TYPES = ("aio", "vhd")


def log(cmd):
    path = os.environ.get("XAPI_LOG")
    if path:
        with open(path, "a") as f:
            f.write(" ".join(str(c) for c in cmd) + "\n")


class CommandFailure(Exception):
    """TapCtl.CommandFailure / util.CommandException: a command exited non-zero."""

    def __init__(self, cmd, status, errmsg):
        super().__init__()
        self.cmd, self.status, self.errmsg = cmd, status, errmsg

    def __str__(self):
        return "%s failed: status=%s, errmsg=%s" % (self.cmd, self.status, self.errmsg)


class ParseError(Exception):
    """Output XAPI could not use (Tapdisk.Arg.InvalidType, a malformed minor path, ...)."""


def _call(cmd, input_bytes=None):
    """Runs cmd; returns (first stdout line with trailing whitespace removed, whole stdout).
    stderr is joined with '; ' into the failure, as TapCtl._errmsg does."""
    cmd = [str(c) for c in cmd]
    log(cmd)
    p = subprocess.run(cmd, input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=None if input_bytes is not None else subprocess.DEVNULL)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        err = "; ".join(l.rstrip() for l in p.stderr.decode("utf-8", "replace").splitlines())
        raise CommandFailure(cmd, p.returncode, err)
    first = out.splitlines()[0].rstrip() if out else ""
    return first, out


def retried(limit, backoff, transient):
    """blktap2.RetryLoop: retries a call failing with one of the `transient` statuses."""
    def wrap(f):
        def loop(*args, **kw):
            attempt = 0
            while True:
                attempt += 1
                try:
                    return f(*args, **kw)
                except CommandFailure as e:
                    if e.status not in transient or attempt >= limit:
                        raise
                    time.sleep(backoff)
        return loop
    return wrap


# ---- tap-ctl, as blktap2.TapCtl ----------------------------------------------------------------

def parse_list_line(line):
    """TapCtl.__list: one row of `tap-ctl list`."""
    row = {}
    for field in line.rstrip().split(" ", 3):
        bits = field.split("=")
        if len(bits) == 2:
            key, val = bits
            if key in ("pid", "minor"):
                row[key] = int(val, 10)
            elif key == "state":
                row[key] = int(val, 0x10)
            else:
                row[key] = val
        # else: SM logs "Ignoring unexpected tap-ctl output" and goes on
    return row


def parse_arg(arg):
    """Tapdisk.Arg.parse: "type:path", type aio or vhd, else the whole list fails."""
    try:
        typ, path = arg.split(":", 1)
    except ValueError:
        raise ParseError("Not a Tapdisk image: %s" % arg)
    if typ not in TYPES:
        raise ParseError("Not a Tapdisk type: %s" % typ)
    return typ, path


def parse_list(text):
    """Tapdisk.list over the whole output: rows lacking pid, minor, state or args skipped."""
    disks = []
    for line in text.splitlines(keepends=True):
        row = parse_list_line(line)
        d = {"pid": row.get("pid"), "minor": row.get("minor"), "state": row.get("state"),
             "type": None, "path": None}
        if "args" in row:
            d["type"], d["path"] = parse_arg(row["args"])
        if None in d.values():
            continue
        disks.append(d)
    return disks


@retried(limit=10, backoff=0.5, transient=(errno.EPROTO, errno.ENOENT))
def tap_list(minor=None, pid=None, typ=None, path=None):
    args = ["list"]
    for opt, val in (("-m", minor), ("-p", pid), ("-t", typ), ("-f", path)):
        if val is not None:
            args += [opt, val]
    _, out = _call([TAP_CTL] + args)
    return parse_list(out)


def parse_minor(devpath):
    """Tapdisk._parse_minor on allocate's line."""
    m = re.search(r"%s/tapdisk-(\d+)$" % re.escape(TAP_MINOR_BASE), devpath)
    if not m:
        raise ParseError("malformed tap device: '%s'" % devpath)
    return int(m.group(1))


def tap_allocate():
    return parse_minor(_call([TAP_CTL, "allocate"])[0])


@retried(limit=10, backoff=0.5, transient=(1,))
def tap_spawn():
    return int(_call([TAP_CTL, "spawn"])[0])


def tap_attach(pid, minor):
    _call([TAP_CTL, "attach", "-p", pid, "-m", minor])


def tap_detach(pid, minor):
    _call([TAP_CTL, "detach", "-p", pid, "-m", minor])


def tap_free(minor):
    _call([TAP_CTL, "free", "-m", minor])


def tap_open(pid, minor, typ, path, rdonly=False, timeout=None, cbtlog=None):
    args = [TAP_CTL, "open", "-p", pid, "-m", minor, "-a", "%s:%s" % (typ, path)]
    if rdonly:
        args.append("-R")
    if timeout:
        args += ["-t", str(timeout)]
    if cbtlog:
        args += ["-C", cbtlog]
    _call(args)


def tap_close(pid, minor, force=False):
    _call([TAP_CTL, "close", "-p", pid, "-m", minor, "-t", "120"] + (["-f"] if force else []))


def tap_pause(pid, minor):
    _call([TAP_CTL, "pause", "-p", pid, "-m", minor])


def tap_unpause(pid, minor, typ=None, path=None, cbtlog=None):
    args = [TAP_CTL, "unpause", "-p", pid, "-m", minor]
    if typ and path:
        args += ["-a", "%s:%s" % (typ, path)]
    if cbtlog:
        args += ["-c", cbtlog]
    _call(args)


def tap_stats(pid, minor):
    return _call([TAP_CTL, "stats", "-p", pid, "-m", minor])[0]


# ---- Tapdisk: what SM builds on top ------------------------------------------------------------

def find(**kw):
    """Tapdisk.find: at most one match, else TapdiskNotUnique."""
    found = tap_list(**kw)
    if len(found) > 1:
        raise ParseError("Found multiple tapdisks: %s" % found)
    return found[0] if found else None


def launch(typ, path, rdonly=False, cbtlog=None):
    """VDI._tap_activate: an existing tapdisk of the path is reused, else Blktap.allocate and
    Tapdisk.launch_on_tap (list -f, spawn, attach, open, list -m) with SM's rollback."""
    disk = find(path=path)
    if disk:
        return disk
    minor = tap_allocate()
    try:
        if find(path=path):
            raise ParseError("TapdiskExists: %s already running" % path)
        pid = tap_spawn()
        # SM runs `cgclassify <pid>` here and ignores its failure: no cgroups in the tests
        try:
            tap_attach(pid, minor)
            try:
                tap_open(pid, minor, typ, path, rdonly=rdonly, cbtlog=cbtlog)
                try:
                    disk = find(minor=minor)
                    if not disk:
                        raise ParseError("TapdiskNotRunning(minor=%d)" % minor)
                    return disk
                except Exception:
                    tap_close(pid, minor)
                    raise
            except Exception:
                tap_detach(pid, minor)
                raise
        except Exception:
            try:
                os.kill(pid, 15)  # TapCtl.shutdown
            except OSError:
                pass
            raise
    except Exception:
        tap_free(minor)
        raise


def shutdown(pid, minor, force=False):
    """Tapdisk.shutdown."""
    tap_close(pid, minor, force)
    tap_detach(pid, minor)
    tap_free(minor)


def pause(pid, minor):
    d = find(minor=minor)
    if not d or d["pid"] != pid or d["state"] & PAUSE_MASK:
        raise ParseError("TapdiskInvalidState: not running: %s" % d)
    tap_pause(pid, minor)
    d = find(minor=minor)
    if not d or not d["state"] & PAUSED:
        raise ParseError("pause returned but the list does not say PAUSED: %s" % d)


def unpause(pid, minor, typ, path, cbtlog=None):
    d = find(minor=minor)
    if not d or not d["state"] & PAUSED:
        raise ParseError("TapdiskInvalidState: not paused: %s" % d)
    tap_unpause(pid, minor, typ, path, cbtlog)
    d = find(minor=minor)
    if not d or d["state"] & PAUSE_MASK or (d["type"], d["path"]) != (typ, path):
        raise ParseError("after unpause the list says %s" % d)


STATS_KEYS = {"name": str, "secs": list, "images": list, "nbd_mirror_failed": int,
              "reqs_outstanding": int, "FIXME_enospc_redirect_count": int}


def parse_stats(line):
    """Tapdisk.stats: json.loads of tap-ctl's first line, then the keys XAPI reads."""
    s = json.loads(line)
    if not isinstance(s, dict):
        raise ParseError("stats is not an object: %r" % line)
    for key, typ in STATS_KEYS.items():
        if not isinstance(s.get(key), typ):
            raise ParseError("stats: %s missing or not %s" % (key, typ.__name__))
    if len(s["secs"]) != 2 or not all(isinstance(v, int) for v in s["secs"]):
        raise ParseError("stats: secs is not [rd, wr]")
    for img in s["images"]:
        if not isinstance(img.get("name"), str):
            raise ParseError("stats: image without a name: %s" % img)
        for key in ("hits", "fail"):
            v = img.get(key)
            if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, int) for x in v):
                raise ParseError("stats: image %s is not [rd, wr]" % key)
        drv = img.get("driver")
        if not isinstance(drv, dict) or not isinstance(drv.get("type"), int) or \
                not isinstance(drv.get("name"), str):
            raise ParseError("stats: image driver is not {type: int, name: str}")
    return s


# ---- rrdp-iostat's files -------------------------------------------------------------------------

IOSTAT_FIELDS = ("version", "pad", "oo_reqs", "read_reqs_submitted", "read_reqs_completed",
                 "read_sectors", "read_total_ticks", "write_reqs_submitted",
                 "write_reqs_completed", "write_sectors", "write_total_ticks", "io_errors", "flags")
IOSTAT_FORMAT = "<II11Q"


def iostat(domid, devid, pid):
    """The vbd3 directory must exist; the td3 page is unpacked as struct stats (LE)."""
    vbd3 = "%s/vbd3-%d-%d" % (SHM_DIR, domid, devid)
    if not os.path.isdir(vbd3):
        raise ParseError("%s is not a directory" % vbd3)
    with open("%s/td3-%d/vbd-%d-%d" % (SHM_DIR, pid, domid, devid), "rb") as f:
        data = f.read()
    size = struct.calcsize(IOSTAT_FORMAT)
    if len(data) < size:
        raise ParseError("stats file is %d bytes, less than %d" % (len(data), size))
    return dict(zip(IOSTAT_FIELDS, struct.unpack_from(IOSTAT_FORMAT, data)))


# ---- vhd-util, as vhdutil.py ---------------------------------------------------------------------

OPT_LOG_ERR = "--debug"


@retried(limit=20, backoff=0.5, transient=(errno.EIO, errno.EAGAIN))
def vhd(*args):
    return _call([VHD_UTIL] + list(args))[1]


def vhd_info(path):
    """vhdutil.getVHDInfo with the parent: (virtual bytes, physical bytes, parent or '', hidden)."""
    fields = vhd("query", OPT_LOG_ERR, "-vsfp", "-n", path).strip().split("\n")
    virt = int(fields[0]) * 1024 * 1024
    phys = int(fields[1])
    parent = fields[2] if fields[2].find("no parent") == -1 else ""
    hidden = int(fields[3].replace("hidden: ", ""))
    return virt, phys, parent, hidden


# ---- self test ---------------------------------------------------------------------------------

def selftest():
    base = TAP_MINOR_BASE
    out = ("pid=10 minor=0 state=0 args=vhd:/a b/c.vhd\n"
           "pid=11 minor=1 state=0x20 args=aio:/x\n"
           "pid=12 minor=2 state=0x30\n"          # no args: skipped
           "pid=13 state=0 args=aio:/y\n")        # no minor: skipped
    got = parse_list(out)
    assert got == [{"pid": 10, "minor": 0, "state": 0, "type": "vhd", "path": "/a b/c.vhd"},
                   {"pid": 11, "minor": 1, "state": 0x20, "type": "aio", "path": "/x"}], got
    for bad in ("pid=1 minor=0 state=0 args=raw:/x\n", "pid=1 minor=0 state=0 args=vhd\n"):
        try:
            parse_list(bad)
        except ParseError:
            pass
        else:
            raise AssertionError("accepted %r" % bad)
    try:
        parse_list("pid=1 minor=0 state=zz args=aio:/x\n")
        raise AssertionError("accepted a non-hex state")
    except ValueError:
        pass
    assert parse_minor(base + "/tapdisk-17") == 17
    for bad in (base + "/tapdisk-", base + "/tapdisk-1x", "/elsewhere/tapdisk"):
        try:
            parse_minor(bad)
        except ParseError:
            continue
        raise AssertionError("accepted %r" % bad)
    s = parse_stats('{"name": "vhd:/x", "secs": [1, 2], "images": [{"name": "/x", "hits": [0, 1],'
                    ' "fail": [0, 0], "driver": {"type": 4, "name": "vhd"}}],'
                    ' "nbd_mirror_failed": 0, "reqs_outstanding": 0,'
                    ' "FIXME_enospc_redirect_count": 0}')
    assert s["secs"] == [1, 2]
    for bad in ('{"name": "x"}', "[1]", '{"name": "x", "secs": [1]}'):
        try:
            parse_stats(bad)
        except ParseError:
            continue
        raise AssertionError("accepted stats %r" % bad)
    page = struct.pack(IOSTAT_FORMAT, 1, 0, *range(1, 12)) + bytes(4096 - 96)
    assert dict(zip(IOSTAT_FIELDS, struct.unpack_from(IOSTAT_FORMAT, page)))["flags"] == 11
    print("selftest ok")


# ---- command line ------------------------------------------------------------------------------

def option(args, name):
    """The value after `name` in args, or None."""
    return args[args.index(name) + 1] if name in args[:-1] else None


def main(argv):
    if not argv:
        print(__doc__)
        return 22
    cmd, a = argv[0], argv[1:]
    if cmd == "selftest":
        selftest()
    elif cmd == "list":
        kw, names = {}, {"-m": "minor", "-p": "pid", "-t": "typ", "-f": "path"}
        for i in range(0, len(a) - 1, 2):
            kw[names[a[i]]] = a[i + 1]
        for d in tap_list(**kw):
            print(d["pid"], d["minor"], "%#x" % d["state"], d["type"], d["path"])
    elif cmd == "allocate":
        print(tap_allocate())
    elif cmd == "free":
        tap_free(int(a[0]))
    elif cmd == "launch":
        d = launch(a[0], a[1], rdonly="--rdonly" in a[2:], cbtlog=option(a, "--cbtlog"))
        print(d["pid"], d["minor"])
    elif cmd == "shutdown":
        shutdown(int(a[0]), int(a[1]))
    elif cmd == "pause":
        pause(int(a[0]), int(a[1]))
    elif cmd == "unpause":
        unpause(int(a[0]), int(a[1]), a[2], a[3], option(a, "--cbtlog"))
    elif cmd == "stats":
        print(json.dumps(parse_stats(tap_stats(int(a[0]), int(a[1])))))
    elif cmd == "iostat":
        for k, v in iostat(int(a[0]), int(a[1]), int(a[2])).items():
            print("%s=%d" % (k, v))
    elif cmd == "vhd-info":
        print(*vhd_info(a[0]))
    elif cmd == "vhd-snapshot":
        vhd("snapshot", OPT_LOG_ERR, "-n", a[0], "-p", a[1])
    elif cmd == "vhd-coalesce":
        vhd("coalesce", OPT_LOG_ERR, "-n", a[0])
    elif cmd == "vhd-set-parent":
        vhd("modify", OPT_LOG_ERR, "-p", os.path.normpath(a[1]), "-n", a[0])
    elif cmd == "vhd-set-hidden":
        vhd("set", OPT_LOG_ERR, "-n", a[0], "-f", "hidden", "-v", a[1])
    else:
        print("xapi.py: unknown command %s" % cmd, file=sys.stderr)
        return 22
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except CommandFailure as e:
        print("xapi.py: %s" % e, file=sys.stderr)
        sys.exit(e.status if 0 < e.status < 256 else 1)
    except (ParseError, ValueError, OSError, KeyError, IndexError) as e:
        print("xapi.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(1)
