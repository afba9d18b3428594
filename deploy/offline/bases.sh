#!/usr/bin/env bash
# deploy/offline/bases.sh — make a Docker engine without registry access able to
# build and run this project. See deploy/offline/README.md and --help.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPT_PATH="$SCRIPT_DIR/$(basename "${BASH_SOURCE[0]}")"
readonly SCRIPT_DIR SCRIPT_PATH

BUILDX_VERSION=${BUILDX_VERSION:-v0.36.1}
COMPOSE_VERSION=${COMPOSE_VERSION:-v2.40.3}
PLUGINS_DIR=${DOCKER_CLI_PLUGINS_DIR:-/usr/local/lib/docker/cli-plugins}
GO=${GO:-go}
EXTRA_CA_CERTS=${EXTRA_CA_CERTS:-/usr/local/share/ca-certificates}
readonly SUITE=bookworm
readonly NS=voting-offline
readonly ALL_STEPS="plugins debian golang static postgres redis prometheus"

usage() {
	cat <<EOF
Usage: deploy/offline/bases.sh [options]

Prepares a Docker engine that cannot pull images (no registry) to build and run
this project, using only a Debian package mirror and the Go module proxy:

  plugins   docker-buildx $BUILDX_VERSION and docker-compose $COMPOSE_VERSION, built with the
            host's Go from the Go module proxy, installed into
            \$DOCKER_CLI_PLUGINS_DIR (now: $PLUGINS_DIR)
  debian    $NS/debian:$SUITE       debootstrap minbase root filesystem
  golang    $NS/golang:<host Go>   Go builder (toolchain from the module proxy)
  static    $NS/static:nonroot      distroless-static-like runtime (also :latest)
  postgres  $NS/postgres:15         PostgreSQL 15, upstream-compatible entrypoint
  redis     $NS/redis:7.0           Redis 7.0, upstream-compatible entrypoint
  prometheus $NS/prometheus:2.42    Prometheus 2.42 and promtool (compose profile monitoring)

Idempotent: a plugin whose installed version matches is left alone; an image
is rebuilt only when it is missing, when its recorded inputs (this script, its
build directory, mirror, Go version) changed, or when its base image changed.

Options:
  --force          rebuild the selected images without the build cache and
                   reinstall the plugins
  --only LIST      comma-separated subset of: ${ALL_STEPS// /,}
                   (images built on $NS/debian also ensure that one exists)
  --skip-plugins   same as --only with every step except plugins
  --keep-workdir   keep the temporary work directory (root filesystem, logs)
  -v, --verbose    stream build output instead of writing it to log files
  -h, --help       show this help

Environment:
  DOCKER_CLI_PLUGINS_DIR  where to install the CLI plugins ($PLUGINS_DIR)
  BUILDX_VERSION, COMPOSE_VERSION   plugin versions ($BUILDX_VERSION, $COMPOSE_VERSION)
  DEBIAN_MIRROR           Debian mirror URI (default: taken from the host's apt sources)
  DEBIAN_SECURITY_MIRROR  security mirror URI (default: from the host's apt
                          sources; "none" leaves security updates out)
  EXTRA_CA_CERTS          colon-separated CA certificate files or directories (*.crt)
                          the Go builder image trusts in addition to Debian's bundle,
                          e.g. for a TLS-inspecting proxy in front of the Go module
                          proxy (default: /usr/local/share/ca-certificates, the host's
                          locally added CAs; "none" adds nothing). The static runtime
                          never gets them.
  GO                      the go command to use (default: go)
  TMPDIR                  where the work directory is created (default /var/tmp)

Run as root (debootstrap, apt-get, chroot). Needs: docker, go, apt-get.
EOF
}

# ---------------------------------------------------------------- output helpers
if [[ -t 1 ]]; then
	C_BOLD=$'\e[1m' C_RED=$'\e[31m' C_YEL=$'\e[33m' C_GRN=$'\e[32m' C_OFF=$'\e[0m'
else
	C_BOLD='' C_RED='' C_YEL='' C_GRN='' C_OFF=''
fi
step() { printf '\n%s==> %s%s\n' "$C_BOLD" "$*" "$C_OFF"; }
info() { printf '    %s\n' "$*"; }
ok() { printf '    %s%s%s\n' "$C_GRN" "$*" "$C_OFF"; }
warn() { printf '%swarning:%s %s\n' "$C_YEL" "$C_OFF" "$*" >&2; }
die() {
	printf '%serror:%s %s\n' "$C_RED" "$C_OFF" "$*" >&2
	exit 1
}

now() { printf '%s' "${EPOCHREALTIME/,/.}"; }
# elapsed START: seconds since START, formatted (12.3s or 2m05s).
elapsed() {
	local ms=$(( ($(now | tr -d .) - ${1/./}) / 1000 ))
	if ((ms < 60000)); then
		printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
	else
		printf '%dm%02ds' $((ms / 60000)) $((ms % 60000 / 1000))
	fi
}
human_size() {
	local b=$1
	if ((b >= 1073741824)); then
		awk -v b="$b" 'BEGIN { printf "%.2f GiB", b / 1073741824 }'
	elif ((b >= 1048576)); then
		awk -v b="$b" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
	else
		awk -v b="$b" 'BEGIN { printf "%.0f KiB", b / 1024 }'
	fi
}

SUMMARY=()
# record NAME DETAIL STATUS DURATION
record() { SUMMARY+=("$1"$'\x1f'"$2"$'\x1f'"$3"$'\x1f'"$4"); }

print_summary() {
	local row name detail status took
	printf '\n%s%-34s %-16s %-10s %s%s\n' "$C_BOLD" "IMAGE / PLUGIN" "SIZE / VERSION" "STATUS" "TIME" "$C_OFF"
	for row in "${SUMMARY[@]}"; do
		IFS=$'\x1f' read -r name detail status took <<<"$row"
		printf '%-34s %-16s %-10s %s\n' "$name" "$detail" "$status" "$took"
	done
}

# ---------------------------------------------------------------- arguments
FORCE=0 VERBOSE=0 KEEP=0 ONLY=$ALL_STEPS
while (($#)); do
	case $1 in
	--force) FORCE=1 ;;
	--only)
		[[ $# -ge 2 ]] || die "--only needs a list"
		ONLY=${2//,/ }
		shift
		;;
	--only=*) ONLY=${1#--only=} ONLY=${ONLY//,/ } ;;
	--skip-plugins) ONLY=${ONLY/plugins/} ;;
	--keep-workdir) KEEP=1 ;;
	-v | --verbose) VERBOSE=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done
for s in $ONLY; do
	[[ " $ALL_STEPS " == *" $s "* ]] || die "unknown step in --only: $s (valid: ${ALL_STEPS// /,})"
done
wanted() { [[ " $ONLY " == *" $1 "* ]]; }

# ---------------------------------------------------------------- work dir, lock
WORK=
RC_OK=0
cleanup() {
	local rc=$?
	[[ -n $WORK && -d $WORK ]] || return 0
	# debootstrap mounts /proc etc. inside the target; never leave them behind.
	local m
	while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done < <(awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r)
	if ((KEEP)); then
		info "work directory kept: $WORK"
	elif ((rc != 0 || !RC_OK)); then
		rm -rf "$WORK/rootfs" "$WORK/golang-ctx" "$WORK/compose-src" 2>/dev/null || true
		printf 'logs kept in %s/logs\n' "$WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_root() { [[ $EUID -eq 0 ]] || die "$1 needs root; run this script as root"; }

# run_logged NAME CMD...: run CMD with output to logs/NAME.log (or the terminal
# with --verbose); on failure show the end of the log.
run_logged() {
	local name=$1 log="$WORK/logs/$1.log"
	shift
	if ((VERBOSE)); then
		"$@" 2>&1 | tee "$log"
		return "${PIPESTATUS[0]}"
	fi
	if ! "$@" >"$log" 2>&1; then
		printf '%s--- last lines of %s ---%s\n' "$C_RED" "$log" "$C_OFF" >&2
		tail -n 40 "$log" >&2
		return 1
	fi
}

# ---------------------------------------------------------------- preflight
START=$(now)
command -v docker >/dev/null || die "docker CLI not found"
SERVER_ARCH=$(docker version --format '{{.Server.Arch}}' 2>/dev/null) ||
	die "cannot reach the Docker engine (docker version failed)"
SCRIPT_SUM=$(sha256sum "$SCRIPT_PATH" | cut -d' ' -f1)

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/voting-offline.XXXXXX")
mkdir -p "$WORK/logs" "$WORK/empty"

lockfile=/run/lock/voting-offline-bases.lock
[[ -d /run/lock && -w /run/lock ]] || lockfile="${TMPDIR:-/tmp}/voting-offline-bases.lock"
exec 9>"$lockfile"
if ! flock -n 9; then
	info "another bases.sh run holds $lockfile; waiting for it"
	flock 9
fi

# ---------------------------------------------------------------- plugins
# plugin_version BIN: the version a CLI plugin reports in its metadata.
plugin_version() {
	[[ -x $1 ]] || return 0
	"$1" docker-cli-plugin-metadata 2>/dev/null |
		sed -n 's/^[[:space:]]*"Version":[[:space:]]*"\([^"]*\)".*/\1/p' | head -n1
}

go_json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n1; }

require_go() {
	command -v "$GO" >/dev/null || die "Go not found (set GO=/path/to/go); it is needed to build the plugins and to fetch the Go toolchain"
}

build_buildx() { # OUT
	GOBIN="$WORK/gobin" CGO_ENABLED=0 GOWORK=off "$GO" install -trimpath \
		-ldflags "-s -w -X github.com/docker/buildx/version.Version=$BUILDX_VERSION" \
		"github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION"
	mv "$WORK/gobin/buildx" "$1"
}

build_compose() { # OUT
	local json dir
	json=$(cd "$WORK/empty" && GOFLAGS='' GOWORK=off "$GO" mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION")
	dir=$(go_json_field Dir <<<"$json")
	[[ -n $dir && -d $dir ]] || {
		printf '%s\n' "$json"
		return 1
	}
	rm -rf "$WORK/compose-src"
	cp -r "$dir" "$WORK/compose-src"
	chmod -R u+w "$WORK/compose-src"
	# compose's go.mod has an exclude block, so `go install module@version` is
	# refused; building it as the main module is the supported way.
	(cd "$WORK/compose-src" && CGO_ENABLED=0 GOWORK=off "$GO" build -trimpath \
		-ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
		-o "$1" ./cmd)
}

ensure_plugin() { # NAME VERSION BUILD_FUNCTION
	local name=$1 version=$2 build=$3 target="$PLUGINS_DIR/docker-$1" t0 have
	t0=$(now)
	have=$(plugin_version "$target")
	if [[ $have == "$version" ]] && ((!FORCE)); then
		ok "docker-$name $have already installed in $PLUGINS_DIR"
		record "docker-$name" "$have" skipped "$(elapsed "$t0")"
		return
	fi
	require_go
	mkdir -p "$PLUGINS_DIR" 2>/dev/null || true
	[[ -w $PLUGINS_DIR ]] || die "$PLUGINS_DIR is not writable (run as root or set DOCKER_CLI_PLUGINS_DIR)"
	info "building docker-$name $version with $("$GO" env GOVERSION) (installed: ${have:-none}; log: $WORK/logs/docker-$name.log)"
	run_logged "docker-$name" "$build" "$WORK/docker-$name" || die "building docker-$name failed"
	local built
	built=$(plugin_version "$WORK/docker-$name")
	[[ $built == "$version" ]] || die "built docker-$name reports version '${built}', expected $version"
	# Install atomically: a concurrent docker command sees the old or the new file.
	install -m 0755 "$WORK/docker-$name" "$PLUGINS_DIR/.docker-$name.new"
	mv -f "$PLUGINS_DIR/.docker-$name.new" "$target"
	ok "installed $target ($version)"
	record "docker-$name" "$version" built "$(elapsed "$t0")"
}

# ---------------------------------------------------------------- Debian mirror
# Print "URI SUITE COMPONENTS..." for every enabled deb source of the host.
host_apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '
			{ sub(/#.*/, "") }
			$1 != "deb" { next }
			{ gsub(/\[[^]]*\]/, ""); $0 = $0 }
			NF >= 3 { line = $2; for (i = 3; i <= NF; i++) line = line " " $i; print line }
		' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk '
			function flush(   t, u, s, nu, ns, i, j, us, ss) {
				if (enabled != "no" && (" " types " ") ~ / deb /) {
					nu = split(uris, us, " "); ns = split(suites, ss, " ")
					for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print us[i], ss[j], comps
				}
				types = uris = suites = comps = ""; enabled = "yes"; key = ""
			}
			BEGIN { enabled = "yes" }
			/^#/ { next }
			/^[[:space:]]*$/ { flush(); next }
			/^[[:space:]]/ { val = $0; sub(/^[[:space:]]+/, "", val); append(key, val); next }
			{
				key = tolower(substr($0, 1, index($0, ":") - 1)); val = substr($0, index($0, ":") + 1)
				sub(/^[[:space:]]+/, "", val); sub(/[[:space:]]+$/, "", val)
				append(key, val)
			}
			function append(k, v) {
				if (k == "types") types = types " " v
				else if (k == "uris") uris = uris " " v
				else if (k == "suites") suites = suites " " v
				else if (k == "components") comps = comps " " v
				else if (k == "enabled") enabled = tolower(v)
			}
			END { flush() }
		' "$f"
	done
}

# mirror_for SUITE: the first host URI that serves SUITE with component main.
mirror_for() {
	host_apt_sources | awk -v s="$1" '$2 == s { for (i = 3; i <= NF; i++) if ($i == "main") { sub(/\/+$/, "", $1); print $1; exit } }'
}

resolve_mirrors() {
	MIRROR=${DEBIAN_MIRROR:-$(mirror_for "$SUITE")}
	MIRROR=${MIRROR%/}
	[[ -n $MIRROR ]] || die "no Debian $SUITE mirror found in the host's apt sources; set DEBIAN_MIRROR"
	UPDATES_MIRROR=$(mirror_for "$SUITE-updates")
	UPDATES_MIRROR=${UPDATES_MIRROR%/}
	if [[ -n ${DEBIAN_MIRROR-} && -n $UPDATES_MIRROR ]]; then
		UPDATES_MIRROR=$MIRROR
	fi
	SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(mirror_for "$SUITE-security")}
	SECURITY_MIRROR=${SECURITY_MIRROR%/}
	[[ $SECURITY_MIRROR != none ]] || SECURITY_MIRROR=
}

# deb822 sources for the images; the keyring comes with debian-archive-keyring.
image_apt_sources() {
	local key=/usr/share/keyrings/debian-archive-keyring.gpg suites=$SUITE
	[[ $UPDATES_MIRROR == "$MIRROR" ]] && suites+=" $SUITE-updates"
	printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$MIRROR" "$suites" "$key"
	if [[ -n $UPDATES_MIRROR && $UPDATES_MIRROR != "$MIRROR" ]]; then
		printf '\nTypes: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$UPDATES_MIRROR" "$SUITE-updates" "$key"
	fi
	if [[ -n $SECURITY_MIRROR ]]; then
		printf '\nTypes: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' "$SECURITY_MIRROR" "$SUITE-security" "$key"
	fi
}

# ---------------------------------------------------------------- image helpers
# inputs_hash DIR PARAMS...: what an image is built from.
inputs_hash() {
	local dir=$1
	shift
	{
		printf 'script %s\n' "$SCRIPT_SUM"
		printf 'param %s\n' "$@"
		(cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
	} | sha256sum | cut -d' ' -f1
}

image_label() { # IMAGE LABEL
	docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
image_size() { docker image inspect --format '{{.Size}}' "$1" 2>/dev/null || echo 0; }

# is_current IMAGE HASH [BASE_ID]
is_current() {
	((FORCE)) && return 1
	[[ $(image_label "$1" "$NS.inputs") == "sha256:$2" ]] || return 1
	[[ -z ${3-} || $(image_label "$1" "$NS.base-id") == "$3" ]]
}

# Labels every image gets (printed as --label arguments).
common_labels() { # HASH
	printf '%s\n' \
		--label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--label "org.opencontainers.image.vendor=voting app (local offline build)" \
		--label "$NS.inputs=sha256:$1" \
		--label "$NS.built-by=deploy/offline/bases.sh" \
		--label "$NS.debian-mirror=$MIRROR"
}

docker_build() { # LOGNAME ARGS...
	local name=$1
	shift
	local -a opts=()
	if docker buildx version >/dev/null 2>&1; then
		opts+=(--progress=plain)
	fi
	((FORCE)) && opts+=(--no-cache)
	run_logged "$name" docker build "${opts[@]}" "$@"
}

# drop_replaced OLD_ID NAME: after NAME was rebuilt, remove the image it used to
# be if nothing refers to it any more (no tag; in use by a container = kept).
drop_replaced() {
	local old=$1 name=$2
	[[ -n $old && $old != "$(image_id "$name")" ]] || return 0
	[[ $(docker image inspect --format '{{len .RepoTags}}' "$old" 2>/dev/null) == 0 ]] || return 0
	if docker image rm "$old" >/dev/null 2>&1; then
		info "removed the replaced image ${old:7:12}"
	fi
}

# finish_image NAME T0 STATUS [ALIAS...]
finish_image() {
	local name=$1 t0=$2 status=$3 alias
	local -a alias_status=()
	shift 3
	for alias in "$@"; do
		if [[ $(image_id "$alias") != "$(image_id "$name")" ]]; then
			docker tag "$name" "$alias"
			alias_status+=(tagged)
		else
			alias_status+=(same)
		fi
	done
	local size
	size=$(human_size "$(image_size "$name")")
	if [[ $status == built ]]; then
		ok "built $name ($size) in $(elapsed "$t0")"
	else
		ok "$name is up to date ($size)"
	fi
	record "$name" "$size" "$status" "$(elapsed "$t0")"
	local i=0
	for alias in "$@"; do
		record "  = $alias" "" "${alias_status[i]}" ""
		i=$((i + 1))
	done
}

# ---------------------------------------------------------------- debian
DEBIAN_IMAGE="$NS/debian:$SUITE"

build_debian_rootfs() {
	local root="${WORK:?}/rootfs"
	export DEBIAN_FRONTEND=noninteractive
	if ! command -v debootstrap >/dev/null; then
		info "installing debootstrap with apt-get"
		run_logged apt-debootstrap sh -c 'apt-get update && apt-get install -y --no-install-recommends debootstrap debian-archive-keyring' ||
			die "could not install debootstrap"
	fi
	local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	[[ -r $keyring ]] || die "$keyring missing (apt-get install debian-archive-keyring)"

	info "debootstrap --variant=minbase $SUITE from $MIRROR (log: $WORK/logs/debootstrap.log)"
	run_logged debootstrap debootstrap --variant=minbase --components=main \
		--keyring="$keyring" "$SUITE" "$root" "$MIRROR" || die "debootstrap failed"

	# Our container tweaks: no docs/man pages in later installs, no apt binary
	# caches, no service starts during builds.
	cp -r --no-preserve=ownership "$SCRIPT_DIR/debian/rootfs/." "$root/"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	rm -f "$root/etc/apt/sources.list"
	image_apt_sources >"$root/etc/apt/sources.list.d/debian.sources"

	info "applying $SUITE-updates/$SUITE-security in a chroot (log: $WORK/logs/upgrade.log)"
	local -a chroot_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C DEBIAN_FRONTEND=noninteractive)
	run_logged upgrade sh -c '"$@" apt-get update && "$@" apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade && "$@" apt-get clean' \
		sh "${chroot_env[@]}" chroot "$root" || die "upgrading the root filesystem failed"

	# Trim to what a container needs; the same paths dpkg now excludes.
	find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
	find "$root/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
	find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
	rm -rf "$root"/usr/share/{man,info,groff,lintian,linda}/*
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
		"$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
		"$root"/var/cache/ldconfig/aux-cache "${root:?}"/tmp/* "${root:?}"/dev/*
	find "$root/var/log" -type f \( -name '*.log' -o -path '*/apt/*' \) -delete
	find "$root/var/log" -type f -exec truncate -s 0 {} +
	# Docker provides these at run time; do not ship the build host's.
	: >"$root/etc/resolv.conf"
	: >"$root/etc/hostname"
}

ensure_debian() {
	local t0 hash
	t0=$(now)
	hash=$(inputs_hash "$SCRIPT_DIR/debian" "suite=$SUITE" "mirror=$MIRROR" \
		"updates=$UPDATES_MIRROR" "security=$SECURITY_MIRROR" "arch=$SERVER_ARCH")
	if is_current "$DEBIAN_IMAGE" "$hash"; then
		finish_image "$DEBIAN_IMAGE" "$t0" skipped
		return
	fi
	need_root "building $DEBIAN_IMAGE (debootstrap, chroot)"
	build_debian_rootfs
	info "importing the root filesystem as $DEBIAN_IMAGE"
	local desc="Local stand-in for the upstream image debian:$SUITE-slim, built with debootstrap --variant=minbase from Debian $SUITE packages (docs, man pages and translations left out). Not the upstream image."
	local -a changes=(
		--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
		--change 'CMD ["bash"]'
	)
	local kv
	while IFS= read -r kv; do
		[[ $kv == --label ]] && continue
		changes+=(--change "LABEL ${kv%%=*}=\"${kv#*=}\"")
	done < <(
		common_labels "$hash"
		printf '%s\n' "org.opencontainers.image.title=$NS/debian" \
			"org.opencontainers.image.description=$desc" \
			"org.opencontainers.image.version=$(cat "$WORK/rootfs/etc/debian_version")"
	)
	local old_id
	old_id=$(image_id "$DEBIAN_IMAGE")
	tar --numeric-owner --one-file-system -C "$WORK/rootfs" -cf - . |
		docker import "${changes[@]}" --message "debootstrap --variant=minbase $SUITE (deploy/offline/bases.sh)" - "$DEBIAN_IMAGE" >/dev/null ||
		die "docker import failed"
	rm -rf "$WORK/rootfs"
	finish_image "$DEBIAN_IMAGE" "$t0" built
	drop_replaced "$old_id" "$DEBIAN_IMAGE"
}

# ---------------------------------------------------------------- golang
golang_toolchain() {
	require_go
	GO_VERSION_FULL=$("$GO" env GOVERSION)
	GO_VERSION_FULL=${GO_VERSION_FULL%% *} # drop " X:experiment" suffixes
	[[ $GO_VERSION_FULL =~ ^go[0-9]+\.[0-9]+(\.[0-9]+|rc[0-9]+)?$ ]] ||
		die "host Go reports version '$GO_VERSION_FULL'; a release version is needed to fetch golang.org/toolchain"
	local arch=$SERVER_ARCH
	[[ $arch == arm ]] && arch=armv6l
	GO_TOOLCHAIN_MODULE="golang.org/toolchain@v0.0.1-$GO_VERSION_FULL.linux-$arch"
	GO_TAG=${GO_VERSION_FULL#go}
	GO_MINOR_TAG=$(cut -d. -f1,2 <<<"$GO_TAG")
	GO_MINOR_TAG=${GO_MINOR_TAG%%rc*}
}

# site_ca_files: the extra CA certificate files (PEM, *.crt), one a line.
site_ca_files() {
	[[ $EXTRA_CA_CERTS != none ]] || return 0
	local p
	local -a paths
	IFS=: read -ra paths <<<"$EXTRA_CA_CERTS"
	for p in "${paths[@]}"; do
		if [[ -d $p ]]; then
			find "$p" -type f -name '*.crt' | LC_ALL=C sort
		elif [[ -f $p ]]; then
			printf '%s\n' "$p"
		elif [[ $p != /usr/local/share/ca-certificates ]]; then
			warn "EXTRA_CA_CERTS: $p does not exist"
		fi
	done
}

site_ca_digest() {
	local f
	site_ca_files | while IFS= read -r f; do sha256sum <"$f"; done | sha256sum | cut -d' ' -f1
}

stage_golang_context() {
	local json dir sum ctx="$WORK/golang-ctx"
	info "go mod download $GO_TOOLCHAIN_MODULE"
	json=$(cd "$WORK/empty" && GOFLAGS='' GOWORK=off "$GO" mod download -json "$GO_TOOLCHAIN_MODULE") || {
		printf '%s\n' "$json" >&2
		die "could not download $GO_TOOLCHAIN_MODULE from the Go module proxy"
	}
	dir=$(go_json_field Dir <<<"$json")
	sum=$(go_json_field Sum <<<"$json")
	[[ -n $dir && -d $dir ]] || die "go mod download gave no directory: $json"
	GO_TOOLCHAIN_SUM=$sum
	info "verified by go mod download: $sum"
	rm -rf "$ctx"
	mkdir -p "$ctx"
	cp -r "$dir" "$ctx/go"
	# Module zips carry no file modes: restore them the way the go command does
	# when it switches toolchains (bin/ and pkg/tool/ executable), plus scripts.
	chmod -R u+w,go-w,a+rX "$ctx/go"
	find "$ctx/go" -type f -exec chmod 0644 {} +
	find "$ctx/go/bin" "$ctx/go/pkg/tool" -type f -exec chmod 0755 {} +
	find "$ctx/go" -type f -size -1024k -exec awk 'FNR == 1 { if (/^#!/) print FILENAME; nextfile }' {} + |
		tr '\n' '\0' | xargs -0 -r chmod 0755
	# Site CAs (see EXTRA_CA_CERTS); the directory exists even when empty.
	mkdir -p "$ctx/site-ca"
	local f n=0
	while IFS= read -r f; do
		grep -q -- '-----BEGIN CERTIFICATE-----' "$f" || die "$f is not a PEM certificate"
		n=$((n + 1))
		cp "$f" "$ctx/site-ca/$(printf '%02d' "$n")-$(basename "$f")"
	done < <(site_ca_files)
	SITE_CA_COUNT=$n
	if ((n)); then
		info "adding $n extra CA certificate(s) from ${EXTRA_CA_CERTS} to the builder's trust store"
	fi
	"$ctx/go/bin/go" version >/dev/null 2>&1 || [[ $SERVER_ARCH != "$("$GO" env GOHOSTARCH)" ]] ||
		die "the staged toolchain does not run"
}

ensure_golang() {
	local t0 hash base_id image
	t0=$(now)
	golang_toolchain
	image="$NS/golang:$GO_TAG"
	base_id=$(image_id "$DEBIAN_IMAGE")
	hash=$(inputs_hash "$SCRIPT_DIR/golang" "toolchain=$GO_TOOLCHAIN_MODULE" "site-ca=$(site_ca_digest)")
	if is_current "$image" "$hash" "$base_id"; then
		finish_image "$image" "$t0" skipped "$NS/golang:$GO_MINOR_TAG"
		return
	fi
	stage_golang_context
	local old_id
	old_id=$(image_id "$image")
	info "building $image (log: $WORK/logs/golang.log)"
	local -a labels
	mapfile -t labels < <(common_labels "$hash")
	docker_build golang --file "$SCRIPT_DIR/golang/Dockerfile" --tag "$image" \
		--build-arg "GO_VERSION=$GO_TAG" "${labels[@]}" \
		--label "$NS.base-id=$base_id" \
		--label "$NS.go-toolchain=$GO_TOOLCHAIN_MODULE $GO_TOOLCHAIN_SUM" \
		--label "$NS.extra-ca-certificates=$SITE_CA_COUNT" \
		"$WORK/golang-ctx" || die "building $image failed"
	rm -rf "$WORK/golang-ctx"
	finish_image "$image" "$t0" built "$NS/golang:$GO_MINOR_TAG"
	drop_replaced "$old_id" "$image"
}

# ---------------------------------------------------------------- static, postgres, redis
# ensure_dir_image NAME IMAGE [ALIAS...]: image built from deploy/offline/NAME.
ensure_dir_image() {
	local name=$1 image=$2 t0 hash base_id
	shift 2
	t0=$(now)
	base_id=$(image_id "$DEBIAN_IMAGE")
	hash=$(inputs_hash "$SCRIPT_DIR/$name")
	if is_current "$image" "$hash" "$base_id"; then
		finish_image "$image" "$t0" skipped "$@"
		return
	fi
	local old_id
	old_id=$(image_id "$image")
	info "building $image (log: $WORK/logs/$name.log)"
	local -a labels
	mapfile -t labels < <(common_labels "$hash")
	[[ $name == static ]] || labels+=(--label "org.opencontainers.image.base.name=$DEBIAN_IMAGE")
	docker_build "$name" --file "$SCRIPT_DIR/$name/Dockerfile" --tag "$image" \
		"${labels[@]}" --label "$NS.base-id=$base_id" "$SCRIPT_DIR/$name" ||
		die "building $image failed"
	finish_image "$image" "$t0" built "$@"
	drop_replaced "$old_id" "$image"
}

# ---------------------------------------------------------------- main
step "voting-offline bases: $ONLY"
info "engine: Docker $(docker version --format '{{.Server.Version}}') ($SERVER_ARCH), work dir $WORK"

if wanted plugins; then
	step "Docker CLI plugins -> $PLUGINS_DIR"
	ensure_plugin buildx "$BUILDX_VERSION" build_buildx
	ensure_plugin compose "$COMPOSE_VERSION" build_compose
	if [[ $PLUGINS_DIR != /usr/local/lib/docker/cli-plugins && $PLUGINS_DIR != "${HOME-}/.docker/cli-plugins" ]]; then
		warn "the docker CLI does not look in $PLUGINS_DIR by itself (add it to cliPluginsExtraDirs in ~/.docker/config.json)"
	fi
fi

needs_base=0
for s in golang static postgres redis prometheus; do
	wanted "$s" && needs_base=1
done
if wanted debian || ((needs_base)); then
	resolve_mirrors
	step "$DEBIAN_IMAGE (mirror $MIRROR${SECURITY_MIRROR:+, security $SECURITY_MIRROR})"
	if ! wanted debian; then
		# Needed as a base only: build it if missing or stale, never forced.
		FORCE_SAVED=$FORCE FORCE=0
		ensure_debian
		FORCE=$FORCE_SAVED
	else
		ensure_debian
	fi
fi
if wanted golang; then
	step "$NS/golang (Go builder)"
	ensure_golang
fi
if wanted static; then
	step "$NS/static:nonroot (distroless-like runtime)"
	ensure_dir_image static "$NS/static:nonroot" "$NS/static:latest"
fi
if wanted postgres; then
	step "$NS/postgres:15"
	ensure_dir_image postgres "$NS/postgres:15"
fi
if wanted redis; then
	step "$NS/redis:7.0"
	ensure_dir_image redis "$NS/redis:7.0"
fi
if wanted prometheus; then
	step "$NS/prometheus:2.42 (compose profile monitoring)"
	ensure_dir_image prometheus "$NS/prometheus:2.42"
fi

# ./.env at the repository root: compose reads it by itself, so plain `docker compose up` builds on
# the stand-ins here as it builds on the upstream images where there is a registry. It holds the
# lines of deploy/compose/offline.env under a marker line; a .env without the marker is the user's
# own and is left alone (git ignores .env either way).
write_dotenv() {
	local root env_file marker tmp
	root=$(cd "$SCRIPT_DIR/../.." && pwd)
	env_file=$root/.env
	marker="# Written by deploy/offline/bases.sh: the stand-in base images for plain \`docker compose up\`."
	if [[ -e $env_file ]] && [[ $(head -n1 "$env_file") != "$marker" ]]; then
		warn "$env_file is not the one this script writes; left alone. Add the lines of deploy/compose/offline.env to it, or run docker compose --env-file deploy/compose/offline.env"
		return
	fi
	tmp=$(mktemp "$root/.env.XXXXXX")
	{
		printf '%s\n' "$marker" "# Rewritten by each run while this first line stays; remove the line to keep your own edits."
		grep -v '^#' "$root/deploy/compose/offline.env"
	} >"$tmp"
	chmod 0644 "$tmp"
	mv -f "$tmp" "$env_file"
	info "wrote $env_file (the stand-ins for plain docker compose up)"
}
if ((needs_base)); then
	step "./.env"
	write_dotenv
fi

print_summary
printf '\nDone in %s.\n' "$(elapsed "$START")"
RC_OK=1
