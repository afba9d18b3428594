#!/usr/bin/env bash
# deploy/release/tools.sh — build the release tools from the Go module proxy with the host's Go:
#
#   registry   CNCF distribution, the OCI registry           (github.com/distribution/distribution/v3)
#   buildkitd  a current BuildKit daemon                     (github.com/moby/buildkit)
#   syft       the SBOM generator the scanner image runs     (github.com/anchore/syft)
#   cosign     signs and verifies images with a key pair     (github.com/sigstore/cosign/v2)
#
#   deploy/release/tools.sh [NAME...]     (default: all four)
#
# Binaries land in $RELEASE_TOOLS_DIR (default ~/.cache/voting-app/release-tools) as NAME-VERSION.
# A binary is rebuilt only when it is missing or its stamp (NAME-VERSION.stamp: the Go version and
# module@version it was built from) differs. All four share the host's module and build caches,
# so later builds reuse what earlier ones compiled.
set -euo pipefail
# shellcheck source=deploy/release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stamp MODULE VERSION: what a binary is built from.
stamp() { printf '%s %s@%s\n' "$("$GO" env GOVERSION)" "$1" "$2"; }

# built_with BIN MODULE VERSION: whether BIN exists and was built by this Go from MODULE@VERSION.
built_with() { [[ -x $1 && -f $1.stamp && $(cat "$1.stamp") == "$(stamp "$2" "$3")" ]]; }

# main_module_dir MODULE VERSION: a writable copy of the module, for modules whose go.mod has
# exclude or replace directives (`go install module@version` refuses those; building the module
# as the main module is the supported way).
main_module_dir() {
	local json dir
	json=$(cd "$WORK" && GOFLAGS='' GOWORK=off "$GO" mod download -json "$1@$2")
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json" | head -n1)
	[[ -n $dir && -d $dir ]] || die "go mod download $1@$2: $json"
	rm -rf "$WORK/src-${1##*/}"
	cp -r "$dir" "$WORK/src-${1##*/}"
	chmod -R u+w "$WORK/src-${1##*/}"
	printf '%s' "$WORK/src-${1##*/}"
}

export CGO_ENABLED=0 GOWORK=off GOFLAGS=''

build_registry() {
	GOBIN=$WORK/bin "$GO" install -trimpath \
		-ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$REGISTRY_VERSION" \
		"github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
	mv "$WORK/bin/registry" "$1"
}

build_buildkitd() {
	local src
	src=$(main_module_dir github.com/moby/buildkit "$BUILDKIT_VERSION")
	# The tags of BuildKit's own static build; seccomp is pure Go here (the default profile for RUN).
	(cd "$src" && "$GO" build -mod=mod -trimpath -tags "osusergo netgo static_build seccomp" \
		-ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
		-o "$1" ./cmd/buildkitd)
}

build_syft() {
	GOBIN=$WORK/bin "$GO" install -trimpath -ldflags "-s -w -X main.version=$SYFT_VERSION" \
		"github.com/anchore/syft/cmd/syft@$SYFT_VERSION"
	mv "$WORK/bin/syft" "$1"
}

build_cosign() {
	GOBIN=$WORK/bin "$GO" install -trimpath \
		-ldflags "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION" \
		"github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
	mv "$WORK/bin/cosign" "$1"
}

# tool NAME: the path of a built tool (after ensure_tool).
tool() {
	local v
	case $1 in
	registry) v=$REGISTRY_VERSION ;;
	buildkitd) v=$BUILDKIT_VERSION ;;
	syft) v=$SYFT_VERSION ;;
	cosign) v=$COSIGN_VERSION ;;
	*) die "unknown tool $1" ;;
	esac
	printf '%s/%s-%s' "$TOOLS_DIR" "$1" "$v"
}

ensure_tool() { # NAME MODULE VERSION
	local name=$1 bin
	bin=$(tool "$name")
	T0=$(now)
	if built_with "$bin" "$2" "$3"; then
		ok "$name $3 already built ($bin)"
		timed "tool $name (cached)"
		return
	fi
	info "building $name $3 (log: $LOGS/$name.log)"
	mkdir -p "$TOOLS_DIR"
	run_logged "$name" "build_$name" "$bin.new" || die "building $name failed"
	mv -f "$bin.new" "$bin"
	stamp "$2" "$3" >"$bin.stamp"
	ok "built $bin ($(du -h "$bin" | cut -f1)) in $(elapsed "$T0")"
	timed "tool $name (built)"
}

main() {
	command -v "$GO" >/dev/null || die "Go not found (set GO=/path/to/go)"
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/release-tools.XXXXXX")
	LOGS=$WORK/logs
	mkdir -p "$LOGS" "$WORK/bin"
	trap 'rm -rf "$WORK/bin" "$WORK"/src-*' EXIT
	local names=("$@")
	((${#names[@]})) || names=(registry buildkitd syft cosign)
	step "release tools -> $TOOLS_DIR ($("$GO" env GOVERSION))"
	for n in "${names[@]}"; do
		case $n in
		registry) ensure_tool registry github.com/distribution/distribution/v3 "$REGISTRY_VERSION" ;;
		buildkitd) ensure_tool buildkitd github.com/moby/buildkit "$BUILDKIT_VERSION" ;;
		syft) ensure_tool syft github.com/anchore/syft "$SYFT_VERSION" ;;
		cosign) ensure_tool cosign github.com/sigstore/cosign/v2 "$COSIGN_VERSION" ;;
		*) die "unknown tool $n (registry, buildkitd, syft, cosign)" ;;
		esac
	done
	print_times
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
