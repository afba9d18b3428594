# deploy/release/lib.sh — shared by the release scripts (sourced, not run).
# shellcheck shell=bash
[[ -z ${RELEASE_LIB-} ]] || return 0
RELEASE_LIB=1

RELEASE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$RELEASE_DIR/../.." && pwd)


# Versions of the tools built from the Go module proxy (see README.md for why each).
REGISTRY_VERSION=${REGISTRY_VERSION:-v3.1.2}
BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.34.2}
SYFT_VERSION=${SYFT_VERSION:-v1.57.2}
COSIGN_VERSION=${COSIGN_VERSION:-v2.6.5}

# The local registry: loopback only, a port away from the usual 5000.
REGISTRY_PORT=${REGISTRY_PORT:-5125}
REGISTRY=127.0.0.1:$REGISTRY_PORT
# Containers, volumes and the buildx builder this project starts, all named with one prefix.
PREFIX=${RELEASE_PREFIX:-voting-release}
REGISTRY_CONTAINER=$PREFIX-registry
REGISTRY_VOLUME=$PREFIX-registry-data
BUILDKIT_CONTAINER=$PREFIX-buildkitd
BUILDKIT_VOLUME=$PREFIX-buildkit-state
BUILDER=$PREFIX
# buildkitd's socket, bind-mounted from the host (root only).
BUILDKIT_RUN=${BUILDKIT_RUN:-/run/$PREFIX}
# Built tools, shared by every checkout on this machine.
TOOLS_DIR=${RELEASE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voting-app/release-tools}
# What a release leaves behind for the audit and for deploys: digests, the signing key pair.
OUT=${RELEASE_OUT:-$ROOT/out/release}
GO=${GO:-go}
NS=voting-offline

if [[ -t 1 ]]; then
	C_BOLD=$'\e[1m' C_RED=$'\e[31m' C_GRN=$'\e[32m' C_OFF=$'\e[0m'
else
	C_BOLD='' C_RED='' C_GRN='' C_OFF=''
fi
step() { printf '\n%s==> %s%s\n' "$C_BOLD" "$*" "$C_OFF"; }
info() { printf '    %s\n' "$*"; }
ok() { printf '    %s%s%s\n' "$C_GRN" "$*" "$C_OFF"; }
die() {
	printf '%serror:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2
	exit 1
}

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# elapsed START: seconds since START (from now), as 12.3s or 2m05s.
elapsed() {
	local ms=$((($(now | tr -d .) - ${1/./}) / 1000))
	if ((ms < 60000)); then
		printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
	else
		printf '%dm%02ds' $((ms / 60000)) $((ms % 60000 / 1000))
	fi
}

TIMES=()
# timed NAME: record how long the step that started at T0 took.
timed() { TIMES+=("$(printf '%-44s %s' "$1" "$(elapsed "$T0")")"); }
print_times() {
	printf '\n%s%-44s %s%s\n' "$C_BOLD" "STEP" "TIME" "$C_OFF"
	printf '%s\n' "${TIMES[@]}"
}

# run_logged NAME CMD...: output to $LOGS/NAME.log; on failure, its last lines.
run_logged() {
	local log="$LOGS/$1.log"
	shift
	if ! "$@" >"$log" 2>&1; then
		printf '%s--- last lines of %s ---%s\n' "$C_RED" "$log" "$C_OFF" >&2
		tail -n 40 "$log" >&2
		return 1
	fi
}

image_label() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# registry_up: whether the local registry answers.
registry_up() { curl -fsS -o /dev/null --max-time 2 "http://$REGISTRY/v2/" 2>/dev/null; }

# The commit the release is built from, and its time (SOURCE_DATE_EPOCH).
source_facts() {
	REVISION_FULL=$(git -C "$ROOT" rev-parse HEAD)
	REVISION=${REVISION_FULL:0:12}
	VERSION=${VERSION:-$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo "$REVISION")}
	SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct)
	# As the Makefile stamps it, so a release and `make images` label an image alike.
	CREATED=$(git -C "$ROOT" log -1 --format=%cI)
	export REVISION_FULL REVISION VERSION SOURCE_DATE_EPOCH CREATED
}
