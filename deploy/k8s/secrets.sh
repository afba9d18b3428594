#!/usr/bin/env bash
# deploy/k8s/secrets.sh — write the secret files an overlay's secretGenerator reads.
#
#   deploy/k8s/secrets.sh dev|prod       files in deploy/k8s/overlays/<overlay>/secrets/
#
# (The overlay "managed" builds on prod and uses prod's files.)
#
# The same files, the same rules as for compose (deploy/compose/secrets.sh does the work): random
# passwords made once and never overwritten, the Redis ACL derived from them, an empty key for
# the analyzer's model endpoint. The files are ignored by git; never commit them. kustomize puts
# them into Secrets when the overlay is built (kubectl apply -k), and each pod gets only its own.
#
# Keep the files (or a copy in your secret store): the database and Redis volumes are initialised
# with these passwords, and a new file with a new password locks the services out of them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
overlay=${1:-}
if [[ -z $overlay || ! -f $here/overlays/$overlay/kustomization.yaml ]]; then
	echo "usage: $0 OVERLAY   (one of: $(cd "$here/overlays" && echo *))" >&2
	exit 2
fi
if ! grep -q '^secretGenerator:' "$here/overlays/$overlay/kustomization.yaml"; then
	echo "$0: overlay $overlay generates no Secrets; it uses those of the overlay it builds on" >&2
	exit 2
fi
"$here/../compose/secrets.sh" "$here/overlays/$overlay/secrets"
