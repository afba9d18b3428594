package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadEmbedded(t *testing.T) {
	ms, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 4 {
		t.Fatalf("%d migrations, want the 4 or more in postgres.Migrations", len(ms))
	}
	for i, m := range ms {
		if m.Version != int64(i+1) {
			t.Fatalf("migration %d is %s, version %d", i, m.File, m.Version)
		}
	}
	for _, m := range ms {
		if strings.Contains(m.Up, "DROP TABLE vote_history") || strings.Contains(m.Up, "DROP TRIGGER") {
			t.Errorf("%s: the Up section holds the Down section", m.File)
		}
	}
	if !strings.Contains(ms[1].Up, "CREATE TRIGGER votes_totals_truncate") {
		t.Errorf("%s: the Up section is cut short", ms[1].File)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"no version":     {"votes.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}},
		"no Up":          {"00001_a.sql": {Data: []byte("SELECT 1;\n")}},
		"empty Up":       {"00001_a.sql": {Data: []byte("-- +goose Up\n-- +goose Down\nSELECT 1;\n")}},
		"same version":   {"00001_a.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}, "1_b.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}},
		"no transaction": {"00001_a.sql": {Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\n")}},
	}
	for name, fsys := range cases {
		if _, err := load(fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}
