package hardening

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Subject is one service and what could be read about it.
type Subject struct {
	Name string
	// Service is the compose service; nil when only a Dockerfile and an image are audited.
	Service *Service
	// Dockerfile is nil for a service whose image is built elsewhere.
	Dockerfile *Dockerfile
	// Image is nil when it could not be read; ImageErr says why.
	Image    *Image
	ImageErr error
	// Compose locates compose keys for Where; may be nil.
	Compose *ComposeFile
	// Release is the service's released image index, for the release rules; nil with ReleaseErr
	// set when there is none to read, nil with ReleaseErr nil when the service is not released.
	Release    *Release
	ReleaseErr error
}

// Report is the audit of one service.
type Report struct {
	Service    string   `json:"service"`
	Image      string   `json:"image,omitempty"`
	Dockerfile string   `json:"dockerfile,omitempty"`
	Results    []Result `json:"results"`
}

// Counts tallies the results by status.
func (r Report) Counts() map[Status]int {
	c := map[Status]int{}
	for _, res := range r.Results {
		c[res.Status]++
	}
	return c
}

// Failed reports whether any rule failed without a waiver.
func (r Report) Failed() bool { return r.Counts()[Fail] > 0 }

// FailedRules lists the IDs of the rules that failed.
func (r Report) FailedRules() []string {
	var ids []string
	for _, res := range r.Results {
		if res.Status == Fail {
			ids = append(ids, res.Rule)
		}
	}
	return ids
}

// Audit runs every rule that applies to the subject and applies the policy's waivers.
func Audit(s Subject, p Policy) Report {
	rep := Report{Service: s.Name}
	if s.Dockerfile != nil {
		rep.Dockerfile = s.Dockerfile.Path
		rep.Results = append(rep.Results, CheckDockerfile(s.Dockerfile)...)
	}
	var facts *ImageFacts
	switch {
	case s.Image != nil:
		rep.Image = s.Image.Ref
		for _, r := range CheckImage(s.Image, p) {
			r.Where = s.anchor(r.Where)
			rep.Results = append(rep.Results, r)
		}
		facts = &ImageFacts{User: s.Image.Config.User}
		if h := s.Image.Config.Healthcheck; h != nil {
			facts.Healthcheck = h.Test
		}
	case s.ImageErr != nil:
		rep.Results = append(rep.Results, Result{Rule: "IMG", Scope: ScopeImage, Title: "image readable", Status: Fail,
			Detail: s.ImageErr.Error(), Why: "the image rules need the built image", Where: s.anchor(anchorBase)})
	}
	if s.Service != nil {
		if rep.Image == "" {
			rep.Image = s.Service.Image
		}
		for _, r := range CheckCompose(ComposeInput{Service: s.Service, Image: facts}, p) {
			r.Where = s.composeWhere(r.Where)
			rep.Results = append(rep.Results, r)
		}
	}
	switch {
	case s.Release != nil:
		rep.Results = append(rep.Results, CheckRelease(s.Release)...)
	case s.ReleaseErr != nil:
		rep.Results = append(rep.Results, failRelease("", s.ReleaseErr)...)
	}
	for i, r := range rep.Results {
		w, ok := p.waiver(s.Name, r.Rule)
		switch {
		case !ok:
		case r.Status == Fail:
			rep.Results[i].Status = Waived
			rep.Results[i].Waiver = w.Reason
		default:
			rep.Results[i].Waiver = "not needed, the rule passes: " + w.Reason
		}
	}
	return rep
}

func (s Subject) composeWhere(key string) string {
	if s.Compose == nil {
		return ""
	}
	return s.Compose.Where(s.Name, key)
}

// anchor turns an image finding's anchor into the Dockerfile line that decides it, or, for an
// image built elsewhere, the compose line that names the image.
func (s Subject) anchor(a string) string {
	if s.Dockerfile == nil {
		return s.composeWhere("image")
	}
	final := s.Dockerfile.Final()
	line := final.Line()
	last := func(match func(instructions.Command) bool) {
		for _, c := range final.Commands {
			if match(c) {
				line = cmdLine(c)
			}
		}
	}
	switch a {
	case anchorUser:
		last(func(c instructions.Command) bool { _, ok := c.(*instructions.UserCommand); return ok })
	case anchorEntrypoint:
		last(func(c instructions.Command) bool { _, ok := c.(*instructions.EntrypointCommand); return ok })
	case anchorHealthcheck:
		last(func(c instructions.Command) bool { _, ok := c.(*instructions.HealthCheckCommand); return ok })
	case anchorLabels:
		last(func(c instructions.Command) bool { _, ok := c.(*instructions.LabelCommand); return ok })
	}
	where := fmt.Sprintf("%s:%d", s.Dockerfile.Path, line)
	if a == anchorBase {
		if base := s.runtimeBase(); base != "" {
			where += " (FROM " + base + ")"
		}
	}
	return where
}

// runtimeBase is the base the image was built on: the runtime stage's FROM resolved with the
// build's arguments. (A base.name label may be inherited from the base's own base.)
func (s Subject) runtimeBase() string {
	final := s.Dockerfile.Final()
	if final.From >= 0 {
		return "stage " + s.Dockerfile.Stages[final.From].Name
	}
	if len(final.Bases) > 0 {
		return final.Bases[len(final.Bases)-1]
	}
	return ""
}

// Summary counts the statuses over all reports.
func Summary(reps []Report) string {
	c := map[Status]int{}
	for _, r := range reps {
		for s, n := range r.Counts() {
			c[s] += n
		}
	}
	var parts []string
	for _, s := range []Status{Pass, Warn, Waived, Fail} {
		parts = append(parts, fmt.Sprintf("%d %s", c[s], s))
	}
	return strings.Join(parts, ", ")
}
