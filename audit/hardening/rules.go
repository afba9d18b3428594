// Package hardening checks a service's Dockerfile, its built image, its compose service and its
// released image index against the project's container hardening rules. Every rule has a stable
// ID (DF… for Dockerfiles, IMG… for images, CMP… for compose services, REL… for releases), a one-line reason and a place to fix it; exceptions are
// listed once, in the Policy, and reported as waived, never skipped.
package hardening

import (
	"fmt"
	"strings"
)

// Status is the outcome of one rule for one service.
type Status string

const (
	Pass   Status = "pass"
	Warn   Status = "warn"
	Fail   Status = "fail"
	Waived Status = "waived"
)

// Scope says what a rule reads.
type Scope string

const (
	ScopeDockerfile Scope = "Dockerfile"
	ScopeImage      Scope = "image"
	ScopeCompose    Scope = "compose"
)

// Rule is the description of a check, the same for every service.
type Rule struct {
	ID    string `json:"id"`
	Scope Scope  `json:"scope"`
	Title string `json:"title"`
	Why   string `json:"why"`
	// Fix says where a failure is fixed in general; a Result's Where names the file and line.
	Fix string `json:"fix"`
}

// Finding is what a check saw. Where is "file:line" when the check knows it; Anchor names a place
// the service resolves to a file and line (see anchors).
type Finding struct {
	Status Status
	Detail string
	Line   int
	Anchor string
	// Key is the compose key the finding is about, looked up in the compose file for Where.
	Key string
}

func pass(format string, a ...any) Finding {
	return Finding{Status: Pass, Detail: fmt.Sprintf(format, a...)}
}
func warn(format string, a ...any) Finding {
	return Finding{Status: Warn, Detail: fmt.Sprintf(format, a...)}
}
func fail(format string, a ...any) Finding {
	return Finding{Status: Fail, Detail: fmt.Sprintf(format, a...)}
}

func (f Finding) at(line int) Finding        { f.Line = line; return f }
func (f Finding) near(anchor string) Finding { f.Anchor = anchor; return f }
func (f Finding) key(k string) Finding       { f.Key = k; return f }

// Result is one row of a service's table.
type Result struct {
	Rule   string `json:"rule"`
	Scope  Scope  `json:"scope"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Why    string `json:"why"`
	Where  string `json:"where,omitempty"`
	// Waiver is the reason from the Policy when the rule failed and is waived for this service.
	Waiver string `json:"waiver,omitempty"`
}

// Catalogue lists every rule, in ID order.
func Catalogue() []Rule {
	var rules []Rule
	for _, r := range dockerfileRules() {
		rules = append(rules, r.Rule)
	}
	rules = append(rules, siblingRule)
	for _, r := range imageRules() {
		rules = append(rules, r.Rule)
	}
	for _, r := range composeRules() {
		rules = append(rules, r.Rule)
	}
	for _, r := range releaseRules() {
		rules = append(rules, r.Rule)
	}
	return rules
}

// RuleByID finds a rule of the catalogue.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Catalogue() {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// secretName reports whether an environment or build argument name looks like it holds a secret.
// A name ending in _FILE holds the path of one, which is how secrets should be passed.
func secretName(name string) bool {
	n := strings.ToUpper(name)
	if strings.HasSuffix(n, "_FILE") {
		return false
	}
	for _, w := range []string{"PASSWORD", "PASSWD", "TOKEN", "SECRET", "CREDENTIAL"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	for part := range strings.SplitSeq(n, "_") {
		if strings.HasSuffix(part, "KEY") {
			return true
		}
	}
	return false
}
