#!/bin/bash
# Entrypoint of voting-offline/redis (written for this project).
#
# Behaves like the upstream redis image's entrypoint:
#   - `-opt ...` or `some.conf ...` as the command means `redis-server <that>`;
#   - redis-server started as root gets /data handed to the redis user and is
#     re-executed as that user (setpriv); started as any other user it runs as is;
#   - without a config file, protected mode is off, as in the upstream image
#     (whose binary is built with that default): inside a container, the bind
#     address and a password (--requirepass) are what protect the server;
#   - umask 0077 unless one other than the default 0022 was set;
#   - the server replaces the shell (exec): PID 1, gets docker stop's SIGTERM,
#     on which redis saves (if persistence is on) and exits.
# Any other command (redis-cli, bash, ...) is run as given.
set -Eeuo pipefail

die() { printf 'docker-entrypoint: error: %s\n' "$*" >&2; exit 1; }

has_cap() {
	local line caps=0
	while read -r line; do
		[[ $line == CapEff:* ]] && caps=$((16#${line##*[[:space:]]}))
	done </proc/self/status
	(((caps >> $1) & 1))
}

if [[ ${1-} == -* || ${1-} == *.conf ]]; then
	set -- redis-server "$@"
fi

if [[ ${1-} == redis-server ]]; then
	if [[ $(id -u) == 0 ]]; then
		# 0 CAP_CHOWN, 6 CAP_SETGID, 7 CAP_SETUID
		if ! has_cap 6 || ! has_cap 7; then
			die "started as root without CAP_SETUID/CAP_SETGID (cap_drop?): run the container as the redis user instead (user: \"999:999\"), which needs no capabilities"
		fi
		if [[ -n $(find . ! -user redis -print -quit) ]]; then
			has_cap 0 || die "$(pwd) is not owned by redis and CAP_CHOWN is missing"
			find . ! -user redis -exec chown redis:redis {} +
		fi
		exec setpriv --reuid=redis --regid=redis --init-groups -- "${BASH_SOURCE[0]}" "$@"
	fi

	# No config file given (the first argument after redis-server is an option,
	# or there is none) and protected-mode not set: turn it off, like upstream.
	# `redis-server -` reads the config from standard input (a config file);
	# --version, --help, --test-memory and --check-system take no config at all.
	case ${2-} in
	- | -v | --version | -h | --help | --test-memory | --check-system) ;;
	"" | -*)
		protected=
		for arg in "$@"; do
			[[ $arg == --protected-mode ]] && protected=yes
		done
		[[ -n $protected ]] || set -- "$@" --protected-mode no
		;;
	esac

	if [[ $(umask) == 0022 ]]; then
		umask 0077
	fi
fi

exec "$@"
