# The include graph of src/ has no cycle: a module (src/X.c with src/X.h, and src/X_private.h,
# the part of X's interface only X's own files use) depends on module Y when one of its files has
# `#include "src/Y.h"` (or Y_private.h); a cycle of such dependencies fails, listing it.
. "$(dirname "$0")/../lib/common.sh"

python3 - "$SRC/src" >"$T/out" 2>&1 <<'PY' || fail "include cycle in src/: $(cat "$T/out")"
import os, re, sys

root = sys.argv[1]
inc = re.compile(r'^\s*#\s*include\s+"src/([A-Za-z0-9_]+)\.h"', re.M)

def module(name):
    base = os.path.splitext(name)[0]
    return base[: -len("_private")] if base.endswith("_private") else base

deps = {}
for f in sorted(os.listdir(root)):
    if not f.endswith((".c", ".h")):
        continue
    m = module(f)
    with open(os.path.join(root, f)) as fh:
        for target in inc.findall(fh.read()):
            t = module(target + ".h")
            if t != m:
                deps.setdefault(m, {}).setdefault(t, f)
    deps.setdefault(m, {})

WHITE, GREY, BLACK = 0, 1, 2
colour = {m: WHITE for m in deps}
stack = []

def visit(m):
    colour[m] = GREY
    stack.append(m)
    for t in sorted(deps.get(m, {})):
        if colour.get(t, BLACK) == GREY:
            cyc = stack[stack.index(t):] + [t]
            print(" -> ".join(
                "%s (%s)" % (a, deps[a][b]) for a, b in zip(cyc, cyc[1:])) + " -> " + t)
            sys.exit(1)
        if colour.get(t) == WHITE:
            visit(t)
    stack.pop()
    colour[m] = BLACK

for m in sorted(deps):
    if colour[m] == WHITE:
        visit(m)
print("%d modules, no cycle" % len(deps))
PY
echo "ok: src/ include graph: $(cat "$T/out")"
