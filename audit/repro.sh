#!/usr/bin/env bash
# audit/repro.sh — is the build reproducible? Builds the service images of one commit twice with
# --no-cache and compares image IDs, layers and the Go binaries inside; then builds each binary
# twice outside Docker, each time with an empty Go build cache, and compares those.
#
#   audit/repro.sh [COMMIT] [--env-file deploy/compose/offline.env]
#
# The commit is exported with git archive into a temporary directory, so edits in the work tree
# do not leak into either build. Images are tagged voting-app/<service>:repro-a and :repro-b and
# removed at the end (KEEP=1 keeps them).
set -euo pipefail

root=$(git rev-parse --show-toplevel)
commit=HEAD
env_args=()
while (($#)); do
	case $1 in
	--env-file) env_args=(--env-file "$(realpath "$2")"); shift ;;
	*) commit=$1 ;;
	esac
	shift
done
services=(vote worker result analyzer)
work=$(mktemp -d "${TMPDIR:-/tmp}/repro.XXXXXX")
cleanup() {
	rm -rf "$work"
	if [[ ${KEEP:-0} != 1 ]]; then
		for s in "${services[@]}"; do docker image rm "voting-app/$s:repro-a" "voting-app/$s:repro-b" >/dev/null 2>&1 || true; done
	fi
}
trap cleanup EXIT

mkdir -p "$work/src"
git -C "$root" archive "$commit" | tar -x -C "$work/src"
rev=$(git -C "$root" rev-parse --short=12 "$commit")
export VERSION=$rev REVISION=$rev CREATED=$(git -C "$root" log -1 --format=%cI "$commit")
echo "commit $rev, VERSION=$VERSION CREATED=$CREATED"

for run in a b; do
	echo "== docker compose build --no-cache (TAG=repro-$run)"
	start=$(date +%s)
	(cd "$work/src" && TAG=repro-$run docker compose "${env_args[@]}" build --no-cache "${services[@]}" >"$work/build-$run.log" 2>&1) ||
		{ tail -30 "$work/build-$run.log"; exit 1; }
	echo "   $(($(date +%s) - start))s"
done

binary_sum() { # IMAGE SERVICE: sha256 of /SERVICE inside the image
	local c
	c=$(docker create "$1")
	docker cp "$c:/$2" "$work/bin-$2-$(tr -c 'a-z0-9' _ <<<"$1")" >/dev/null
	docker rm "$c" >/dev/null
	sha256sum "$work/bin-$2-$(tr -c 'a-z0-9' _ <<<"$1")" | cut -c1-16
}

printf '\n%-9s %-14s %-14s %-9s %-18s %-18s\n' service "image ID a" "image ID b" "layers" "binary a" "binary b"
for s in "${services[@]}"; do
	a=voting-app/$s:repro-a b=voting-app/$s:repro-b
	ida=$(docker image inspect -f '{{.Id}}' "$a" | cut -c8-19)
	idb=$(docker image inspect -f '{{.Id}}' "$b" | cut -c8-19)
	la=$(docker image inspect -f '{{json .RootFS.Layers}}' "$a")
	lb=$(docker image inspect -f '{{json .RootFS.Layers}}' "$b")
	same_layers=$([[ $la == "$lb" ]] && echo same || echo differ)
	printf '%-9s %-14s %-14s %-9s %-18s %-18s\n' "$s" "$ida" "$idb" "$same_layers" "$(binary_sum "$a" "$s")" "$(binary_sum "$b" "$s")"
done
echo
echo "what differs between the two images of vote (docker image inspect):"
diff <(docker image inspect -f '{{.Created}} {{json .RootFS.Layers}}' voting-app/vote:repro-a | tr ',' '\n') \
	<(docker image inspect -f '{{.Created}} {{json .RootFS.Layers}}' voting-app/vote:repro-b | tr ',' '\n') || true

echo
echo "== go build outside Docker, twice, each with an empty GOCACHE (-trimpath -buildvcs=false)"
printf '%-9s %-18s %-18s %-18s\n' service "build 1" "build 2" "in the image"
for s in "${services[@]}"; do
	sums=()
	for i in 1 2; do
		(cd "$work/src/$s" && GOWORK=off CGO_ENABLED=0 GOFLAGS= GOCACHE="$work/gocache-$s-$i" go build -trimpath -buildvcs=false \
			-tags nethttpomithttp2 \
			-ldflags "-s -w -X github.com/go-voting-app/voting-app/platform/buildinfo.Version=$VERSION -X github.com/go-voting-app/voting-app/platform/buildinfo.Revision=$REVISION" \
			-o "$work/local-$s-$i" .)
		sums+=("$(sha256sum "$work/local-$s-$i" | cut -c1-16)")
		rm -rf "$work/gocache-$s-$i"
	done
	printf '%-9s %-18s %-18s %-18s\n' "$s" "${sums[0]}" "${sums[1]}" "$(binary_sum "voting-app/$s:repro-a" "$s")"
done
