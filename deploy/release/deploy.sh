#!/usr/bin/env bash
# deploy/release/deploy.sh — start the released images with compose, after cosign verified that
# every one of them is signed with the release key: an unsigned or changed image stops the deploy
# before anything starts.
#
#   deploy/release/deploy.sh [COMPOSE ARGS...]     (default: up --detach --wait --no-build)
#
# Compose gets the stand-in env file (offline), out/release/bases.env and out/release/images.env,
# so every image is named by digest; extra arguments go to `docker compose` (e.g. -p NAME, or
# down). The engine pulls the images from the local registry.
set -euo pipefail
# shellcheck source=deploy/release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES_ENV=${RELEASE_IMAGES_ENV:-$OUT/images.env}
[[ -f $IMAGES_ENV && -f $OUT/bases.env ]] || die "no release in $OUT: run make release"
COSIGN=$TOOLS_DIR/cosign-$COSIGN_VERSION
[[ -x $COSIGN ]] || die "$COSIGN missing: run make release-up"
export TUF_ROOT
TUF_ROOT=$(mktemp -d)
trap 'rm -rf "$TUF_ROOT"' EXIT

step "verify the signatures (key $OUT/cosign.pub)"
while IFS='=' read -r key ref; do
	[[ $key == *_IMAGE ]] || continue
	"$COSIGN" verify --key "$OUT/cosign.pub" --insecure-ignore-tlog=true \
		--allow-insecure-registry --allow-http-registry "$ref" >/dev/null 2>"$TUF_ROOT/verify.log" || {
		cat "$TUF_ROOT/verify.log" >&2
		die "$ref: the signature does not verify; not deploying"
	}
	ok "$ref"
done <"$IMAGES_ENV"

env_files=()
getent hosts registry-1.docker.io >/dev/null 2>&1 || env_files+=(--env-file "$ROOT/deploy/compose/offline.env")
env_files+=(--env-file "$OUT/bases.env" --env-file "$IMAGES_ENV")
(($#)) || set -- up --detach --wait --no-build
step "docker compose ${env_files[*]} $*"
cd "$ROOT"
exec docker compose "${env_files[@]}" "$@"
