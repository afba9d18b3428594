#!/usr/bin/env bash
# deploy/swarm/deploy.sh — deploy (or update) the voting app stack on this swarm.
#
#   deploy/swarm/deploy.sh [--env-file FILE] [--detach] [STACK]    (default stack: voting-app)
#
# It writes the secret files if they are missing (secrets.sh), labels this node as the one that
# keeps the Postgres and Redis volumes if no node has that label yet, and runs
# `docker stack deploy`. Variables of stack.yml come from the environment or from FILE (the
# format of compose's --env-file, e.g. deploy/compose/offline.env for the local stand-in images);
# the environment wins. The images must be on every node that runs them: with a registry,
# REGISTRY_AUTH=1 sends your credentials along and lets each node pull; without one, load them
# on each node and keep the default, which resolves nothing (--resolve-image never).
#
# Without --detach it waits until every service has converged and stayed up for its update
# monitor period (30s), one service after the other: about three minutes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
env_file=
detach=false
while (($#)); do
	case $1 in
	--env-file) env_file=$2; shift 2 ;;
	--detach) detach=true; shift ;;
	-*) echo "usage: $0 [--env-file FILE] [--detach] [STACK]" >&2; exit 2 ;;
	*) break ;;
	esac
done
stack=${1:-voting-app}

if [[ $(docker info --format '{{.Swarm.LocalNodeState}}') != active ]]; then
	echo "$0: this engine is not in a swarm; start one with: docker swarm init" >&2
	exit 1
fi

if [[ -n $env_file ]]; then
	# Only names not already set in the environment.
	while IFS= read -r line; do
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		name=${line%%=*}
		if [[ -z ${!name+set} ]]; then
			export "$name=${line#*=}"
		fi
	done <"$env_file"
fi

export SECRETS_DIR=${SECRETS_DIR:-$here/secrets}
"$here/secrets.sh" "$SECRETS_DIR"

# Postgres and Redis keep their data in local volumes, so they must always run on the same node.
if [[ -z $(docker node ls --quiet --filter node.label=voting-app.store=true) ]]; then
	self=$(docker info --format '{{.Swarm.NodeID}}')
	docker node update --label-add voting-app.store=true "$self" >/dev/null
	echo "deploy.sh: labelled this node ($self) voting-app.store=true: Postgres and Redis run here"
fi

resolve=never
auth=()
if [[ ${REGISTRY_AUTH:-0} == 1 ]]; then
	resolve=always
	auth=(--with-registry-auth)
fi
docker stack deploy --compose-file "$here/stack.yml" --prune --resolve-image "$resolve" \
	"${auth[@]}" --detach="$detach" "$stack"
