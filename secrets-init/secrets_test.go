package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The shares docker-compose.yml asks for.
var composeShares = []Share{
	{"vote", []string{"redis_vote_password"}},
	{"worker", []string{"db_worker_password", "redis_worker_password"}},
	{"result", []string{"db_result_password"}},
	{"analyzer", []string{"db_analyzer_password", "llm_api_key"}},
	{"db", []string{"postgres_password", "db_worker_password", "db_result_password", "db_analyzer_password"}},
	{"redis", []string{"redis_acl"}},
}

var hexPassword = regexp.MustCompile(`^[0-9a-f]{48}$`)

func newKeeper(t *testing.T, root string) *Keeper {
	return &Keeper{Root: root, Log: func(msg string, args ...any) {
		for _, a := range args {
			if s, ok := a.(string); ok && hexPassword.MatchString(s) {
				t.Errorf("log line %q carries a password", msg)
			}
		}
	}}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

// snapshot is every file under root with its content, temporary files included.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[rel] = read(t, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestFirstStart(t *testing.T) {
	root := t.TempDir()
	if err := newKeeper(t, root).Provision(composeShares); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(root, storeDir)
	if m := mode(t, store); m != storeDirMode {
		t.Errorf("store directory mode %v, want %v", m, storeDirMode)
	}
	for _, name := range []string{"postgres_password", "db_worker_password", "db_result_password", "db_analyzer_password",
		"redis_admin_password", "redis_vote_password", "redis_worker_password"} {
		if v := read(t, filepath.Join(store, name)); !hexPassword.MatchString(v) {
			t.Errorf("stored %s is %q, want 48 hex digits", name, v)
		}
		if m := mode(t, filepath.Join(store, name)); m != storeFileMode {
			t.Errorf("stored %s mode %v, want %v", name, m, storeFileMode)
		}
	}
	if v := read(t, filepath.Join(store, "llm_api_key")); v != "" {
		t.Errorf("llm_api_key is %q, want empty until an operator supplies one", v)
	}
	seen := map[string]bool{}
	for _, sh := range composeShares {
		dir := filepath.Join(root, sh.Name)
		if m := mode(t, dir); m != shareDirMode {
			t.Errorf("share %s: directory mode %v, want %v", sh.Name, m, shareDirMode)
		}
		for _, sec := range sh.Secrets {
			path := filepath.Join(dir, sec)
			if m := mode(t, path); m != shareFileMode {
				t.Errorf("%s/%s mode %v, want %v", sh.Name, sec, m, shareFileMode)
			}
			if sec == aclName {
				continue
			}
			if got, want := read(t, path), read(t, filepath.Join(store, sec)); got != want {
				t.Errorf("%s/%s differs from the stored value", sh.Name, sec)
			}
			seen[read(t, path)] = true
		}
		// Only what the share names: the vote service cannot read the database's passwords.
		entries, _ := os.ReadDir(dir)
		if len(entries) != len(sh.Secrets) {
			t.Errorf("share %s has %d files, want %d", sh.Name, len(entries), len(sh.Secrets))
		}
	}
	if len(seen) != 7 { // six passwords and the empty key
		t.Errorf("%d distinct values among the shared secrets, want 7: passwords must differ", len(seen))
	}
	acl := read(t, filepath.Join(root, "redis", aclName))
	sum := sha256.Sum256([]byte(read(t, filepath.Join(store, "redis_vote_password"))))
	if !strings.Contains(acl, "user vote on #"+hex.EncodeToString(sum[:])+" ") {
		t.Errorf("ACL lacks the vote user with the hash of redis_vote_password:\n%s", acl)
	}
}

// TestKeeps: a second run, or a run over secrets stored earlier, changes nothing that is set; a
// supplied value fills only an unset secret and must otherwise agree with the stored one.
func TestKeeps(t *testing.T) {
	shares := []Share{{"worker", []string{"db_worker_password"}}, {"analyzer", []string{"llm_api_key"}}, {"redis", []string{aclName}}}
	tests := []struct {
		name     string
		stored   map[string]string // in the store before the run
		supplied map[string]string
		want     map[string]string // in the store after it
		wantErr  string
	}{
		{name: "stored password kept",
			stored: map[string]string{"db_worker_password": "old"},
			want:   map[string]string{"db_worker_password": "old"}},
		{name: "supplied password on an empty store",
			supplied: map[string]string{"db_worker_password": "mine\n"},
			want:     map[string]string{"db_worker_password": "mine"}},
		{name: "supplied password equal to the stored one",
			stored:   map[string]string{"db_worker_password": "same"},
			supplied: map[string]string{"db_worker_password": "same"},
			want:     map[string]string{"db_worker_password": "same"}},
		{name: "supplied password differs: refused, nothing replaced",
			stored:   map[string]string{"db_worker_password": "old"},
			supplied: map[string]string{"db_worker_password": "new"},
			want:     map[string]string{"db_worker_password": "old"},
			wantErr:  "never replaced"},
		{name: "supplied key fills the empty placeholder",
			stored:   map[string]string{"llm_api_key": ""},
			supplied: map[string]string{"llm_api_key": "sk-1"},
			want:     map[string]string{"llm_api_key": "sk-1"}},
		{name: "empty password replaced",
			stored: map[string]string{"db_worker_password": ""},
			want:   map[string]string{"db_worker_password": "RANDOM"}},
		{name: "empty placeholder kept without a supplied key",
			stored: map[string]string{"llm_api_key": ""},
			want:   map[string]string{"llm_api_key": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, sup := t.TempDir(), t.TempDir()
			os.MkdirAll(filepath.Join(root, storeDir), 0o700)
			for n, v := range tt.stored {
				os.WriteFile(filepath.Join(root, storeDir, n), []byte(v), 0o400)
			}
			for n, v := range tt.supplied {
				os.WriteFile(filepath.Join(sup, n), []byte(v), 0o644)
			}
			k := newKeeper(t, root)
			k.Supplied = sup
			err := k.Provision(shares)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Provision: %v, want error %q", err, tt.wantErr)
			}
			for n, v := range tt.want {
				if got := read(t, filepath.Join(root, storeDir, n)); got != v && !(v == "RANDOM" && hexPassword.MatchString(got)) {
					t.Errorf("stored %s = %q, want %q", n, got, v)
				}
			}
			if err != nil {
				return
			}
			if got, want := read(t, filepath.Join(root, "worker", "db_worker_password")), read(t, filepath.Join(root, storeDir, "db_worker_password")); got != want {
				t.Errorf("share copy %q, stored %q", got, want)
			}
			// And again: nothing moves.
			before := snapshot(t, root)
			if err := k.Provision(shares); err != nil {
				t.Fatal(err)
			}
			after := snapshot(t, root)
			if len(before) != len(after) {
				t.Errorf("second run: %d files, before %d", len(after), len(before))
			}
			for p, v := range before {
				if after[p] != v {
					t.Errorf("second run changed %s", p)
				}
			}
		})
	}
}

// TestShareFollowsStore: a share file that is missing, damaged or has the wrong mode is rewritten
// from the store; the stored password is not.
func TestShareFollowsStore(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(path string) error
	}{
		{"removed", os.Remove},
		{"truncated", func(p string) error { os.Chmod(p, 0o644); return os.WriteFile(p, []byte("ab"), 0o644) }},
		{"writable", func(p string) error { return os.Chmod(p, 0o666) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			root := t.TempDir()
			k := newKeeper(t, root)
			if err := k.Provision(composeShares); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, root)
			if err := damage.do(filepath.Join(root, "vote", "redis_vote_password")); err != nil {
				t.Fatal(err)
			}
			if err := k.Provision(composeShares); err != nil {
				t.Fatal(err)
			}
			if got, want := snapshot(t, root), before; !equalMaps(got, want) {
				t.Errorf("after repair:\n%v\nwant\n%v", got, want)
			}
			if m := mode(t, filepath.Join(root, "vote", "redis_vote_password")); m != shareFileMode {
				t.Errorf("mode %v, want %v", m, shareFileMode)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// failingReader gives n random values, then fails: a run that dies part way through.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("entropy gone")
	}
	r.n--
	for i := range p {
		p[i] = byte(r.n + i)
	}
	return len(p), nil
}

// TestInterrupted: a run that fails part way leaves only whole files (no temporary ones, no empty
// or partial password), and the next run keeps what it stored and completes the rest.
func TestInterrupted(t *testing.T) {
	root := t.TempDir()
	k := newKeeper(t, root)
	k.Rand = &failingReader{n: 3}
	if err := k.Provision(composeShares); err == nil {
		t.Fatal("Provision succeeded without entropy")
	}
	// Stored in name order: three passwords, then the empty key (no entropy needed), then the
	// fourth password fails.
	first := snapshot(t, root)
	if len(first) != 4 {
		t.Errorf("%d files after the failed run, want the 3 passwords and the key made before it failed: %v", len(first), first)
	}
	for p, v := range first {
		if filepath.Base(p) == "llm_api_key" && v == "" {
			continue
		}
		if !hexPassword.MatchString(v) {
			t.Errorf("%s holds %q after the failed run", p, v)
		}
	}
	k.Rand = nil
	if err := k.Provision(composeShares); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, root)
	for p, v := range first {
		if after[p] != v {
			t.Errorf("%s changed after the failed run", p)
		}
	}
}

// TestSweep: temporary files of a killed run are removed once stale; a young one may belong to a
// run going on now and stays.
func TestSweep(t *testing.T) {
	root := t.TempDir()
	k := newKeeper(t, root)
	if err := k.Provision(composeShares); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, "vote", ".redis_vote_password"+tempMark+"1")
	young := filepath.Join(root, storeDir, ".redis_vote_password"+tempMark+"2")
	for _, p := range []string{stale, young} {
		if err := os.WriteFile(p, []byte("half"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	if err := k.Provision(composeShares); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file: %v, want it removed", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("young temporary file: %v, want it kept", err)
	}
}

// TestRace: runs at once agree on every secret and leave one file per secret.
func TestRace(t *testing.T) {
	root := t.TempDir()
	const runs = 8
	var wg sync.WaitGroup
	errs := make([]error, runs)
	for i := range runs {
		wg.Go(func() { errs[i] = newKeeper(t, root).Provision(composeShares) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("run %d: %v", i, err)
		}
	}
	files := snapshot(t, root)
	for p := range files {
		if isTemp(filepath.Base(p)) {
			t.Errorf("temporary file %s left behind", p)
		}
	}
	for _, sh := range composeShares {
		for _, sec := range sh.Secrets {
			if sec == aclName {
				continue
			}
			if got, want := files[filepath.Join(sh.Name, sec)], files[filepath.Join(storeDir, sec)]; got != want {
				t.Errorf("%s/%s %q, stored %q", sh.Name, sec, got, want)
			}
		}
	}
	want, err := RenderACL(aclTemplate, storedValues(t, root))
	if err != nil {
		t.Fatal(err)
	}
	if got := files[filepath.Join("redis", aclName)]; got != string(want) {
		t.Errorf("ACL does not match the stored passwords")
	}
}

func storedValues(t *testing.T, root string) map[string][]byte {
	values := map[string][]byte{}
	for p, v := range snapshot(t, filepath.Join(root, storeDir)) {
		values[p] = []byte(v)
	}
	return values
}

func TestRenderACL(t *testing.T) {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	tests := []struct {
		name, tmpl string
		values     map[string][]byte
		want       string
		wantErr    bool
	}{
		{name: "comments and empty lines dropped",
			tmpl: "# why\n\nuser healthcheck on nopass -@all +ping\n",
			want: "user healthcheck on nopass -@all +ping\n"},
		{name: "placeholder is the SHA-256 of the value",
			tmpl:   "user vote on #{{redis_vote_password}} +@all\n",
			values: map[string][]byte{"redis_vote_password": []byte("pw")},
			want:   "user vote on #" + sum("pw") + " +@all\n"},
		{name: "last line without newline",
			tmpl:   "user a on #{{a_password}} #{{b_password}}",
			values: map[string][]byte{"a_password": []byte("x"), "b_password": []byte("y")},
			want:   "user a on #" + sum("x") + " #" + sum("y") + "\n"},
		{name: "unknown secret",
			tmpl: "user a on #{{a_password}}\n", wantErr: true},
		{name: "empty secret",
			tmpl: "user a on #{{a_password}}\n", values: map[string][]byte{"a_password": {}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderACL([]byte(tt.tmpl), tt.values)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestSecretsShAgrees: deploy/compose/secrets.sh (own-secrets.yml, swarm, Kubernetes) and this
// program render the one template to the same ACL from the same passwords.
func TestSecretsShAgrees(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := filepath.Join(t.TempDir(), "secrets")
	out, err := exec.Command("bash", "../deploy/compose/secrets.sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("secrets.sh: %v\n%s", err, out)
	}
	// The files secrets.sh made, supplied to this program as compose would (NAME, not NAME.txt).
	sup := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".txt")
		if !ok || name == aclName {
			continue
		}
		if err := os.WriteFile(filepath.Join(sup, name), []byte(read(t, filepath.Join(dir, e.Name()))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := t.TempDir()
	k := newKeeper(t, root)
	k.Supplied = sup
	if err := k.Provision(composeShares); err != nil {
		t.Fatal(err)
	}
	got, want := read(t, filepath.Join(root, "redis", aclName)), read(t, filepath.Join(dir, "redis_acl.txt"))
	if got != want {
		t.Errorf("secrets-init's ACL:\n%s\nsecrets.sh's:\n%s", got, want)
	}
	if !strings.Contains(want, "user worker on #") || strings.Contains(want, "{{") {
		t.Errorf("secrets.sh's ACL is not rendered:\n%s", want)
	}
}

func TestParseShare(t *testing.T) {
	tests := []struct {
		in      string
		want    Share
		wantErr bool
	}{
		{in: "vote=redis_vote_password", want: Share{"vote", []string{"redis_vote_password"}}},
		{in: "db=a,b_password", want: Share{"db", []string{"a", "b_password"}}},
		{in: "store=a", wantErr: true},
		{in: "vote", wantErr: true},
		{in: "vote=", wantErr: true},
		{in: "../x=a", wantErr: true},
		{in: "vote=../../etc/passwd", wantErr: true},
		{in: "vote=a,,b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseShare(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if got.Name != tt.want.Name || !bytes.Equal([]byte(strings.Join(got.Secrets, ",")), []byte(strings.Join(tt.want.Secrets, ","))) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRun: the program end to end, as compose runs it, twice.
func TestRun(t *testing.T) {
	root := t.TempDir()
	args := []string{"secrets-init", "-root", root, "-supplied", filepath.Join(root, "none"),
		"vote=redis_vote_password", "redis=redis_acl"}
	var out bytes.Buffer
	if err := run(t.Context(), args, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	first := snapshot(t, root)
	if err := run(t.Context(), args, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !equalMaps(first, snapshot(t, root)) {
		t.Error("second run changed the files")
	}
	if strings.Contains(out.String(), first[filepath.Join(storeDir, "redis_vote_password")]) {
		t.Errorf("a password is in the log:\n%s", out.String())
	}
	if err := run(t.Context(), []string{"secrets-init", "-root", root}, func(string) string { return "" }, &out, io.Discard); err == nil {
		t.Error("run without a share succeeded")
	}
}
