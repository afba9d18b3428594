#!/usr/bin/env bash
# deploy/release/build.sh — build, push, attest and sign the service images of the checked-out
# commit with the builder up.sh started (`make release` runs both).
#
#   1. docker buildx bake (docker-bake.hcl): vote, worker, result, analyzer for every release
#      platform, one image index each in the local registry, with an SBOM (syft, through the
#      scanner image) and SLSA provenance (mode=max) attached by BuildKit, timestamps from the
#      commit (SOURCE_DATE_EPOCH, rewrite-timestamp)
#   2. cosign sign: each index signed by digest with the release key pair (made once, in
#      out/release/cosign.key, cosign.pub; its password in cosign.password), offline: no
#      transparency log upload
#   3. out/release/images.env: each image by digest, for compose (VOTE_IMAGE=…) and make audit
#
#   deploy/release/build.sh [--builder NAME] [--out DIR] [--no-sign] [--oci DIR]
#
# --oci DIR writes each index to an OCI layout under DIR instead of pushing it (no signing). The
# reproducibility check (make release-repro) builds that way on a second builder whose caches
# start empty.
set -euo pipefail
# shellcheck source=deploy/release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SIGN=1
OCI_DIR=
while (($#)); do
	case $1 in
	--builder) BUILDER=$2 && shift ;;
	--out) OUT=$2 && shift ;;
	--no-sign) SIGN=0 ;;
	--oci) OCI_DIR=$2 SIGN=0 && shift ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
	shift
done

COSIGN=$TOOLS_DIR/cosign-$COSIGN_VERSION
BASES_ENV=${RELEASE_BASES_ENV:-$ROOT/out/release/bases.env}

# cosign_env: the key pair's password and a scratch TUF root (nothing is fetched offline).
cosign_env() {
	export COSIGN_PASSWORD
	COSIGN_PASSWORD=$(cat "$KEYS/cosign.password")
	export TUF_ROOT=$WORK/tuf COSIGN_EXPERIMENTAL=0
}

ensure_keys() {
	KEYS=${RELEASE_KEYS:-$ROOT/out/release}
	mkdir -p "$KEYS"
	if [[ -f $KEYS/cosign.key && -f $KEYS/cosign.pub && -f $KEYS/cosign.password ]]; then
		return
	fi
	info "making the signing key pair in $KEYS (cosign generate-key-pair)"
	(umask 077 && head -c 32 /dev/urandom | base64 >"$KEYS/cosign.password")
	cosign_env
	(cd "$KEYS" && "$COSIGN" generate-key-pair >/dev/null 2>&1) || die "cosign generate-key-pair failed"
	chmod 0600 "$KEYS/cosign.key"
}

main() {
	[[ -f $BASES_ENV ]] || die "$BASES_ENV missing: run deploy/release/up.sh (make release-up) first"
	# shellcheck disable=SC1090
	set -a && source "$BASES_ENV" && set +a
	registry_up || die "no registry at http://$REGISTRY/v2/: run make release-up"
	[[ -x $COSIGN ]] || ((!SIGN)) || die "$COSIGN missing: run make release-up"
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/release-build.XXXXXX")
	LOGS=$WORK/logs
	mkdir -p "$LOGS" "$OUT"
	trap 'rm -rf "$WORK/tuf"' EXIT
	source_facts
	[[ -z $(git -C "$ROOT" status --porcelain --untracked-files=no -- vote worker result analyzer platform) ]] ||
		info "note: the work tree has uncommitted changes to the services; the release is labelled $VERSION"

	step "bake vote, worker, result, analyzer for $RELEASE_PLATFORMS on $BUILDER (revision $REVISION, epoch $SOURCE_DATE_EPOCH)"
	T0=$(now)
	[[ -z $OCI_DIR ]] || { rm -rf "$OCI_DIR" && mkdir -p "$OCI_DIR"; }
	(cd "$ROOT" && OCI_DIR=$OCI_DIR TAG=$VERSION VERSION=$VERSION REVISION=$REVISION CREATED=$CREATED SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH \
		docker buildx bake --builder "$BUILDER" --file deploy/release/docker-bake.hcl \
		--metadata-file "$WORK/bake.json" --progress plain) >"$LOGS/bake.log" 2>&1 || {
		tail -n 60 "$LOGS/bake.log" >&2
		die "the release build failed (log: $LOGS/bake.log)"
	}
	ok "built and pushed in $(elapsed "$T0") (log: $LOGS/bake.log)"
	timed "bake (build, SBOM, provenance, push)"

	local svc digest ref
	declare -A refs
	for svc in vote worker result analyzer; do
		# The metadata file is indented JSON: a target per top-level key, its digest one level in.
		digest=$(awk -v t="$svc" '/^  "[^"]*": \{/ { cur = $1; gsub(/[":]/, "", cur) }
			cur == t && /^    "containerimage.digest":/ { gsub(/[",]/, "", $2); print $2 }' "$WORK/bake.json")
		[[ -n $digest ]] || die "no digest for $svc in the bake metadata ($WORK/bake.json)"
		refs[$svc]=$REGISTRY/voting-app/$svc:$VERSION@$digest
		[[ -z $OCI_DIR ]] || refs[$svc]=oci:$OCI_DIR/$svc@$digest
		info "$svc ${refs[$svc]}"
	done

	if ((SIGN)); then
		step "sign with cosign $COSIGN_VERSION (key $OUT/cosign.pub; offline, no transparency log)"
		T0=$(now)
		ensure_keys
		cosign_env
		for svc in vote worker result analyzer; do
			run_logged "sign-$svc" "$COSIGN" sign --yes --key "$KEYS/cosign.key" --tlog-upload=false \
				--allow-insecure-registry --allow-http-registry "${refs[$svc]}" || die "signing $svc failed"
		done
		ok "signed in $(elapsed "$T0")"
		timed "sign"
	fi

	{
		printf '# Written by deploy/release/build.sh: the release of %s, each image index by digest.\n' "$REVISION_FULL"
		printf '# Deploy with make release-deploy (verifies the signatures first); audit with make audit.\n'
		printf 'RELEASE_REVISION=%s\nRELEASE_VERSION=%s\nRELEASE_PLATFORMS=%s\n' "$REVISION_FULL" "$VERSION" "$RELEASE_PLATFORMS"
		for svc in vote worker result analyzer; do
			printf '%s_IMAGE=%s\n' "${svc^^}" "${refs[$svc]}"
		done
	} >"$OUT/images.env"
	ok "wrote $OUT/images.env"
	print_times
}

main "$@"
