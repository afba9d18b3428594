#!/usr/bin/env bash
# deploy/offline/verify.sh — prove that the images made by bases.sh do what the
# project relies on. Needs the images, the engine, and the Go module proxy (one
# small module is downloaded inside a build). Leaves nothing behind but build cache.
#
#   golang   multi-stage build: FROM --platform=$BUILDPLATFORM, TARGETOS/TARGETARCH,
#            cache mounts, `go mod download` of github.com/google/uuid, CGO_ENABLED=0;
#            the same build stage cross-compiled for arm64 gives an aarch64 ELF
#   static   the binary runs as 65532:65532 in /home/nonroot, reads the CA bundle,
#            loads Europe/Berlin, can write /tmp; the exported filesystem has no
#            shell, no dpkg/apt, no setuid/setgid files
#   postgres POSTGRES_PASSWORD_FILE + an initdb.d .sh and .sql, read-only root with
#            tmpfs /var/run/postgresql and /tmp, `-c` arguments reach the server,
#            password required over the network, docker stop is a clean shutdown,
#            a restart skips initialization; also as user 999 with cap_drop ALL
#   redis    --requirepass and --appendonly yes on a volume, AUTH required, data
#            survives a restart; also as user 999 with cap_drop ALL
# shellcheck disable=SC2016 # bash -c scripts take their arguments as $1...
set -euo pipefail

NS=voting-offline
if [[ -z ${GO_IMAGE-} ]]; then
	if command -v go >/dev/null; then
		GO_IMAGE=$NS/golang:$(go env GOVERSION | sed 's/^go//; s/ .*//')
	else
		GO_IMAGE=$NS/golang:$(docker image ls --format '{{.Tag}}' "$NS/golang" | sort -V | tail -n 1)
	fi
fi
ID=voff-verify-$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/voff-verify.XXXXXX")
FAILED=0

pass() { printf '  ok    %s\n' "$*"; }
fail() {
	printf '  FAIL  %s\n' "$*"
	FAILED=$((FAILED + 1))
}
check() { # DESCRIPTION COMMAND...
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi
}
section() { printf '\n== %s\n' "$*"; }

cleanup() {
	docker rm -f "$ID-pg" "$ID-pg2" "$ID-redis" "$ID-redis2" >/dev/null 2>&1 || true
	docker volume rm "$ID-pgdata" "$ID-pgdata2" "$ID-redisdata" "$ID-redisdata2" >/dev/null 2>&1 || true
	docker network rm "$ID-net" >/dev/null 2>&1 || true
	docker image rm "$ID/probe" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# wait_for TRIES CMD...: retry CMD every half second.
wait_for() {
	local n=$1
	shift
	while ((n-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

for img in "$GO_IMAGE" "$NS/static:nonroot" "$NS/postgres:15" "$NS/redis:7.0"; do
	docker image inspect "$img" >/dev/null 2>&1 || {
		echo "missing image $img: run deploy/offline/bases.sh first" >&2
		exit 1
	}
done
docker network create "$ID-net" >/dev/null

# ------------------------------------------------------------------ golang + static
section "$GO_IMAGE builds, $NS/static:nonroot runs"
mkdir -p "$TMP/probe"
cat >"$TMP/probe/main.go" <<'EOF'
package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("ids %d:%d\n", os.Getuid(), os.Getgid())
	fmt.Printf("cwd %s\n", wd)
	fmt.Printf("uuid %v\n", uuid.New() != uuid.Nil)
	pem, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	pool := x509.NewCertPool()
	fmt.Printf("cabundle %v %d\n", err == nil && pool.AppendCertsFromPEM(pem), len(pool.Subjects()))
	if loc, err := time.LoadLocation("Europe/Berlin"); err == nil {
		fmt.Printf("berlin %s\n", time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).In(loc).Format("15:04 MST"))
	}
	if f, err := os.CreateTemp("", "probe"); err == nil {
		fmt.Println("tmp writable")
		os.Remove(f.Name())
	}
	for _, p := range []string{"/bin/sh", "/usr/bin/sh", "/bin/bash", "/usr/bin/dpkg", "/usr/bin/apt-get"} {
		if _, err := os.Stat(p); err == nil {
			fmt.Println("present", p)
		}
	}
}
EOF
cat >"$TMP/probe/go.mod" <<'EOF'
module example.com/probe

go 1.26

require github.com/google/uuid v1.6.0
EOF
cat >"$TMP/probe/go.sum" <<'EOF'
github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=
EOF
cat >"$TMP/probe/Dockerfile" <<EOF
FROM --platform=\$BUILDPLATFORM $GO_IMAGE AS build
ARG TARGETOS TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY main.go ./
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=0 GOOS=\$TARGETOS GOARCH=\$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/probe .

FROM $NS/static:nonroot
COPY --from=build /out/probe /probe
ENTRYPOINT ["/probe"]
EOF
t0=$SECONDS
if docker build --progress=plain -t "$ID/probe" "$TMP/probe" >"$TMP/build.log" 2>&1; then
	pass "multi-stage build with cache mounts and go mod download ($((SECONDS - t0))s)"
	out=$(docker run --rm --read-only "$ID/probe" 2>&1 || true)
	check "runs as 65532:65532" grep -qx 'ids 65532:65532' <<<"$out"
	check "working directory /home/nonroot" grep -qx 'cwd /home/nonroot' <<<"$out"
	check "module code linked (uuid)" grep -qx 'uuid true' <<<"$out"
	check "CA bundle readable and parsed" grep -q '^cabundle true [1-9][0-9]' <<<"$out"
	check "time zone Europe/Berlin loads" grep -qx 'berlin 14:00 CEST' <<<"$out"
	check "no shell or package manager visible" bash -c '! grep -q ^present <<<"$1"' _ "$out"
	t1=$SECONDS
	if docker build --progress=plain --platform linux/arm64 --target build \
		--output "type=local,dest=$TMP/arm64" "$TMP/probe" >"$TMP/cross.log" 2>&1; then
		# ELF e_machine (offset 18, little endian): 0xb7 = AArch64
		machine=$(od -An -tx1 -j18 -N1 "$TMP/arm64/out/probe" | tr -d ' ')
		check "cross-compiled build stage for arm64 gives an AArch64 binary ($((SECONDS - t1))s)" test "$machine" = b7
	else
		fail "cross-compiling the build stage for arm64 (see $TMP/cross.log)"
		tail -n 20 "$TMP/cross.log"
	fi
else
	fail "multi-stage build"
	tail -n 30 "$TMP/build.log"
fi

cid=$(docker create "$NS/static:nonroot" /none)
docker export "$cid" >"$TMP/static.tar"
docker rm "$cid" >/dev/null
check "exported static filesystem: no sh/bash/dash/busybox, no dpkg/apt" \
	bash -c '! tar -tf "$1" | grep -Eq "(^|/)(sh|bash|dash|busybox|dpkg|apt|apt-get)$"' _ "$TMP/static.tar"
check "exported static filesystem: no setuid/setgid files" \
	bash -c '! tar -tvf "$1" | grep -Eq "^-..[sS]|^-.....[sS]"' _ "$TMP/static.tar"
check "image config: User 65532:65532" test "$(docker image inspect -f '{{.Config.User}}' "$NS/static:nonroot")" = 65532:65532

# ------------------------------------------------------------------ postgres
section "$NS/postgres:15"
mkdir -p "$TMP/pg/init"
printf 's3cret pass\n' >"$TMP/pg/password"
chmod 0644 "$TMP/pg/password"
cat >"$TMP/pg/init/10-schema.sh" <<'EOF'
#!/bin/bash
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<-SQL
	CREATE TABLE init_marker (id int PRIMARY KEY, note text);
	INSERT INTO init_marker VALUES (1, 'sh');
SQL
EOF
chmod 0755 "$TMP/pg/init/10-schema.sh"
printf "INSERT INTO init_marker VALUES (2, 'sql');\n" >"$TMP/pg/init/20-data.sql"
chmod -R a+rX "$TMP/pg"

docker run -d --name "$ID-pg" --network "$ID-net" --read-only --tmpfs /var/run/postgresql --tmpfs /tmp \
	-e POSTGRES_USER=votes -e POSTGRES_DB=votes -e POSTGRES_PASSWORD_FILE=/run/secrets/pg-password \
	-v "$TMP/pg/password:/run/secrets/pg-password:ro" -v "$TMP/pg/init:/docker-entrypoint-initdb.d:ro" \
	-v "$ID-pgdata:/var/lib/postgresql/data" \
	"$NS/postgres:15" postgres -c max_connections=42 >/dev/null
# TCP, not the socket: the init-time server listens on the socket only.
if wait_for 60 docker exec "$ID-pg" pg_isready -h 127.0.0.1 -U votes -d votes; then
	pass "ready (pg_isready over TCP)"
else
	fail "postgres did not become ready"
	docker logs "$ID-pg" 2>&1 | tail -n 20
fi
psql_net() { docker run --rm --network "$ID-net" -e PGPASSWORD="$1" "$NS/postgres:15" psql -h "$ID-pg" -U votes -d votes -Atc "$2"; }
check "network login with the password from POSTGRES_PASSWORD_FILE; initdb.d .sh and .sql ran" \
	test "$(psql_net 's3cret pass' 'select string_agg(note, $$,$$ order by id) from init_marker')" = sh,sql
check "-c max_connections=42 reached the server" test "$(psql_net 's3cret pass' 'show max_connections')" = 42
check "password stored as SCRAM" test "$(psql_net 's3cret pass' "select left(rolpassword, 13) from pg_authid where rolname = 'votes'")" = SCRAM-SHA-256
out=$(psql_net wrong 'select 1' 2>&1 || true)
check "wrong password refused" grep -q 'password authentication failed' <<<"$out"
check "server is PID 1 as postgres" test "$(docker exec "$ID-pg" stat -c %U /proc/1)" = postgres
docker stop "$ID-pg" >/dev/null
check "docker stop: exit code 0" test "$(docker inspect -f '{{.State.ExitCode}}' "$ID-pg")" = 0
check "docker stop: log says the database system is shut down" bash -c 'docker logs "$1" 2>&1 | tail -n 3 | grep -q "database system is shut down"' _ "$ID-pg"
docker start "$ID-pg" >/dev/null
wait_for 60 docker exec "$ID-pg" pg_isready -h 127.0.0.1 -U votes -d votes || true
check "restart: initialization skipped, data kept" bash -c \
	'docker logs "$1" 2>&1 | grep -q "skipping initialization" && test "$(docker exec "$1" psql -U votes -d votes -Atc "select count(*) from init_marker")" = 2' _ "$ID-pg"

docker run -d --name "$ID-pg2" --user 999:999 --cap-drop ALL --security-opt no-new-privileges:true \
	--read-only --tmpfs /var/run/postgresql --tmpfs /tmp -e POSTGRES_PASSWORD=pw \
	-v "$ID-pgdata2:/var/lib/postgresql/data" "$NS/postgres:15" >/dev/null
check "as user 999:999 with cap_drop ALL, no-new-privileges, read-only (fresh volume)" \
	wait_for 60 docker exec "$ID-pg2" pg_isready -h 127.0.0.1

# ------------------------------------------------------------------ redis
section "$NS/redis:7.0"
docker run -d --name "$ID-redis" --network "$ID-net" --read-only --tmpfs /tmp -v "$ID-redisdata:/data" \
	"$NS/redis:7.0" redis-server --requirepass r3dis-pw --appendonly yes >/dev/null
cli() { docker run --rm --network "$ID-net" "$NS/redis:7.0" redis-cli -h "$ID-redis" "$@"; }
wait_for 20 docker exec "$ID-redis" redis-cli -a r3dis-pw --no-auth-warning ping || true
out=$(cli ping 2>&1 || true)
check "command without AUTH refused (NOAUTH)" grep -q NOAUTH <<<"$out"
check "write with AUTH" test "$(cli -a r3dis-pw --no-auth-warning set vote:1 a)" = OK
check "server runs as redis (uid 999)" test "$(docker exec "$ID-redis" stat -c %u /proc/1)" = 999
check "AOF files in /data" docker exec "$ID-redis" test -f /data/appendonlydir/appendonly.aof.manifest
docker restart "$ID-redis" >/dev/null
wait_for 20 docker exec "$ID-redis" redis-cli -a r3dis-pw --no-auth-warning ping || true
check "data survives a restart" test "$(cli -a r3dis-pw --no-auth-warning get vote:1)" = a
docker run -d --name "$ID-redis2" --user 999:999 --cap-drop ALL --security-opt no-new-privileges:true \
	--read-only --tmpfs /tmp -v "$ID-redisdata2:/data" "$NS/redis:7.0" --requirepass pw --appendonly yes >/dev/null
check "as user 999:999 with cap_drop ALL, no-new-privileges, read-only (fresh volume)" \
	wait_for 20 docker exec "$ID-redis2" redis-cli -a pw --no-auth-warning ping

echo
if ((FAILED)); then
	echo "$FAILED check(s) failed"
	exit 1
fi
echo "all checks passed"
