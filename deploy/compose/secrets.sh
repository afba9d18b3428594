#!/usr/bin/env bash
# deploy/compose/secrets.sh — create the secret files docker-compose.yml mounts under /run/secrets.
#
# Idempotent: a password file that exists is never touched, so running it again (make does, before
# every `compose up`) keeps the passwords an existing database volume was initialised with. Only
# the Redis ACL file is derived, from the Redis passwords, and rewritten when they change.
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

# Redis users. Passwords appear only as SHA-256 hashes (#...). A new connection must AUTH before
# anything, PING included. The default user has every right, behind a password no service knows:
# Redis 7.0 replays its append-only file as the default user and checks each replayed command
# against that user's ACL, so a restricted default user silently drops the replayed transactions
# (NOPERM in the log) and with them the pending entries of the votes stream (redis/redis#14541).
# The healthcheck user needs no password and may only PING. Each service gets exactly the commands
# it sends (go-redis authenticates with HELLO, which is allowed before AUTH whatever the ACL says);
# commands a script runs are checked too, hence the worker's EXISTS, XINFO, XSETID, XPENDING,
# XRANGE, XTRIM, LPOP, LLEN and LINDEX (platform/queue/group.go). The vote service may only RPUSH
# onto the inbox: no command of its can read, trim or delete a vote (platform/queue/stream.go says
# why not XADD). With LEGACY_LIST=votes the worker would also need "~votes" (its LPOP is granted).
acl=$(mktemp "$dir/.redis_acl.XXXXXX")
cat >"$acl" <<ACL
user default on #$(sha redis_admin_password) ~* &* +@all
user healthcheck on nopass resetkeys resetchannels -@all +ping
user vote on #$(sha redis_vote_password) resetkeys resetchannels ~votes:stream:inbox -@all +ping +rpush
user worker on #$(sha redis_worker_password) resetkeys resetchannels ~votes:stream ~votes:stream:dead ~votes:stream:inbox -@all +ping +evalsha +eval +exists +xgroup|create +xgroup|delconsumer +xreadgroup +xack +xautoclaim +xclaim +xadd +xinfo|groups +xinfo|consumers +xinfo|stream +xsetid +xpending +xrange +xtrim +blmove +lpop +llen +lindex
ACL
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
