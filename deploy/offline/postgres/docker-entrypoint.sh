#!/bin/bash
# Entrypoint of voting-offline/postgres (written for this project).
#
# Accepts the interface of the upstream postgres image:
#   POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#   POSTGRES_USER (default postgres), POSTGRES_DB (default: the user),
#   each also as *_FILE (the value is read from that file); POSTGRES_INITDB_ARGS,
#   POSTGRES_INITDB_WALDIR, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
#   PGDATA (default /var/lib/postgresql/data).
# On the first start (no PG_VERSION in PGDATA) it runs initdb, creates
# POSTGRES_DB, then runs /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz and
# *.sql.xz in name order against a server that listens on the Unix socket only.
# Arguments: `postgres -c key=value ...` (or just `-c key=value ...`) start the
# server with those settings; any other command is run as given (psql, bash...).
# Started as root, it fixes ownership of PGDATA and the socket directory and
# re-executes itself as the postgres user with setpriv; the server replaces the
# shell (exec), so it is PID 1 and receives docker stop's signal directly.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# env_or_file NAME [DEFAULT]: NAME comes from $NAME or from the file named by
# $NAME_FILE (setting both is an error); the result is exported as NAME.
env_or_file() {
	local name=$1 default=${2-} file_var="${1}_FILE" value
	if [[ -n ${!name-} && -n ${!file_var-} ]]; then
		die "both $name and $file_var are set; set only one of them"
	fi
	if [[ -n ${!file_var-} ]]; then
		[[ -r ${!file_var} ]] || die "$file_var: cannot read ${!file_var}"
		value=$(<"${!file_var}")
	else
		value=${!name:-$default}
	fi
	export "$name=$value"
	unset "$file_var"
}

# has_cap N: whether the effective capability set holds capability number N.
has_cap() {
	local line caps=0
	while read -r line; do
		[[ $line == CapEff:* ]] && caps=$((16#${line##*[[:space:]]}))
	done </proc/self/status
	(((caps >> $1) & 1))
}

if [[ ${1-} == -* ]]; then
	set -- postgres "$@"
fi
if [[ ${1-} != postgres ]]; then
	exec "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
socket_dir=/var/run/postgresql

if [[ $(id -u) == 0 ]]; then
	# 0 CAP_CHOWN, 6 CAP_SETGID, 7 CAP_SETUID
	if ! has_cap 6 || ! has_cap 7; then
		die "started as root without CAP_SETUID/CAP_SETGID (cap_drop?): run the container as the postgres user instead (user: \"999:999\"), which needs no capabilities"
	fi
	mkdir -p "$PGDATA" "$socket_dir"
	if [[ -n $(find "$PGDATA" "$socket_dir" -maxdepth 0 ! -user postgres) ]] ||
		[[ -n $(find "$PGDATA" -mindepth 1 ! -user postgres -print -quit) ]]; then
		has_cap 0 || die "$PGDATA or $socket_dir is not owned by postgres and CAP_CHOWN is missing"
		find "$PGDATA" "$socket_dir" ! -user postgres -exec chown postgres:postgres {} +
	fi
	chmod 0700 "$PGDATA"
	chmod 3777 "$socket_dir"
	HOME=/var/lib/postgresql exec setpriv --reuid=postgres --regid=postgres --init-groups -- "${BASH_SOURCE[0]}" "$@"
fi

if [[ ! -d $PGDATA ]]; then
	mkdir -p "$PGDATA" || die "cannot create $PGDATA as $(id -un 2>/dev/null || id -u)"
	chmod 0700 "$PGDATA"
fi
if [[ ! -w $PGDATA ]]; then
	die "$PGDATA is not writable by uid $(id -u); run as root once or chown the volume to 999:999"
fi

initialize() {
	env_or_file POSTGRES_PASSWORD
	env_or_file POSTGRES_USER postgres
	env_or_file POSTGRES_DB "$POSTGRES_USER"
	env_or_file POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"

	if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
		die "the database is not initialized and no superuser password was given.
  Set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (recommended: a secret file),
  or POSTGRES_HOST_AUTH_METHOD=trust to let anyone who can reach the port in
  without a password (never do that outside a throw-away test)."
	fi
	if [[ $POSTGRES_HOST_AUTH_METHOD == trust ]]; then
		log "warning: POSTGRES_HOST_AUTH_METHOD=trust: network clients need no password"
	fi

	log "initializing a new cluster in $PGDATA (superuser \"$POSTGRES_USER\")"
	local -a args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD")
	if [[ -n ${POSTGRES_INITDB_WALDIR-} ]]; then
		args+=(--waldir="$POSTGRES_INITDB_WALDIR")
	fi
	# POSTGRES_INITDB_ARGS is a shell-quoted argument list, as upstream.
	local -a extra=()
	eval "extra=( $POSTGRES_INITDB_ARGS )"
	if [[ -n $POSTGRES_PASSWORD ]]; then
		initdb "${args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") "${extra[@]}"
	else
		initdb "${args[@]}" "${extra[@]}"
	fi

	# Network clients: any address, any database, any role, with a password
	# (scram-sha-256 unless POSTGRES_HOST_AUTH_METHOD says otherwise).
	printf '\n# added by docker-entrypoint.sh\nhost all all all %s\n' \
		"$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

	# A server for the init steps only: no TCP listener, socket in $socket_dir.
	export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
	pg_ctl --pgdata="$PGDATA" --wait --silent \
		--options="-c listen_addresses='' -c unix_socket_directories='$socket_dir'" start

	local -a psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER")
	local exists
	exists=$("${psql[@]}" --dbname postgres --tuples-only --no-align --set db="$POSTGRES_DB" \
		<<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
	if [[ -z $exists ]]; then
		log "creating database \"$POSTGRES_DB\""
		"${psql[@]}" --dbname postgres --quiet --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi

	local -a files=()
	if [[ -d /docker-entrypoint-initdb.d ]]; then
		mapfile -d '' files < <(find /docker-entrypoint-initdb.d -mindepth 1 -maxdepth 1 -print0 | LC_ALL=C sort -z)
	fi
	local f
	for f in "${files[@]}"; do
		case $f in
		*.sh)
			if [[ -x $f ]]; then
				log "running $f"
				"$f"
			else
				log "sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql) log "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" --file "$f" ;;
		*.sql.gz) log "running $f"; gzip -dc "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
		*.sql.xz) log "running $f"; xz -dc "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
		*) log "ignoring $f" ;;
		esac
	done

	pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
	unset PGPASSWORD
	log "initialization complete"
}

# Arguments that only print information (and exit) need no cluster.
for arg in "${@:2}"; do
	case $arg in
	-V | --version | --help | '-?' | --describe-config | -C | -C*) exec "$@" ;;
	esac
done

if [[ -s $PGDATA/PG_VERSION ]]; then
	log "data directory $PGDATA holds a PostgreSQL $(<"$PGDATA/PG_VERSION") cluster; skipping initialization"
else
	initialize
fi

# The password is in the cluster now; the server does not need it in its environment.
unset POSTGRES_PASSWORD
exec "$@"
