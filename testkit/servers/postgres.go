package servers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// InstallPostgres says how to get the server binaries; every error about missing ones ends with it.
const InstallPostgres = "install PostgreSQL (Debian: apt-get install postgresql) or set TEST_POSTGRES_URL " +
	"to a superuser URL such as postgres://postgres:secret@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresServer is a private PostgreSQL server a test can stop and start again.
type PostgresServer struct {
	bin      string // directory with initdb and postgres
	dir      string // data directory and socket directory
	port     int
	cred     *syscall.Credential
	settings PostgresSettings
	cmd      *exec.Cmd
	done     chan error
}

// PostgresSettings tune a server. The zero value is how tests run it: no fsync, no synchronous
// commit, no full-page writes (fast, and nothing to keep after a crash).
type PostgresSettings struct {
	// Durable turns fsync, synchronous_commit and full_page_writes on, as a production server runs.
	Durable bool
	// Params are further server settings, "name=value", such as "track_commit_timestamp=on".
	Params []string
}

// Close stops the server and removes its files.
func (s *PostgresServer) Close() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// URLFor returns the superuser URL of database db on this server.
func (s *PostgresServer) URLFor(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// CreateDatabase makes an empty database and returns its URL.
func (s *PostgresServer) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, s.AdminURL())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URLFor(name), nil
}

// PID is the postmaster's process id; the backends are its children.
func (s *PostgresServer) PID() int { return s.cmd.Process.Pid }

// AdminURL is the superuser URL of the server's postgres database.
func (s *PostgresServer) AdminURL() string { return s.URLFor("postgres") }

// NewPostgres initialises a data directory in a temporary directory and starts a server on a free
// loopback port. The caller must Close it.
func NewPostgres(settings PostgresSettings) (*PostgresServer, error) {
	bin, err := PostgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "testkit-pg-")
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{bin: bin, dir: dir, settings: settings}
	// PostgreSQL refuses to run as root; CI runs tests as root, so the server runs as an
	// unprivileged user that owns the data directory.
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return nil, err
		}
		s.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if s.port, err = FreePort(); err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *PostgresServer) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = ChildAttr(s.cred)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Start starts a stopped server again on the same port with the same data.
func (s *PostgresServer) Start() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	durable := "off"
	if s.settings.Durable {
		durable = "on"
	}
	args := []string{"-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=" + durable, "-c", "synchronous_commit=" + durable, "-c", "full_page_writes=" + durable,
		"-c", "max_connections=300", "-c", "log_min_messages=warning"}
	for _, p := range s.settings.Params {
		args = append(args, "-c", p)
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	s.done = make(chan error, 1)
	go func() { s.done <- cmd.Wait(); logf.Close() }()

	return awaitStart("postgres", s.done, filepath.Join(s.dir, "postgres.log"), 30*time.Second, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, s.AdminURL())
		if err == nil {
			conn.Close(ctx)
		}
		return err
	})
}

// Stop shuts the server down (fast shutdown: clients are disconnected). Start brings it back.
func (s *PostgresServer) Stop() error {
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
	return nil
}

// PostgresBin finds the directory holding initdb and postgres: PATH first, then Debian's
// versioned directories (which are not on PATH), newest version first.
func PostgresBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir = filepath.Dir(real)
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found: " + InstallPostgres)
}

func pgMajor(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// unprivileged returns the credentials of the postgres user, or of nobody.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no postgres or nobody user to run PostgreSQL as")
}
