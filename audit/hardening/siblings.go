package hardening

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// differsMarker starts a block a service's Dockerfile may have to itself: the comment line, the
// comments after it and the next instruction with its continuation lines.
const differsMarker = "# differs:"

// siblingRule: the service Dockerfiles are one file apart from what each marks as its own.
var siblingRule = Rule{ID: "DF015", Scope: ScopeDockerfile,
	Title: "the service Dockerfiles differ only where they say",
	Why:   "each Dockerfile reads on its own, so a practice fixed in one is easily missed in the others; marked differences keep them one file",
	Fix:   `make the line the same as in the other services' Dockerfiles, or put a "# differs: <why>" comment before the instruction that must differ`}

// normalizeSibling is a Dockerfile with the service's name replaced and its marked blocks
// reduced to the marker, as numbered lines.
func normalizeSibling(service, src string) []numberedLine {
	word := regexp.MustCompile(`\b` + regexp.QuoteMeta(service) + `\b`)
	var out []numberedLine
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), differsMarker) {
			out = append(out, numberedLine{i + 1, differsMarker})
			// Comments up to the instruction, then the instruction and its continuations.
			for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "#") {
				i++
			}
			for i+1 < len(lines) {
				i++
				if !strings.HasSuffix(strings.TrimRight(lines[i], " \t"), `\`) {
					break
				}
			}
			continue
		}
		out = append(out, numberedLine{i + 1, word.ReplaceAllString(l, "SERVICE")})
	}
	return out
}

type numberedLine struct {
	n    int
	text string
}

func joinLines(ls []numberedLine) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// CheckSiblingDockerfiles compares the Dockerfiles of several services (service name → path and
// source). The form most of them share is the reference; a Dockerfile that departs from it outside
// its marked blocks fails at the first line that does.
func CheckSiblingDockerfiles(files map[string][2]string) map[string]Result {
	norm := map[string][]numberedLine{}
	count := map[string]int{}
	for svc, f := range files {
		norm[svc] = normalizeSibling(svc, f[1])
		count[joinLines(norm[svc])]++
	}
	// The reference: the most common form (ties broken by the alphabetically first service).
	var ref string
	best := 0
	for _, svc := range slices.Sorted(maps.Keys(files)) {
		if c := count[joinLines(norm[svc])]; c > best {
			ref, best = svc, c
		}
	}
	res := map[string]Result{}
	for svc, f := range files {
		r := Result{Rule: siblingRule.ID, Scope: siblingRule.Scope, Title: siblingRule.Title, Why: siblingRule.Why, Where: f[0]}
		if best < 2 && len(files) > 1 {
			r.Status, r.Detail = Fail, "no two service Dockerfiles are alike outside their \"# differs:\" blocks"
			res[svc] = r
			continue
		}
		a, b := norm[svc], norm[ref]
		diff := -1
		for i := 0; i < max(len(a), len(b)); i++ {
			if i >= len(a) || i >= len(b) || a[i].text != b[i].text {
				diff = i
				break
			}
		}
		if diff < 0 {
			r.Status = Pass
			r.Detail = fmt.Sprintf("the same as %d other service Dockerfiles outside its %d \"# differs:\" blocks", best-1, strings.Count(joinLines(a), differsMarker))
			res[svc] = r
			continue
		}
		line, have, want := 0, "(end of file)", "(end of file)"
		if diff < len(a) {
			line, have = a[diff].n, a[diff].text
		} else if len(a) > 0 {
			line = a[len(a)-1].n
		}
		if diff < len(b) {
			want = b[diff].text
		}
		r.Status = Fail
		r.Where = fmt.Sprintf("%s:%d", f[0], line)
		r.Detail = fmt.Sprintf("unmarked difference from %s: %q where the others have %q", files[ref][0], have, want)
		res[svc] = r
	}
	return res
}
