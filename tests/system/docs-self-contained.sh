# The repository's docs are all a user needs: no file refers outside the tree (the team's
# ../shared folder, /work paths, design notes by bare names the tree does not have: docs/XAPI.md
# is the tree's own), and every
# docs/, man/, tools/ or tests/ path the README, docs/*.md, tools/*/README.md and the man pages
# name exists.
. "$(dirname "$0")/../lib/common.sh"

cd "$SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files --cached --others --exclude-standard >"$T/files"
else
	find . -type f -not -path './build*' -not -path './third_party-src/*' | sed 's#^\./##' >"$T/files"
fi
self=tests/system/docs-self-contained.sh
grep -vx "$self" "$T/files" | while read -r f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
	xargs -0 grep -nE '\.\./shared|/work/|(^|[^/[:alnum:]])(DESIGN|STYLE|XAPI|XAPI-MORE)\.md' >"$T/outside" || true
[ ! -s "$T/outside" ] || fail "references outside the repository: $(cat "$T/outside")"
echo "ok: no file refers to ../shared, /work or notes the tree lacks ($(wc -l <"$T/files") files)"

docs=$(grep -E '^(README\.md|docs/.*\.md|tools/.*/README.*\.md|man/.*\.8)$' "$T/files")
missing=0
for d in $docs; do
	for p in $(sed 's/\\-/-/g' "$d" | grep -oP '(?<![\w/.$-])(docs|man|tools|tests)/[\w./-]*\w' |
		sort -u); do
		[ -e "$p" ] || { echo "$d names $p, which does not exist" >&2; missing=1; }
	done
done
[ "$missing" = 0 ] || fail "docs name paths that do not exist"
echo "ok: every path the docs name exists ($(wc -w <<<"$docs") documents)"
