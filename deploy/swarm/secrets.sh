#!/usr/bin/env bash
# deploy/swarm/secrets.sh — write the files stack.yml turns into Swarm secrets.
#
#   deploy/swarm/secrets.sh [DIR]      (default: deploy/swarm/secrets next to this script)
#
# The same files and rules as for compose (deploy/compose/secrets.sh does the work): random
# passwords made once and never overwritten, the Redis ACL derived from them. The files are
# ignored by git; never commit them. Keep them: the volumes are initialised with these passwords.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=${1:-"$here/secrets"}
"$here/../compose/secrets.sh" "$dir"

# Swarm refuses an empty secret. The analyzer's key for a model endpoint is empty unless you put
# one in; a lone newline reads as no key (a secret file's trailing newline is not part of it).
if [[ ! -s $dir/llm_api_key.txt ]]; then
	printf '\n' >"$dir/llm_api_key.txt"
fi
