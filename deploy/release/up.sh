#!/usr/bin/env bash
# deploy/release/up.sh — lift the two limits of an engine without a registry, so releases can be
# multi-platform, attested, signed and pinned: a local OCI registry and a current BuildKit.
# Idempotent: a second run checks each part and changes nothing that is in place.
#
#   1. tools      registry, buildkitd, syft, cosign from the Go module proxy (tools.sh)
#   2. images     the stand-ins voting-offline/registry, voting-offline/buildkit and
#                 voting-offline/sbom-scanner (rebuilt only when their inputs change)
#   3. registry   container $PREFIX-registry on 127.0.0.1:$REGISTRY_PORT, data in the volume
#                 $PREFIX-registry-data (kept by down.sh unless --volumes)
#   4. builder    container $PREFIX-buildkitd and the buildx builder $PREFIX (remote driver)
#   5. bases      the stand-in bases pushed to the registry: debian and golang as built here, the
#                 static runtime assembled for every release platform by the new builder; their
#                 digests written to out/release/bases.env
#
# Why not `docker buildx create --driver docker-container`: buildx always starts that container
# privileged, and on an engine whose host lacks CAP_SYS_RESOURCE in its bounding set (this one)
# every privileged container fails ("unable to apply caps: operation not permitted"). So this
# script runs buildkitd itself with every capability but that one and attaches buildx to its
# socket with the remote driver: the same BuildKit, the same builder commands.
#
# With a registry reachable (OFFLINE=0), the upstream images registry:3 and moby/buildkit are
# used instead of the stand-ins and the upstream bases are pinned by their registry digests.
#
# Environment: REGISTRY_PORT (5125), RELEASE_PLATFORMS (linux/amd64,linux/arm64), OFFLINE,
# RELEASE_TOOLS_DIR, RELEASE_PREFIX (voting-release).
set -euo pipefail
# shellcheck source=deploy/release/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=deploy/release/tools.sh
source "$RELEASE_DIR/tools.sh"

PLATFORMS=${RELEASE_PLATFORMS:-linux/amd64,linux/arm64}
OFFLINE=${OFFLINE:-$(getent hosts registry-1.docker.io >/dev/null 2>&1 && echo 0 || echo 1)}
SCRIPT_SUM=$(cat "$RELEASE_DIR/up.sh" "$RELEASE_DIR/lib.sh" | sha256sum | cut -c1-16)

# ---------------------------------------------------------------- stand-in images
# inputs_hash DIR EXTRA...: what a stand-in image is built from.
inputs_hash() {
	local dir=$1
	shift
	{
		printf '%s\n' "$SCRIPT_SUM" "$@"
		(cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -c1-32
}

# ensure_image NAME IMAGE HASH FILES...: build deploy/release/images/NAME as IMAGE with FILES
# (binaries) added to its context, unless an image with that inputs hash exists.
ensure_image() {
	local name=$1 image=$2 hash=$3
	shift 3
	T0=$(now)
	if [[ $(image_label "$image" voting-release.inputs) == "$hash" ]]; then
		ok "$image is up to date"
		timed "image $name (up to date)"
		return
	fi
	local ctx=$WORK/ctx-$name
	rm -rf "$ctx" && mkdir -p "$ctx"
	cp -r "$RELEASE_DIR/images/$name/." "$ctx/"
	local f
	for f in "$@"; do cp "$f" "$ctx/$(basename "${f%%-v[0-9]*}")"; done
	info "building $image (log: $LOGS/image-$name.log)"
	run_logged "image-$name" docker build --tag "$image" \
		--label "voting-release.inputs=$hash" \
		--label "org.opencontainers.image.description=Local stand-in built by deploy/release/up.sh from Go module proxy sources and Debian packages. Not the upstream image." \
		"$ctx" || die "building $image failed"
	ok "built $image in $(elapsed "$T0")"
	timed "image $name (built)"
}

build_sbomscan() { # OUT
	(cd "$RELEASE_DIR/sbomscan" && CGO_ENABLED=0 GOWORK=off "$GO" build -trimpath -ldflags "-s -w" -o "$1" .)
}

ensure_images() {
	step "images"
	if [[ $OFFLINE == 0 ]]; then
		REGISTRY_IMAGE=registry:3
		BUILDKIT_IMAGE=moby/buildkit:$BUILDKIT_VERSION
		info "a registry is reachable: using $REGISTRY_IMAGE and $BUILDKIT_IMAGE"
	else
		docker image inspect "$NS/static:nonroot" "$NS/debian:bookworm" >/dev/null 2>&1 ||
			die "the stand-in bases are missing: run make bases (deploy/offline/bases.sh) first"
		REGISTRY_IMAGE=$NS/registry:${REGISTRY_VERSION#v}
		BUILDKIT_IMAGE=$NS/buildkit:${BUILDKIT_VERSION#v}
		ensure_image registry "$REGISTRY_IMAGE" \
			"$(inputs_hash "$RELEASE_DIR/images/registry" "$(cat "$(tool registry).stamp")" "$(docker image inspect -f '{{.Id}}' "$NS/static:nonroot")")" \
			"$(tool registry)"
		ensure_image buildkit "$BUILDKIT_IMAGE" \
			"$(inputs_hash "$RELEASE_DIR/images/buildkit" "$(cat "$(tool buildkitd).stamp")" "$(docker image inspect -f '{{.Id}}' "$NS/debian:bookworm")")" \
			"$(tool buildkitd)"
	fi
	# The scanner is ours in both cases: it makes the SBOM reproducible (see sbomscan/main.go).
	SCANNER_IMAGE=$NS/sbom-scanner:${SYFT_VERSION#v}
	local src_sum
	src_sum=$(cd "$RELEASE_DIR/sbomscan" && cat go.mod ./*.go | sha256sum | cut -c1-16)
	local hash
	hash=$(inputs_hash "$RELEASE_DIR/images/sbom-scanner" "$(cat "$(tool syft).stamp")" "sbomscan $src_sum" \
		"$(docker image inspect -f '{{.Id}}' "$NS/static:nonroot" 2>/dev/null)")
	if [[ $(image_label "$SCANNER_IMAGE" voting-release.inputs) != "$hash" ]]; then
		build_sbomscan "$WORK/sbomscan" || die "building sbomscan failed"
	fi
	ensure_image sbom-scanner "$SCANNER_IMAGE" "$hash" "$(tool syft)" "$WORK/sbomscan"
}

# ---------------------------------------------------------------- containers
# container_current NAME IMAGE: whether NAME runs from IMAGE's current ID.
container_current() {
	[[ $(docker inspect -f '{{.State.Running}} {{.Image}}' "$1" 2>/dev/null) == "true $(docker image inspect -f '{{.Id}}' "$2" 2>/dev/null)" ]]
}

ensure_registry() {
	step "registry $REGISTRY ($REGISTRY_CONTAINER, volume $REGISTRY_VOLUME)"
	T0=$(now)
	if container_current "$REGISTRY_CONTAINER" "$REGISTRY_IMAGE" && registry_up; then
		ok "running"
		timed "registry (running)"
		return
	fi
	docker rm -f "$REGISTRY_CONTAINER" >/dev/null 2>&1 || true
	local -a mount=()
	# The upstream image keeps its own config; the stand-in has the same file at the same path.
	[[ $OFFLINE == 0 ]] && mount=(-v "$RELEASE_DIR/images/registry/config.yml:/etc/distribution/config.yml:ro")
	docker run --detach --name "$REGISTRY_CONTAINER" --restart unless-stopped \
		--publish "$REGISTRY:5000" --volume "$REGISTRY_VOLUME:/var/lib/registry" "${mount[@]}" \
		--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges:true \
		--label "voting-release=registry" "$REGISTRY_IMAGE" >/dev/null
	local i
	for ((i = 0; i < 50; i++)); do
		registry_up && break
		sleep 0.2
	done
	registry_up || die "the registry did not answer on http://$REGISTRY/v2/ (docker logs $REGISTRY_CONTAINER)"
	ok "started in $(elapsed "$T0")"
	timed "registry (started)"
}

buildkit_config() {
	# The local registry speaks plain HTTP on loopback.
	printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$REGISTRY"
	# Two steps at a time: from empty caches, eight concurrent `go build`s (four services, two
	# platforms) would each compile the same modules at once; two at a time, the first build of each
	# platform fills the build cache the others then reuse.
	printf '[worker.oci]\n  gc = true\n  gckeepstorage = "20GB"\n  max-parallelism = %d\n' "${BUILDKIT_PARALLELISM:-2}"
}

ensure_builder() {
	step "builder $BUILDER (buildkitd $BUILDKIT_VERSION in $BUILDKIT_CONTAINER, socket $BUILDKIT_RUN/buildkitd.sock)"
	T0=$(now)
	mkdir -p "$BUILDKIT_RUN"
	chmod 0700 "$BUILDKIT_RUN"
	local config
	config=$(buildkit_config)
	if container_current "$BUILDKIT_CONTAINER" "$BUILDKIT_IMAGE" && [[ -S $BUILDKIT_RUN/buildkitd.sock ]] &&
		[[ $(cat "$BUILDKIT_RUN/buildkitd.toml" 2>/dev/null) == "$config" ]]; then
		ok "buildkitd running"
	else
		docker rm -f "$BUILDKIT_CONTAINER" >/dev/null 2>&1 || true
		rm -f "$BUILDKIT_RUN/buildkitd.sock"
		printf '%s\n' "$config" >"$BUILDKIT_RUN/buildkitd.toml"
		local -a extra=()
		[[ -e /dev/fuse ]] && extra+=(--device /dev/fuse)
		[[ $OFFLINE == 0 ]] && extra+=(-v "$RELEASE_DIR/images/buildkit/entrypoint.sh:/usr/local/bin/buildkitd-entrypoint:ro"
			--entrypoint /usr/local/bin/buildkitd-entrypoint)
		# Everything a privileged container would have except CAP_SYS_RESOURCE (see the top).
		# Host network: buildkitd reaches the registry on 127.0.0.1 and the Go module proxy as
		# the host does; it listens on the socket only.
		docker run --detach --name "$BUILDKIT_CONTAINER" --restart unless-stopped \
			--network host --cap-add ALL --cap-drop SYS_RESOURCE \
			--security-opt seccomp=unconfined --security-opt apparmor=unconfined \
			--security-opt systempaths=unconfined "${extra[@]}" \
			--volume "$BUILDKIT_VOLUME:/var/lib/buildkit" --volume "$BUILDKIT_RUN:/run/buildkit" \
			--label "voting-release=buildkitd" "$BUILDKIT_IMAGE" \
			--addr unix:///run/buildkit/buildkitd.sock --config /run/buildkit/buildkitd.toml >/dev/null
		local i
		for ((i = 0; i < 100; i++)); do
			[[ -S $BUILDKIT_RUN/buildkitd.sock ]] && break
			sleep 0.2
		done
		[[ -S $BUILDKIT_RUN/buildkitd.sock ]] || {
			docker logs --tail 30 "$BUILDKIT_CONTAINER" >&2 || true
			die "buildkitd did not open its socket"
		}
		ok "buildkitd started"
	fi
	if ! docker buildx inspect "$BUILDER" >/dev/null 2>&1; then
		docker buildx create --name "$BUILDER" --driver remote "unix://$BUILDKIT_RUN/buildkitd.sock" >/dev/null
	fi
	local v
	v=$(docker buildx inspect --bootstrap "$BUILDER" 2>&1 | sed -n 's/^BuildKit version: *//p' | head -n1)
	[[ $v == "$BUILDKIT_VERSION" ]] || die "builder $BUILDER reports BuildKit '${v}', want $BUILDKIT_VERSION (docker buildx inspect $BUILDER)"
	ok "builder $BUILDER: BuildKit $v"
	timed "builder"
}

# ---------------------------------------------------------------- bases in the registry
# push_engine_image IMAGE: the engine's IMAGE pushed as $REGISTRY/IMAGE; prints name@digest.
push_engine_image() {
	local target=$REGISTRY/$1 digest
	docker tag "$1" "$target"
	docker push --quiet "$target" >/dev/null || die "docker push $target failed"
	digest=$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$target" | grep -F "$REGISTRY/${1%:*}@" | head -n1)
	[[ -n $digest ]] || die "no digest for $target after the push"
	printf '%s' "${target}@${digest#*@}"
}

# remote_digest REF: the digest the registry serves for REF.
remote_digest() {
	docker buildx imagetools inspect --builder "$BUILDER" --format '{{json .Manifest}}' "$1" |
		sed -n 's/.*"digest":"\(sha256:[0-9a-f]\{64\}\)".*/\1/p' | head -n1
}

ensure_bases() {
	step "bases in $REGISTRY (pinned by digest in $OUT/bases.env)"
	T0=$(now)
	mkdir -p "$OUT"
	local go_image static_image postgres_image redis_image scanner
	if [[ $OFFLINE == 0 ]]; then
		go_image=golang:1.26.8-trixie static_image=gcr.io/distroless/static-debian13:nonroot
		go_image=$go_image@$(remote_digest "$go_image")
		static_image=$static_image@$(remote_digest "$static_image")
		postgres_image=postgres:17@$(remote_digest postgres:17)
		redis_image=redis:7.4@$(remote_digest redis:7.4)
	else
		local debian
		debian=$(push_engine_image "$NS/debian:bookworm")
		go_image=$(push_engine_image "$NS/golang:$("$GO" env GOVERSION | sed 's/^go//; s/ .*//')")
		postgres_image=$(push_engine_image "$NS/postgres:15")
		redis_image=$(push_engine_image "$NS/redis:7.0")
		# The runtime for every release platform, from the same Dockerfile bases.sh uses; its
		# files carry the commit time of the static directory, so a rebuild gives the same digest.
		local epoch
		epoch=$(git -C "$ROOT" log -1 --format=%ct -- deploy/offline/static 2>/dev/null || echo 0)
		info "assembling $NS/static:nonroot for $PLATFORMS (log: $LOGS/static.log)"
		run_logged static docker buildx build --builder "$BUILDER" --platform "$PLATFORMS" \
			--build-arg "DEBIAN_IMAGE=$debian" --build-arg "SOURCE_DATE_EPOCH=${epoch:-0}" \
			--provenance=false --sbom=false \
			--output "type=image,name=$REGISTRY/$NS/static:nonroot,push=true,rewrite-timestamp=true,oci-mediatypes=true" \
			--metadata-file "$WORK/static.json" "$ROOT/deploy/offline/static" || die "building the static runtime failed"
		static_image=$REGISTRY/$NS/static:nonroot@$(sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' "$WORK/static.json")
	fi
	scanner=$(push_engine_image "$SCANNER_IMAGE")
	cat >"$OUT/bases.env.new" <<-EOF
		# Written by deploy/release/up.sh: every base image by digest, in the local registry.
		# Use with: docker compose --env-file deploy/compose/offline.env --env-file out/release/bases.env ...
		GO_IMAGE=$go_image
		RUNTIME_IMAGE=$static_image
		POSTGRES_IMAGE=$postgres_image
		REDIS_IMAGE=$redis_image
		SBOM_SCANNER=$scanner
		REGISTRY=$REGISTRY
		RELEASE_PLATFORMS=$PLATFORMS
	EOF
	mv "$OUT/bases.env.new" "$OUT/bases.env"
	sed -n 's/^\([A-Z_]*_IMAGE\|SBOM_SCANNER\)=/    &/p' "$OUT/bases.env"
	timed "bases pushed"
}

main() {
	WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/release-up.XXXXXX")
	LOGS=$WORK/logs
	mkdir -p "$LOGS" "$WORK/bin"
	trap 'rm -rf "$WORK"/ctx-* "$WORK/bin" "$WORK"/src-*' EXIT
	local start
	start=$(now)
	command -v docker >/dev/null || die "docker not found"
	docker buildx version >/dev/null 2>&1 || die "the buildx plugin is missing: run make bases"
	step "release tools -> $TOOLS_DIR"
	local n
	for n in registry buildkitd syft cosign; do
		case $n in
		registry) [[ $OFFLINE == 0 ]] || ensure_tool registry github.com/distribution/distribution/v3 "$REGISTRY_VERSION" ;;
		buildkitd) [[ $OFFLINE == 0 ]] || ensure_tool buildkitd github.com/moby/buildkit "$BUILDKIT_VERSION" ;;
		syft) ensure_tool syft github.com/anchore/syft "$SYFT_VERSION" ;;
		cosign) ensure_tool cosign github.com/sigstore/cosign/v2 "$COSIGN_VERSION" ;;
		esac
	done
	ensure_images
	ensure_registry
	ensure_builder
	ensure_bases
	print_times
	printf '\nup in %s (logs: %s)\n' "$(elapsed "$start")" "$LOGS"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
