package hardening

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// A rule that cannot fail checks nothing: every rule of the catalogue has a bad input in the
// tables above that makes it fail (or, for the advisory rules, warn), and the good inputs pass it.
func TestEveryRuleHasABadInput(t *testing.T) {
	bad := map[string]bool{}
	for _, c := range dockerfileCases() {
		bad[c.rule] = true
	}
	for _, c := range imageCases() {
		bad[c.rule] = true
	}
	for _, c := range composeCases() {
		bad[c.rule] = true
	}
	for _, c := range releaseCases() {
		bad[c.rule] = true
	}
	// DF015 compares the service Dockerfiles with each other: TestSiblingDockerfilesBroken.
	bad[siblingRule.ID] = true
	seen := map[string]bool{}
	for _, r := range Catalogue() {
		if seen[r.ID] {
			t.Errorf("rule ID %s used twice", r.ID)
		}
		seen[r.ID] = true
		if !bad[r.ID] {
			t.Errorf("%s (%s) has no bad input in the tests", r.ID, r.Title)
		}
		if r.Title == "" || r.Why == "" || r.Fix == "" {
			t.Errorf("%s lacks a title, a reason or a fix", r.ID)
		}
	}
}

func TestPolicyWaiversNameRules(t *testing.T) {
	for _, w := range DefaultPolicy().Waivers {
		if _, ok := RuleByID(w.Rule); !ok {
			t.Errorf("waiver for %s names unknown rule %s", w.Service, w.Rule)
		}
		if w.Reason == "" {
			t.Errorf("waiver %s/%s has no reason", w.Service, w.Rule)
		}
	}
}

func TestAuditWaivers(t *testing.T) {
	p, raw := loadProject(t)
	cfg := goodConfig()
	cfg.User = "" // the image runs as root, as the database images do
	img := image(t, cfg, goodLayers(t)...)
	policy := testPolicy()
	policy.Waivers = []Waiver{
		{Service: "db", Rule: "IMG001", Reason: "compose sets the user"},
		{Service: "db", Rule: "IMG002", Reason: "not needed"},
	}
	rep := Audit(Subject{Name: "db", Service: p.Services["db"], Image: img}, policy)
	if rep.Failed() {
		t.Errorf("failed %v; the only failure is waived", rep.FailedRules())
	}
	r := result(t, rep.Results, "IMG001")
	if r.Status != Waived || r.Waiver != "compose sets the user" {
		t.Errorf("IMG001 %s, waiver %q; want waived with the reason", r.Status, r.Waiver)
	}
	if r := result(t, rep.Results, "IMG002"); r.Status != Pass || !strings.Contains(r.Waiver, "not needed, the rule passes") {
		t.Errorf("IMG002 %s, waiver %q; want pass and the waiver reported as unused", r.Status, r.Waiver)
	}
	var text bytes.Buffer
	if err := WriteText(&text, []Report{rep}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "waived: compose sets the user") {
		t.Errorf("the table does not show the waiver:\n%s", text.String())
	}

	// The same failure on a service without a waiver fails the audit.
	svc := withFragment(t, raw["vote"], "vote", `{}`)
	rep = Audit(Subject{Name: "vote", Service: svc, Image: img}, policy)
	if got := rep.FailedRules(); !slices.Equal(got, []string{"IMG001", "CMP012"}) {
		t.Errorf("failed %v, want IMG001 and CMP012", got)
	}
}

func TestAuditMissingImage(t *testing.T) {
	p, _ := loadProject(t)
	rep := Audit(Subject{Name: "vote", Service: p.Services["vote"], ImageErr: errors.New("no such image")}, DefaultPolicy())
	r := result(t, rep.Results, "IMG")
	if r.Status != Fail {
		t.Errorf("missing image: %s, want fail", r.Status)
	}
	// Without the image the compose rules that need it cannot pass, and say so.
	if r := result(t, rep.Results, "CMP012"); r.Status != Warn {
		t.Errorf("CMP012 without the image: %s, want warn", r.Status)
	}
}

func TestAuditWhere(t *testing.T) {
	d, err := ParseDockerfile("app/Dockerfile", []byte(goodDockerfile), map[string]string{"RUNTIME_IMAGE": "voting-offline/static:nonroot"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := goodConfig()
	cfg.User = "root"
	img := image(t, cfg, append(goodLayers(t), layer(t, dirEntry("bin/"), file("bin/sh", 0o755, "\x7fELF")))...)
	cf, err := ParseComposeFile("compose.yml", []byte(composeYAML))
	if err != nil {
		t.Fatal(err)
	}
	_, raw := loadProject(t)
	svc := withFragment(t, raw["vote"], "vote", `{"read_only": false}`)
	rep := Audit(Subject{Name: "vote", Service: svc, Dockerfile: d, Image: img, Compose: cf}, DefaultPolicy())
	for rule, want := range map[string]string{
		"IMG001": "app/Dockerfile:19",
		"IMG002": "app/Dockerfile:15 (FROM voting-offline/static:nonroot)",
		"IMG007": "app/Dockerfile:21",
		"CMP001": "compose.yml:3",
		"CMP010": "compose.yml:12",
	} {
		if got := result(t, rep.Results, rule).Where; got != want {
			t.Errorf("%s where %q, want %q", rule, got, want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	p, _ := loadProject(t)
	rep := Audit(Subject{Name: "vote", Service: p.Services["vote"], ImageErr: errors.New("no such image")}, DefaultPolicy())
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Report{rep}, DefaultPolicy()); err != nil {
		t.Fatal(err)
	}
	var out struct {
		OK       bool `json:"ok"`
		Services []struct {
			Results []Result `json:"results"`
		} `json:"services"`
	}
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.OK || len(out.Services) != 1 || len(out.Services[0].Results) == 0 {
		t.Errorf("JSON: ok %v, %d services; want a failing report with results", out.OK, len(out.Services))
	}
}

func dirEntry(name string) entry { return dir(name, 0o755) }
