#!/usr/bin/env bash
# scripts/kube-bins.sh DIR — build a Kubernetes control plane from source into DIR, once.
#
# Builds the programs $KUBE_BINS (default kube-apiserver and kube-controller-manager) of Kubernetes
# $KUBE_VERSION and etcd $ETCD_VERSION from the Go module proxy (nothing is downloaded from
# anywhere else), for the deploytest cluster tests (make k8s-test), and times each build. Two more
# names may be in $KUBE_BINS: pause, the pod sandbox's program, compiled with gcc from the same
# Kubernetes source, and coredns, CoreDNS $COREDNS_VERSION. DIR should
# be named after the versions: a second run finds the binaries and returns at once; a program
# added to $KUBE_BINS is built then.
#
# `go install k8s.io/kubernetes/cmd/...@VERSION` does not work: the kubernetes module replaces its
# k8s.io/* dependencies with directories of its own repository (staging/), which the module zip
# leaves out. So the module is copied, its vendor directory and workspace files removed, and each
# replaced module required at the version published from that staging directory (v0.X.Y for
# Kubernetes v1.X.Y). No other dependency moves. etcd likewise cannot be installed with
# `go install` (replace directives); a two-line main that calls its etcdmain package is built
# instead, in a module of its own.
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.7}
dir=${1:?usage: $0 DIR}
read -r -a kube <<<"${KUBE_BINS:-kube-apiserver kube-controller-manager}"
stamp="kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, coredns $COREDNS_VERSION, $(go env GOVERSION)"

# What to build: what is missing, or everything when the versions changed.
missing=()
if [[ -f $dir/.stamp && $(<"$dir/.stamp") == "$stamp" ]]; then
	for b in "${kube[@]}" etcd; do
		[[ -x $dir/$b ]] || missing+=("$b")
	done
	if ((${#missing[@]} == 0)); then
		echo "kube-bins: $stamp: ${kube[*]} etcd cached in $dir"
		exit 0
	fi
else
	missing=("${kube[@]}" etcd)
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
for b in "${missing[@]}"; do
	rm -f "$dir/$b"
done
rm -f "$dir/.stamp"

work=$(mktemp -d "${TMPDIR:-/tmp}/kube-bins.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod

timed() {
	local what=$1 t0=$SECONDS
	shift
	echo "kube-bins: $what"
	if ! "$@" >"$work/log" 2>&1; then
		cat "$work/log" >&2
		echo "kube-bins: $what: failed after $((SECONDS - t0))s" >&2
		exit 1
	fi
	echo "kube-bins: $what: $((SECONDS - t0))s"
}

build_kubernetes() {
	timed "download k8s.io/kubernetes@$KUBE_VERSION" go mod download k8s.io/kubernetes@"$KUBE_VERSION"
	local src
	src=$(go mod download -json k8s.io/kubernetes@"$KUBE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -d $src ]] || { echo "kube-bins: k8s.io/kubernetes@$KUBE_VERSION: no module directory" >&2; exit 1; }
	cp -r "$src" "$work/kubernetes"
	chmod -R u+w "$work/kubernetes"
	cd "$work/kubernetes"
	# With vendor/ present Go would build from it (-mod=vendor), and go.work would bring the
	# staging directories back.
	rm -rf vendor go.work go.work.sum
	local edits=() m
	for m in $(sed -n 's|^[[:space:]]*\(k8s.io/[^[:space:]]*\) => \./staging/src/.*|\1|p' go.mod); do
		edits+=(-dropreplace="$m" -require="$m@v0.${KUBE_VERSION#v1.}")
	done
	((${#edits[@]})) || { echo "kube-bins: k8s.io/kubernetes@$KUBE_VERSION: no staging replaces in its go.mod" >&2; exit 1; }
	go mod edit "${edits[@]}"
	if grep -q '=> ./staging' go.mod; then
		echo "kube-bins: go.mod still replaces modules with staging directories:" >&2
		grep '=> ./staging' go.mod >&2
		exit 1
	fi

	local major minor _ ldflags="-s -w" kv b
	IFS=. read -r major minor _ <<<"${KUBE_VERSION#v}"
	for kv in gitVersion="$KUBE_VERSION" gitMajor="$major" gitMinor="$minor" gitTreeState=clean; do
		ldflags+=" -X k8s.io/component-base/version.$kv"
	done
	for b in "${kube[@]}"; do
		[[ " ${missing[*]} " == *" $b "* ]] || continue
		case $b in
		coredns) continue ;;
		pause)
			# Static, as in the upstream pause image: it runs alone in an empty file system.
			timed "build pause $KUBE_VERSION (gcc)" gcc -Os -Wall -Werror -static -DVERSION="$KUBE_VERSION" -o "$dir/pause.new" build/pause/linux/pause.c
			;;
		*) timed "build $b $KUBE_VERSION" go build -trimpath -ldflags "$ldflags" -o "$dir/$b.new" ./cmd/"$b" ;;
		esac
		mv "$dir/$b.new" "$dir/$b"
	done
}

build_coredns() {
	timed "build coredns $COREDNS_VERSION" env GOFLAGS= GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" github.com/coredns/coredns@"$COREDNS_VERSION"
	mv "$work/gobin/coredns" "$dir/coredns"
}

build_etcd() {
	mkdir "$work/etcd"
	cd "$work/etcd"
	cat >main.go <<'EOF'
// Command etcd is the etcd server, built from the module go.etcd.io/etcd/server/v3.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
	go mod init deploytest.local/etcd >/dev/null 2>&1
	timed "resolve go.etcd.io/etcd/server/v3@$ETCD_VERSION" sh -c "go get go.etcd.io/etcd/server/v3@$ETCD_VERSION && go mod tidy"
	timed "build etcd $ETCD_VERSION" go build -trimpath -ldflags "-s -w" -o "$dir/etcd.new" .
	mv "$dir/etcd.new" "$dir/etcd"
}

total=$SECONDS
for b in "${missing[@]}"; do
	if [[ $b != etcd && $b != coredns ]]; then
		build_kubernetes
		break
	fi
done
if [[ " ${missing[*]} " == *" etcd "* ]]; then
	build_etcd
fi
if [[ " ${missing[*]} " == *" coredns "* ]]; then
	build_coredns
fi
printf '%s' "$stamp" >"$dir/.stamp"
echo "kube-bins: $stamp: built ${missing[*]} in $((SECONDS - total))s into $dir"
