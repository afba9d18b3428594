#!/usr/bin/env bash
# Roles of the voting app, created once, when the postgres image initialises an empty data volume
# (it runs /docker-entrypoint-initdb.d/* as the superuser, over the Unix socket, before the server
# listens on the network). Passwords come from the secret files; to change one later, use
# ALTER ROLE ... PASSWORD and then replace the file.
#
#   worker     owns the schema: creates the tables by running the migrations, writes votes.
#   result     reads (pg_read_all_data): SELECT on every table, nothing else.
#   analyzer   reads, like result.
#
# PUBLIC loses CONNECT and TEMPORARY on the databases and everything on schema public, so a role
# can do only what is granted here.
set -Eeuo pipefail

for f in db_worker_password db_result_password db_analyzer_password; do
	if [[ ! -s /run/secrets/$f ]]; then
		echo "10-roles.sh: /run/secrets/$f is missing or empty (run deploy/compose/secrets.sh)" >&2
		exit 1
	fi
done

# Passwords are read by psql itself (\set with backquotes), so they never appear in a command line.
psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	--set db="$POSTGRES_DB" <<'SQL'
\set worker_pw `cat /run/secrets/db_worker_password`
\set result_pw `cat /run/secrets/db_result_password`
\set analyzer_pw `cat /run/secrets/db_analyzer_password`

REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

CREATE ROLE worker LOGIN PASSWORD :'worker_pw';
GRANT CONNECT ON DATABASE :"db" TO worker;
GRANT USAGE, CREATE ON SCHEMA public TO worker;

CREATE ROLE result LOGIN PASSWORD :'result_pw' IN ROLE pg_read_all_data;
CREATE ROLE analyzer LOGIN PASSWORD :'analyzer_pw' IN ROLE pg_read_all_data;
GRANT CONNECT ON DATABASE :"db" TO result, analyzer;
GRANT USAGE ON SCHEMA public TO result, analyzer;
-- Sessions also start read-only: a stray write from the services' own code fails even if a
-- privilege is granted by mistake later. Only a default (a session may SET it off): the wall is
-- the privileges above (pg_read_all_data, no CREATE), which the compose test probes past it.
ALTER ROLE result SET default_transaction_read_only = on;
ALTER ROLE analyzer SET default_transaction_read_only = on;
SQL
echo "10-roles.sh: created roles worker, result, analyzer in database $POSTGRES_DB"
