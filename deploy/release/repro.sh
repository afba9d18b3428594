#!/usr/bin/env bash
# deploy/release/repro.sh — is the release reproducible? Builds the checked-out commit a second
# time on a second buildkitd whose state starts empty (no layer cache, no Go module or build
# cache), into OCI layouts under out/release/repro (the registry is left alone), and compares
# every digest with the release in out/release (audit repro): each platform's image manifest,
# config and layers, and its SBOM. The second builder and its volume are removed afterwards.
#
#   deploy/release/repro.sh        (make release-repro; needs make release first)
set -euo pipefail
# shellcheck source=deploy/release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -f $OUT/images.env && -f $OUT/bases.env ]] || die "no release in $OUT: run make release first"

# The second builder: the same image and flags as up.sh's, its own names and an empty volume.
export RELEASE_PREFIX=$PREFIX-repro BUILDKIT_RUN=/run/$PREFIX-repro
# shellcheck source=deploy/release/up.sh
RELEASE_LIB='' source "$RELEASE_DIR/up.sh"
OFFLINE=${OFFLINE:-1}
BUILDKIT_IMAGE=$(docker inspect -f '{{.Config.Image}}' "${PREFIX%-repro}-buildkitd") ||
	die "the release builder is not running: run make release-up"
WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/release-repro.XXXXXX")
LOGS=$WORK/logs
mkdir -p "$LOGS"
cleanup() {
	docker buildx rm "$BUILDER" >/dev/null 2>&1 || true
	docker rm -f "$BUILDKIT_CONTAINER" >/dev/null 2>&1 || true
	docker volume rm "$BUILDKIT_VOLUME" >/dev/null 2>&1 || true
	rm -rf "$BUILDKIT_RUN"
}
trap cleanup EXIT
cleanup
ensure_builder
source_facts
T0=$(now)
"$RELEASE_DIR/build.sh" --builder "$BUILDER" --out "$OUT/repro" --oci "$OUT/repro/oci"
timed "second build, empty caches"
print_times
cd "$ROOT"
GOWORK=off "$GO" build -C audit -o ../bin/audit . && bin/audit repro -a "${OUT#"$ROOT"/}" -b "${OUT#"$ROOT"/}/repro"
