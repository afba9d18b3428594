#!/usr/bin/env bash
# deploy/compose/secrets.sh — create secret files of your own: for compose with
# deploy/compose/own-secrets.yml (bare `docker compose up` needs none: secrets-init makes them in
# volumes), and for Swarm and Kubernetes (deploy/swarm/secrets.sh, deploy/k8s/secrets.sh).
#
# Idempotent: a password file that exists is never touched, so running it again keeps the
# passwords an existing database volume was initialised with. Only the Redis ACL file is derived,
# from the Redis passwords, and rewritten when they change.
#
#   deploy/compose/secrets.sh [DIR]      (default: deploy/compose/secrets next to this script)
#
# Files are mode 0644 inside a 0700 directory: the containers' users (65532, 999) must read the
# bind-mounted files, and the directory keeps other local users out. Passwords are 192 random bits
# in hex, so they need no quoting in URLs, SQL or the ACL file.
set -euo pipefail

dir=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

# The names docker-compose.yml gives the secrets; each is the file NAME.txt.
passwords=(
	postgres_password     # PostgreSQL superuser; used only by the database's own init scripts
	db_worker_password    # role worker: owns the schema, runs the migrations
	db_result_password    # role result: reads only
	db_analyzer_password  # role analyzer: reads only
	redis_admin_password  # Redis user default: administration by hand only; no service uses it
	redis_vote_password   # Redis user vote: XADD on the stream, nothing else
	redis_worker_password # Redis user worker: consumer-group commands on the stream
)

created=0
for name in "${passwords[@]}"; do
	file="$dir/$name.txt"
	if [[ -e $file ]]; then
		continue
	fi
	tmp=$(mktemp "$dir/.$name.XXXXXX")
	od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$tmp"
	chmod 0644 "$tmp"
	# ln fails if another run created the file meanwhile: never overwrite.
	if ln "$tmp" "$file" 2>/dev/null; then
		created=$((created + 1))
	fi
	rm -f "$tmp"
done

# The analyzer's key for an OpenAI-compatible endpoint (LLM_BASE_URL): empty unless you put one in.
if [[ ! -e $dir/llm_api_key.txt ]]; then
	: >"$dir/llm_api_key.txt"
	chmod 0644 "$dir/llm_api_key.txt"
fi

sha() { sha256sum <"$dir/$1.txt" | cut -d' ' -f1; }

# Redis users: secrets-init/redis-users.acl is the one template (it says why each user may do what),
# rendered here as secrets-init renders it for bare `docker compose up`: comment and empty lines
# dropped, {{NAME}} replaced by the SHA-256 of NAME's password. secrets-init/secrets_test.go checks
# that the two agree.
template="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/secrets-init/redis-users.acl"
acl=$(mktemp "$dir/.redis_acl.XXXXXX")
grep -v -e '^#' -e '^$' "$template" >"$acl"
for name in $(grep -o '{{[a-z0-9_]*}}' "$template" | tr -d '{}' | sort -u); do
	hash=$(sha "$name")
	sed -i "s/{{$name}}/$hash/g" "$acl"
done
chmod 0644 "$acl"
if cmp -s "$acl" "$dir/redis_acl.txt"; then
	rm -f "$acl"
else
	mv -f "$acl" "$dir/redis_acl.txt"
	echo "secrets: wrote $dir/redis_acl.txt"
fi

if ((created)); then
	echo "secrets: created $created password file(s) in $dir"
fi
