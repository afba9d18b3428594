package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// aclTemplate is the Redis users file with {{NAME}} where the hash of secret NAME goes.
//
//go:embed redis-users.acl
var aclTemplate []byte

// Names with a meaning of their own. Every other name is a stored secret: a name ending in
// passwordSuffix is made random on first start, any other (llm_api_key) starts empty until an
// operator supplies it.
const (
	aclName        = "redis_acl"
	passwordSuffix = "_password"
	storeDir       = "store"
)

// File modes. The store is for this program alone. A share is read by its service's user (65532,
// or 999 for Postgres and Redis), which owns neither the directory nor, for the stores, the files,
// and mounts it read-only: readable by all, writable by none of them.
const (
	storeDirMode  fs.FileMode = 0o700
	storeFileMode fs.FileMode = 0o400
	shareDirMode  fs.FileMode = 0o755
	shareFileMode fs.FileMode = 0o444
)

// A temporary file older than this was left by a run that died before renaming it; a younger one
// may belong to a run going on now.
const staleTemp = 10 * time.Minute

// Share is what one service may read: a directory (a volume of its own, mounted read-only at
// /run/secrets) with one file per secret.
type Share struct {
	Name    string
	Secrets []string
}

// ParseShare reads NAME=SECRET[,SECRET...], the form of the command line.
func ParseShare(s string) (Share, error) {
	name, list, ok := strings.Cut(s, "=")
	if !ok || !validName(name) || name == storeDir || list == "" {
		return Share{}, fmt.Errorf("share %q: want NAME=SECRET[,SECRET...] with NAME other than %q", s, storeDir)
	}
	sh := Share{Name: name}
	for sec := range strings.SplitSeq(list, ",") {
		if !validName(sec) {
			return Share{}, fmt.Errorf("share %q: secret name %q: want lower-case letters, digits and _", s, sec)
		}
		sh.Secrets = append(sh.Secrets, sec)
	}
	return sh, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9_]+$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// Keeper makes and keeps the secrets of one installation under Root: the store (Root/store, the
// only copy of each secret that counts) and one directory per share with the copies and derived
// files its service reads.
type Keeper struct {
	Root string
	// Supplied is a directory of secrets an operator provides (compose secrets at /run/secrets);
	// a file there named like a secret is taken instead of a random one. "" or missing: none.
	Supplied string
	Rand     io.Reader // crypto/rand.Reader unless a test says otherwise
	Now      func() time.Time
	// Log is told what changed, by name only: never a value.
	Log func(msg string, args ...any)
}

// Provision brings the store and every share up to date. It never replaces a stored secret that
// is set (an empty one counts as unset); share files follow the store. Every file is written to a
// temporary name and renamed, so a reader, or a run that was killed, never sees half a file; two
// runs at once agree, since a stored secret is created with link(2), which fails if the name exists.
func (k *Keeper) Provision(shares []Share) error {
	if err := ensureDir(filepath.Join(k.Root, storeDir), storeDirMode); err != nil {
		return err
	}
	// Every secret a share needs, directly or through the ACL.
	var need []string
	for _, sh := range shares {
		for _, sec := range sh.Secrets {
			if sec == aclName {
				need = append(need, aclSecrets(aclTemplate)...)
			} else {
				need = append(need, sec)
			}
		}
	}
	slices.Sort(need)
	values := map[string][]byte{}
	for _, name := range slices.Compact(need) {
		v, err := k.keep(name)
		if err != nil {
			return err
		}
		values[name] = v
	}
	for _, sh := range shares {
		dir := filepath.Join(k.Root, sh.Name)
		if err := ensureDir(dir, shareDirMode); err != nil {
			return err
		}
		for _, sec := range sh.Secrets {
			content := values[sec]
			if sec == aclName {
				acl, err := RenderACL(aclTemplate, values)
				if err != nil {
					return err
				}
				content = acl
			}
			changed, err := writeShared(dir, sec, content)
			if err != nil {
				return err
			}
			if changed {
				k.Log("wrote", "share", sh.Name, "secret", sec)
			}
		}
		k.sweep(dir)
	}
	k.sweep(filepath.Join(k.Root, storeDir))
	return nil
}

// keep returns the stored value of a secret, creating it first if it is unset.
func (k *Keeper) keep(name string) ([]byte, error) {
	path := filepath.Join(k.Root, storeDir, name)
	supplied, err := k.supplied(name)
	if err != nil {
		return nil, err
	}
	stored, err := os.ReadFile(path)
	exists := err == nil
	switch {
	case exists && len(stored) > 0:
		if supplied != nil && !bytes.Equal(supplied, stored) {
			return nil, conflict(name)
		}
		return stored, nil
	case exists && supplied == nil && !strings.HasSuffix(name, passwordSuffix):
		return stored, nil // an empty key, and nobody supplies one
	case !exists && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}

	value := supplied
	if value == nil {
		value, err = k.generate(name)
		if err != nil {
			return nil, err
		}
	}
	tmp, err := writeTemp(filepath.Dir(path), name, value, storeFileMode)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if exists {
		// Empty: a key's placeholder, replaced by what the operator supplied, or a password no
		// program of ours wrote (they write whole files), replaced by a new one.
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
		k.Log("replaced an empty value", "secret", name)
		return value, syncDir(filepath.Dir(path))
	}
	if err := os.Link(tmp, path); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		// Another run stored it first: theirs counts.
		stored, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if supplied != nil && !bytes.Equal(supplied, stored) {
			return nil, conflict(name)
		}
		return stored, nil
	}
	how := "created"
	if supplied != nil {
		how = "stored the supplied value"
	}
	k.Log(how, "secret", name)
	return value, syncDir(filepath.Dir(path))
}

func conflict(name string) error {
	return fmt.Errorf("secret %s: the supplied value differs from the one stored at first start, which "+
		"the database and queue volumes were initialised with; it is never replaced. To rotate it, change "+
		"it in place first (ALTER ROLE, ACL SETUSER), then remove the store so the supplied files are "+
		"taken again (docker compose rm -f secrets-init; docker volume rm <project>_secrets-store); or "+
		"start afresh with `docker compose down -v` (deletes the votes)", name)
}

// supplied reads the operator's file for a secret, or returns nil when there is none. One
// trailing newline (an editor's) is not part of the value.
func (k *Keeper) supplied(name string) ([]byte, error) {
	if k.Supplied == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(k.Supplied, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("supplied secret %s: %w", name, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	return b, nil
}

// generate makes a secret's first value: 192 random bits in hex for a password (no quoting
// needed in URLs, SQL or the ACL file, as deploy/compose/secrets.sh makes them), else empty.
func (k *Keeper) generate(name string) ([]byte, error) {
	if !strings.HasSuffix(name, passwordSuffix) {
		return []byte{}, nil
	}
	r := k.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 24)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return []byte(hex.EncodeToString(b)), nil
}

// sweep removes temporary files that a killed run left behind.
func (k *Keeper) sweep(dir string) {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !isTemp(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && now().Sub(info.ModTime()) > staleTemp {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

const tempMark = ".tmp-"

func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMark)
}

// writeShared puts content into dir/name unless the file already holds it with the right mode,
// and reports whether it wrote.
func writeShared(dir, name string, content []byte) (bool, error) {
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, content) {
		if info, err := os.Stat(path); err == nil && info.Mode().Perm() == shareFileMode {
			return false, nil
		}
	}
	tmp, err := writeTemp(dir, name, content, shareFileMode)
	if err != nil {
		return false, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, syncDir(dir)
}

// writeTemp writes content to a new temporary file in dir, synced to disk, with the given mode.
func writeTemp(dir, name string, content []byte, mode fs.FileMode) (path string, err error) {
	f, err := os.CreateTemp(dir, "."+name+tempMark+"*")
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(content); err != nil {
		return "", err
	}
	if err := f.Chmod(mode); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// ensureDir creates dir if needed and gives it mode. In a container the directory is a volume's
// root, owned by this program's user through the image (see the Dockerfile).
func ensureDir(dir string, mode fs.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("%w (is the volume's root owned by this user? the image's directory gives it to 65532)", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var placeholder = regexp.MustCompile(`\{\{([a-z0-9_]+)\}\}`)

// aclSecrets lists the secrets the template names.
func aclSecrets(tmpl []byte) []string {
	var names []string
	for _, m := range placeholder.FindAllSubmatch(tmpl, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// RenderACL turns the template into the file Redis loads: comment and empty lines dropped, each
// {{NAME}} replaced by the hex SHA-256 of secret NAME. deploy/compose/secrets.sh does the same in
// shell.
func RenderACL(tmpl []byte, values map[string][]byte) ([]byte, error) {
	var out bytes.Buffer
	for line := range strings.Lines(string(tmpl)) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var missing error
		line = placeholder.ReplaceAllStringFunc(line, func(m string) string {
			name := placeholder.FindStringSubmatch(m)[1]
			v, ok := values[name]
			if !ok || len(v) == 0 {
				missing = fmt.Errorf("redis ACL: secret %s is not set", name)
				return m
			}
			sum := sha256.Sum256(v)
			return hex.EncodeToString(sum[:])
		})
		if missing != nil {
			return nil, missing
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes(), nil
}
