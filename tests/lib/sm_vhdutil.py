#!/usr/bin/env python3
"""XAPI's storage manager (SM) driving vhd-util: every argument list SM builds, run against our
vhd-util, its exit status checked and its stdout parsed the way SM parses it.

Facts restated from xapi-project/sm (written here in our own words, not copied):
  libs/sm/vhdutil.py (was drivers/vhdutil.py): the query/read/set/modify/create/snapshot/resize/
      revert/check/coalesce/repair/key/scan command lines and their parsers;
  libs/sm/lvhdutil.py, drivers/LVHDSR.py: create and snapshot with -S 2097152 (MSIZE_MB, the
      2 TiB BAT reservation), inflate/deflate through modify -s, query -s/-d/-p;
  libs/sm/cleanup.py: query -S, resize -f / -j, coalesce, repair, modify -p;
  libs/sm/drivers/FileSR.py, NFSSR.py: compose (modify -p without --debug), reset_leaf (read -p,
      modify -z), snapshot depth (query -d, refused at 30).
SM treats any non-zero exit as a failure (util.pread2 raises with the exit status), retries
EIO/EAGAIN, and parses stdout only.

usage: sm_vhdutil.py VHD_UTIL SCRATCH_DIR
"""
import os
import re
import subprocess
import sys
import uuid

MiB = 1 << 20
VHD_UTIL, DIR = sys.argv[1], sys.argv[2]
DEBUG = "--debug"  # SM's OPT_LOG_ERR


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args):
    p = subprocess.run([VHD_UTIL] + args, capture_output=True)
    # latin-1: read -B writes raw bytes, which SM compresses as they are
    return p.returncode, p.stdout.decode("latin-1"), p.stderr.decode("latin-1")


def case(what, args, rc=0, check=None):
    """Run vhd-util ARGS; the exit status must be RC; CHECK(stdout) may assert more."""
    got, out, err = run(args)
    if got != rc:
        fail("%s: vhd-util %s: exit %d, expected %d (stdout %r, stderr %r)"
             % (what, " ".join(args), got, rc, out[:300], err[:300]))
    if check:
        try:
            check(out)
        except AssertionError as e:
            fail("%s: vhd-util %s: %s (stdout %r)" % (what, " ".join(args), e, out[:500]))
    print("ok: " + what)
    return out


def vdi(name=None):
    """A file named as FileSR names VDIs: <uuid>.vhd in the SR directory."""
    return os.path.join(DIR, (name or str(uuid.uuid4())) + ".vhd")


def uuid_of(path):  # FileSR.extractUuid
    return os.path.basename(path).replace(".vhd", "")


# ---- SM's parsers, restated ---------------------------------------------------------------------
def parse_info(out, parent=True):
    """getVHDInfo: -vsaf[p] lines: MiB, bytes, [parent], "hidden: N", allocated blocks."""
    f = out.strip().split("\n")
    info = {"virt": int(f[0]) * MiB, "phys": int(f[1]), "parent": ""}
    i = 2
    if parent:
        if f[i].find("no parent") == -1:
            info["parent"] = f[i]
        i += 1
    info["hidden"] = int(f[i].replace("hidden: ", ""))
    info["alloc"] = int(f[i + 1])
    return info


def parse_block_size(out):  # getBlockSize, from read -pn
    for line in out.split("\n"):
        line = line.lstrip()
        if line.startswith("Block size"):
            return int(line.split(":")[1].lstrip().split()[0])
    raise AssertionError("no 'Block size' line")


def parse_parent(out):  # getParent
    assert out.find("query failed") == -1 and out.find("Failed opening") == -1, "query failed"
    if out.find("no parent") != -1:
        return None
    return uuid_of(out.strip())


def parse_hidden(out):  # getHidden
    return int(out.split(":")[-1].strip())


def parse_depth(out):  # getDepth
    return int(out.split(":")[1].strip()) if out.startswith("chain depth:") else -1


def parse_coalesced(out):  # coalesce
    m = re.match(r"^Coalesced (\d+) sectors", out)
    return int(m.group(1)) if m else 0


def parse_disk_type(out):  # hasParent
    m = re.match(r".*Disk type\s+: (\S+) hard disk.*", out, flags=re.S)
    assert m, "no 'Disk type' line"
    return m.group(1)


def parse_scan(out):  # getAllVHDs / _parseVHDInfo: uuid -> fields
    vhds = {}
    for line in out.split("\n"):
        if not line.strip():
            continue
        words = line.split()
        assert words[0].startswith("vhd="), "unparsable scan line %r" % line
        info = {}
        for kv in words:
            key, val = kv.split("=")
            if key == "vhd":
                info = {"uuid": uuid_of(val), "path": val, "error": 0}
            elif key == "scan-error":
                info["error"] = line
                break
            elif key in ("capacity", "size", "hidden"):
                info[key] = int(val)
            elif key == "parent" and val != "none":
                info["parent"] = uuid_of(val)
        vhds[info["uuid"]] = info
    return vhds


def parse_decoded_name(out):  # _getVHDParentNoCheck
    for line in out.split("\n"):
        if line.find("decoded name :") != -1:
            return line.split(":")[1].strip().replace("--", "-")[-40:]
    return None


def eq(a, b, what):
    assert a == b, "%s: %r, expected %r" % (what, a, b)


# ---- FileSR-style VDIs: create, query, snapshot, hide, resize, coalesce -----------------------
base, leaf, raw = vdi(), vdi(), os.path.join(DIR, str(uuid.uuid4()) + ".raw")
case("create --debug -n P -s MiB (vhdutil.create)", ["create", DEBUG, "-n", base, "-s", "64"])
case("create --debug -n P -s MiB -r (static)", ["create", DEBUG, "-n", vdi(), "-s", "8", "-r"])
case("create -S below -s is refused with EINVAL",
     ["create", DEBUG, "-n", vdi("toosmall"), "-s", "20", "-S", "10"], rc=22,
     check=lambda o: eq("must be greater" in o, True, "blktap's message on stdout"))
case("query --debug -vsaf (getVHDInfo without the parent)",
     ["query", DEBUG, "-vsaf", "-n", base],
     check=lambda o: eq((parse_info(o, False)["virt"], parse_info(o, False)["hidden"],
                         parse_info(o, False)["alloc"]), (64 * MiB, 0, 0), "size, hidden, blocks"))
case("read -pn (getBlockSize)", ["read", "-pn", base],
     check=lambda o: eq(parse_block_size(o), 2 * MiB, "block size"))
with open(raw, "wb") as fh:
    fh.truncate(16 * MiB)
rawchild = vdi()
case("snapshot --debug -n P -p RAW -m", ["snapshot", DEBUG, "-n", rawchild, "-p", raw, "-m"])
case("snapshot --debug -n P -p PAR (vhdutil.snapshot)",
     ["snapshot", DEBUG, "-n", leaf, "-p", base])
case("query --debug -vsafp (getVHDInfo)", ["query", DEBUG, "-vsafp", "-n", leaf],
     check=lambda o: eq(uuid_of(parse_info(o)["parent"]), uuid_of(base), "parent"))
case("query --debug -p (getParent)", ["query", DEBUG, "-p", "-n", leaf],
     check=lambda o: eq(parse_parent(o), uuid_of(base), "parent uuid"))
case("query --debug -p of a disk with no parent", ["query", DEBUG, "-p", "-n", base],
     check=lambda o: eq(parse_parent(o), None, "no parent"))
case("read --debug -p (hasParent: Differencing)", ["read", DEBUG, "-p", "-n", leaf],
     check=lambda o: eq(parse_disk_type(o), "Differencing", "disk type"))
case("read --debug -p (hasParent: Dynamic)", ["read", DEBUG, "-p", "-n", base],
     check=lambda o: eq(parse_disk_type(o), "Dynamic", "disk type"))
case("read -p (_getVHDParentNoCheck)", ["read", "-p", "-n", leaf],
     check=lambda o: eq(parse_decoded_name(o), os.path.basename(base)[-40:], "decoded name"))
case("set --debug -n P -f hidden -v 1 (setHidden)",
     ["set", DEBUG, "-n", base, "-f", "hidden", "-v", "1"])
case("query --debug -f (getHidden)", ["query", DEBUG, "-f", "-n", base],
     check=lambda o: eq(parse_hidden(o), 1, "hidden"))
case("query --debug -d (getDepth)", ["query", DEBUG, "-d", "-n", leaf],
     check=lambda o: eq(parse_depth(o), 2, "depth"))
case("query --debug -d of a raw-parented disk", ["query", DEBUG, "-d", "-n", rawchild],
     check=lambda o: eq(parse_depth(o), 2, "depth"))
case("query --debug -v (getSizeVirt)", ["query", DEBUG, "-v", "-n", leaf],
     check=lambda o: eq(int(o) * MiB, 64 * MiB, "virtual size"))
case("query --debug -s (getSizePhys)", ["query", DEBUG, "-s", "-n", leaf],
     check=lambda o: eq(int(o), os.path.getsize(leaf), "physical size"))
case("query --debug -a (getAllocatedSize)", ["query", DEBUG, "-a", "-n", leaf],
     check=lambda o: eq(int(o), 0, "allocated blocks"))
case("query --debug -S (getMaxResizeSize)", ["query", DEBUG, "-S", "-n", leaf],
     check=lambda o: eq(int(o), 64, "max fast-resize size"))
case("check --debug -n P (vhdutil.check)", ["check", DEBUG, "-n", leaf])
case("check --debug -n P -i -B", ["check", DEBUG, "-n", leaf, "-i", "-B"])
case("key -p (getKeyHash)", ["key", "-p", "-n", leaf],
     check=lambda o: eq(o.strip(), "none", "no key"))
# setKey is only run for encrypted VDIs, which ringtap does not have
case("key -s -n P -H HASH (setKey) is EOPNOTSUPP", ["key", "-s", "-n", leaf, "-H", "ab"], rc=95)
junk = vdi()
with open(junk, "wb") as fh:
    fh.write(os.urandom(4096))
case("check --debug of a damaged file fails (check returns False)", ["check", DEBUG, "-n", junk],
     rc=22)
os.unlink(junk)
# the leaf is empty: the snapshot would link to the base (depth 1), as blktap's does
case("snapshot -l beyond the limit: ENOSPC, the reason on stdout",
     ["snapshot", DEBUG, "-n", vdi(), "-p", leaf, "-l", "1"], rc=28,
     check=lambda o: eq(o, "snapshot depth exceeded: current depth: 1, limit: 1\n", "stdout"))
# data in the leaf, then SM's GC: coalesce into the parent, relink, drop the leaf's data
subprocess.run([os.environ["VHD_IO"], "write", leaf, str(3 * MiB)],
               input=os.urandom(MiB), check=True)
case("read --debug -B (getBlockBitmap)", ["read", DEBUG, "-B", "-n", leaf],
     check=lambda o: eq(len(o.encode("latin-1")), 4, "bitmap bytes (32 blocks)"))
case("coalesce --debug -n CHILD (vhdutil.coalesce)", ["coalesce", DEBUG, "-n", leaf],
     check=lambda o: eq(parse_coalesced(o), 2048, "sectors coalesced"))
case("modify --debug -z (killData)", ["modify", DEBUG, "-z", "-n", leaf])
case("query --debug -a after killData", ["query", DEBUG, "-a", "-n", leaf],
     check=lambda o: eq(int(o), 0, "allocated blocks"))
other = vdi()
case("create of a new parent", ["create", DEBUG, "-n", other, "-s", "64"])
case("modify --debug -p PAR -n P (setParent)", ["modify", DEBUG, "-p", other, "-n", leaf])
case("modify -p PAR -n P (FileSR compose, no --debug)", ["modify", "-p", base, "-n", leaf])
case("modify --debug -p RAW -n P -m (setParent of a raw parent)",
     ["modify", DEBUG, "-p", raw, "-n", rawchild, "-m"])
case("repair -n P (cleanup's repair)", ["repair", "-n", base])
case("resize --debug -s MiB -n P -j J (setSizeVirt)",
     ["resize", DEBUG, "-s", "128", "-n", base, "-j", os.path.join(DIR, ".journal-x")])
case("query -v after resize", ["query", DEBUG, "-v", "-n", base],
     check=lambda o: eq(int(o), 128, "virtual size"))
case("revert --debug of a journal never written (FileSR after a failed resize)",
     ["revert", DEBUG, "-n", base, "-j", os.path.join(DIR, ".journal-x")], rc=2)

# ---- LVHD's argument lists: -S 2097152 (lvhdutil.MSIZE_MB), inflate/deflate -----------------
lv, lvsnap = vdi(), vdi()
case("create --debug -n P -s 10240 -S 2097152 (LVHD create)",
     ["create", DEBUG, "-n", lv, "-s", "10240", "-S", "2097152"])
case("query --debug -S of an LVHD disk", ["query", DEBUG, "-S", "-n", lv],
     check=lambda o: eq(int(o), 2097152, "max fast-resize size"))
case("snapshot --debug -n NEW -p BASE -S 2097152 (LVHD snapshot)",
     ["snapshot", DEBUG, "-n", lvsnap, "-p", lv, "-S", "2097152"])
case("snapshot ... -S 2097152 -m", ["snapshot", DEBUG, "-n", vdi(), "-p", raw, "-S", "2097152",
                                    "-m"])
case("snapshot ... -S 2097152 -e", ["snapshot", DEBUG, "-n", vdi(), "-p", lvsnap, "-S",
                                    "2097152", "-e"])
case("resize --debug -s MiB -n P -f (fast resize within -S)",
     ["resize", DEBUG, "-s", "20480", "-n", lv, "-f"])
phys = int(case("query --debug -s (before inflate)", ["query", DEBUG, "-s", "-n", lvsnap]))
case("modify --debug -s BYTES (inflate: footer at the new end)",
     ["modify", DEBUG, "-s", str(phys + 8 * MiB), "-n", lvsnap])
eq(os.path.getsize(lvsnap), phys + 8 * MiB, "inflated file size")
case("modify -s BYTES without --debug (deflate back)",
     ["modify", "-s", str(phys), "-n", lvsnap])
case("modify -s below the data's end is EINVAL", ["modify", DEBUG, "-s", "512", "-n", lvsnap],
     rc=22)
case("check after inflate/deflate", ["check", DEBUG, "-n", lvsnap])

# ---- scan, as SR scans and the GC run it -----------------------------------------------------
pattern = os.path.join(DIR, "*.vhd")
out = case("scan -f -m PATTERN (getAllVHDs)", ["scan", "-f", "-m", pattern])
vhds = parse_scan(out)
eq(vhds[uuid_of(leaf)].get("parent"), uuid_of(base), "scan: the leaf's parent")
eq(vhds[uuid_of(base)]["hidden"], 1, "scan: the hidden base")
eq(vhds[uuid_of(lv)]["capacity"], 20480 * MiB, "scan: capacity in bytes")
case("scan -f -m PATTERN -c (getAllVHDs' retry)", ["scan", "-f", "-m", pattern, "-c"])
out = case("scan -f -m LEAF -a (getParentChain)", ["scan", "-f", "-m", leaf, "-a"])
eq(sorted(parse_scan(out)), sorted([uuid_of(leaf), uuid_of(base)]), "scan -a: leaf and parent")
out = case("scan -f -a -v of a raw-parented leaf lists the raw parent",
           ["scan", "-f", "-a", "-v", "-m", rawchild])
eq(sorted(l.split()[0] for l in out.strip().split("\n")),
   sorted(["vhd=" + rawchild, "vhd=" + raw]), "scan -a -v: the leaf and its raw parent")
eq(out.strip().split("\n")[-1],
   "vhd=%s capacity=%d size=%d hidden=0 parent=none" % (raw, 16 * MiB, 16 * MiB),
   "the raw parent's line")
orphan = vdi()
case("snapshot of a soon-missing parent", ["snapshot", DEBUG, "-n", orphan, "-p", other])
os.rename(other, other + ".gone")
out = case("scan -f -a with a missing parent exits 0", ["scan", "-f", "-m", orphan, "-a"])
eq([l.split()[1] for l in out.strip().split("\n")][-1], "scan-error=-2",
   "the missing parent's scan-error line")
os.rename(other + ".gone", other)

# ---- --debug anywhere, an unknown sub-command ------------------------------------------------
case("--debug after the options", ["query", "-v", "-n", leaf, DEBUG],
     check=lambda o: eq(o, "64\n", "query -v"))
case("an unknown sub-command exits 0 (blktap)", ["frobnicate", "-n", leaf])
case("query -u prints the parent as recorded", ["query", "-p", "-u", "-n", leaf],
     check=lambda o: eq(o, "./%s\n" % os.path.basename(base), "recorded parent"))
case("repair -b", ["repair", "-b", "-n", leaf])
small = vdi()
case("snapshot to fill", ["snapshot", DEBUG, "-n", small, "-p", base, "-S", "2097152"])
case("fill -n P allocates every block", ["fill", "-n", small])
case("query -a after fill", ["query", DEBUG, "-a", "-n", small],
     check=lambda o: eq(int(o), 128 // 2, "allocated blocks"))
case("check after fill", ["check", DEBUG, "-n", small])
