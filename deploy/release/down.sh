#!/usr/bin/env bash
# deploy/release/down.sh — stop what up.sh started: the buildx builder, the buildkitd and registry
# containers. The registry's images stay in its volume for the next up.sh, and buildkitd's cache
# in its own; --volumes deletes both volumes too. Images and tools built by up.sh are kept.
#
#   deploy/release/down.sh [--volumes]
set -euo pipefail
# shellcheck source=deploy/release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

volumes=0
case ${1-} in
--volumes) volumes=1 ;;
"") ;;
*) die "usage: deploy/release/down.sh [--volumes]" ;;
esac
docker buildx rm "$BUILDER" >/dev/null 2>&1 && ok "removed builder $BUILDER" || true
for c in "$BUILDKIT_CONTAINER" "$REGISTRY_CONTAINER"; do
	docker rm -f "$c" >/dev/null 2>&1 && ok "removed container $c" || true
done
rm -rf "$BUILDKIT_RUN"
if ((volumes)); then
	for v in "$BUILDKIT_VOLUME" "$REGISTRY_VOLUME"; do
		docker volume rm "$v" >/dev/null 2>&1 && ok "removed volume $v" || true
	done
else
	info "kept the volumes $REGISTRY_VOLUME and $BUILDKIT_VOLUME (--volumes deletes them)"
fi
