package postgres

import "embed"

// Migrations holds the schema as versioned SQL files; package migrations applies them. They are
// here, with the code that reads and writes the tables they make, so that the schema and its use
// change together.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// TotalsChannel is the NOTIFY channel on which the triggers of migrations/00002_vote_totals.sql
// announce a changed tally, on commit. TestTotalsChangeNotifies listens on it for them.
const TotalsChannel = "vote_totals_changed"

// readerTables are the tables the readers query, the newest migration's last: SchemaReady waits for
// all of them. A migration that adds one adds it here.
var readerTables = []string{"votes", "vote_history", "vote_totals", "vote_rollup", "vote_stats", "voter_changes"}
