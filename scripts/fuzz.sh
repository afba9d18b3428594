#!/usr/bin/env bash
# scripts/fuzz.sh — run every fuzz target of the workspace (each `func FuzzXxx(f *testing.F)` in a
# _test.go file of a module go.work uses) for a bounded time, one after the other.
#
#   scripts/fuzz.sh                 every target, 30s each
#   FUZZTIME=10s scripts/fuzz.sh    another time per target (any -fuzztime value: 10s, 5000x)
#   FUZZ_MATCH=Voter scripts/fuzz.sh   only targets whose "dir/FuzzName" matches this regexp
#   scripts/fuzz.sh -list           print the targets and stop
#
# A target that finds a failing input fails the script (after the others have run). Go writes the
# input to <package>/testdata/fuzz/<FuzzName>/<hash>; the script prints that path. Commit the file:
# from then on a plain `go test` runs it as a regression case, before any fix and after it. The
# inputs the fuzzer finds interesting but harmless stay in Go's cache and are not committed.
#
# Targets in files with a //go:build line are listed but skipped: fuzzing them needs their tags.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${FUZZTIME:-30s}
match=${FUZZ_MATCH:-.}
list_only=0
case "${1:-}" in
	"") ;;
	-list | --list) list_only=1 ;;
	*)
		echo "usage: $0 [-list]   (FUZZTIME, FUZZ_MATCH in the environment)" >&2
		exit 2
		;;
esac

# The workspace's modules, from go.work: only their code is ours to fuzz.
mapfile -t modules < <(go work edit -json | sed -n 's/^[[:space:]]*"DiskPath": "\(.*\)".*/\1/p' | sed 's|^\./||')
if ((${#modules[@]} == 0)); then
	echo "fuzz: no modules in go.work" >&2
	exit 2
fi

# "dir<TAB>FuzzName<TAB>file" for every target, in a stable order.
targets=$(
	for m in "${modules[@]}"; do
		grep -rEo --include='*_test.go' --exclude-dir=testdata '^func Fuzz[A-Za-z0-9_]*\(' "$m" || true
	done | sed -E 's|^(.*)/([^/]+_test\.go):func (Fuzz[A-Za-z0-9_]*)\($|\1\t\3\t\1/\2|' | sort -u
)
if [[ -z $targets ]]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 2
fi

echo "fuzz targets (FUZZTIME=$fuzztime each):"
while IFS=$'\t' read -r dir name file; do
	note=""
	if grep -q '^//go:build' "$file"; then note="  (skipped: $file has build tags)"; fi
	if ! [[ "$dir/$name" =~ $match ]]; then note="  (skipped: does not match FUZZ_MATCH=$match)"; fi
	printf '  %-12s %s%s\n' "$dir" "$name" "$note"
done <<<"$targets"
((list_only)) && exit 0

log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
raced=()
ran=0
start=$(date +%s)
while IFS=$'\t' read -r dir name file; do
	if grep -q '^//go:build' "$file" || ! [[ "$dir/$name" =~ $match ]]; then
		continue
	fi
	ran=$((ran + 1))
	printf '\n==> %s %s\n' "$dir" "$name"
	# -run '^$': the package's ordinary tests are not this script's business (make test runs them).
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir" >"$log" 2>&1; then
		tail -n 3 "$log"
		continue
	fi
	cat "$log"
	# Go's coordinator can report its own -fuzztime deadline as a failure when a worker is still
	# busy as time runs out (golang/go#75804): the bare line "context deadline
	# exceeded", no failing input. The target did fuzz for the whole time; say so and go on. Any
	# other failure, and every failing input, fails the script.
	if ! grep -q 'Failing input written to' "$log" &&
		grep -A1 -- "^--- FAIL: $name " "$log" | tail -n 1 | grep -qx '[[:space:]]*context deadline exceeded'; then
		echo "fuzz: $name: the fuzztime deadline race of Go's fuzzing coordinator (golang/go#75804), no failing input; not a finding"
		raced+=("$dir $name")
		continue
	fi
	failed+=("$dir $name")
	# "Failing input written to testdata/fuzz/FuzzX/0123abcd", relative to the package directory.
	if input=$(grep -o 'Failing input written to [^ ]*' "$log" | head -n 1 | sed 's/^Failing input written to //'); [[ -n $input ]]; then
		echo
		echo "fuzz: $name found a failing input: $dir/$input"
		echo "fuzz: commit it as a regression case; reproduce with: go test -run '^$name/$(basename "$input")\$' ./$dir"
	fi
done <<<"$targets"

echo
echo "fuzz: $ran target(s) run for $fuzztime each in $(($(date +%s) - start))s"
if ((${#raced[@]})); then
	printf 'fuzz: ended by the coordinator deadline race (golang/go#75804), no failing input: %s\n' "${raced[@]}"
fi
if ((${#failed[@]})); then
	printf 'fuzz: FAILED: %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: no failing input found"
