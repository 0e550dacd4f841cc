# Every installed program (make print-installed: a new program is checked without a new line
# here) has a man page that matches its --help: each option --help shows is in the page, each
# option of the page's SYNOPSIS is in --help; for programs with sub-commands (a COMMANDS
# section), the page and --help list the same sub-commands, each answers `PROG COMMAND --help`, its options are in its paragraph of
# the page and the options of that paragraph's heading are in its --help. --version prints
# "PROG (ringtap) VERSION", VERSION being the file's.
. "$(dirname "$0")/../lib/common.sh"
. "$SRC/tests/lib/install.sh"

progs=$(installed_programs)
[ -n "$progs" ] || fail "make print-installed lists no program"
version=$(cat "$SRC/VERSION")
for p in $progs; do
	need_built "$BIN/$p"
	[ -f "$SRC/man/$p.8" ] || fail "$p has no man page man/$p.8"
	expect_eq "$("$BIN/$p" --version)" "$p (ringtap) $version" \
		"$p --version"
	python3 - "$BIN/$p" "$SRC/man/$p.8" <<'PY' || fail "$p: its man page and --help disagree"
import re, subprocess, sys

binary, manfile = sys.argv[1], sys.argv[2]
prog = binary.rsplit("/", 1)[1]
OPT = re.compile(r"(?<![\w/.=-])(--?[A-Za-z0-9][A-Za-z0-9-]*)")

def plain(roff):
    roff = re.sub(r"\\f[BIRP]|\\f\(..|\\&|\\\(em|\\e", "", roff)
    return roff.replace("\\-", "-")

def opts(text):
    return set(OPT.findall(text))

def run(*args):
    r = subprocess.run([binary, *args], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        sys.exit(f"{prog} {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout

raw = open(manfile).read()
sections = {}
for m in re.finditer(r"^\.SH (.+?)\n(.*?)(?=^\.SH |\Z)", raw, re.S | re.M):
    sections[m.group(1).strip('"')] = m.group(2)
page = plain(raw)
bad = []

main_help = run("--help")
for o in sorted(opts(main_help) - opts(page)):
    bad.append(f"{prog} --help shows {o}, the man page does not")

helps = main_help
if "COMMANDS" in sections:
    # each sub-command: a .TP paragraph whose heading (and .TQ headings) is .B NAME ...
    paras = re.split(r"^\.TP\n", sections["COMMANDS"], flags=re.M)[1:]
    cmds, heads = {}, {}
    for para in paras:
        for head in re.findall(r"(?:\A|^\.TQ\n)(\.BR? .*)$", para, re.M):
            m = re.match(r"\.BR? \"?([a-z](?:[a-z-]|\\-)*)", head)  # log\-level
            if m:
                name = m.group(1).replace("\\-", "-")
                cmds.setdefault(name, []).append(para)
                heads.setdefault(name, []).append(head)
    if not cmds:
        sys.exit(f"{prog}: no sub-command found in the man page's COMMANDS")
    for cmd, ps in sorted(cmds.items()):
        if not re.search(rf"(?<![\w-]){re.escape(cmd)}(?![\w-])", main_help):
            bad.append(f"{prog} --help does not list {cmd}")
        chelp = run(cmd, "--help")
        helps += chelp
        text = plain("".join(ps))
        heading = plain("\n".join(heads[cmd]))
        for o in sorted(opts(chelp) - opts(text) - {"-h", "--help"}):
            bad.append(f"{prog} {cmd} --help shows {o}, its paragraph does not")
        for o in sorted(opts(heading) - opts(chelp)):
            bad.append(f"{prog} {cmd}: the page's heading shows {o}, its --help does not")
    # and the reverse: a word of --help that `PROG WORD --help` answers as a command is in the page
    for w in sorted(set(re.findall(r"(?<![\w-])[a-z][a-z-]+(?![\w-])", main_help)) - set(cmds)):
        r = subprocess.run([binary, w, "--help"], capture_output=True, text=True, timeout=30)
        if r.returncode == 0 and r.stdout.startswith(f"Usage: {prog} {w} "):
            bad.append(f"{prog} has a sub-command {w} the man page's COMMANDS lacks")
    print(f"ok: {prog}: {len(cmds)} sub-commands agree")
for o in sorted(opts(plain(sections.get("SYNOPSIS", ""))) - opts(helps)):
    bad.append(f"{prog}: the SYNOPSIS shows {o}, --help does not")
if bad:
    sys.exit("\n".join(bad))
print(f"ok: {prog}: man page and --help agree ({len(opts(helps))} options)")
PY
done
