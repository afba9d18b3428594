package hardening

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes one table per service, then the summary.
func WriteText(w io.Writer, reps []Report) error {
	for _, rep := range reps {
		fmt.Fprintf(w, "\n== %s%s\n", rep.Service, subtitle(rep))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RULE\tSTATUS\tCHECK\tFINDING\tWHERE TO FIX\tWHY IT MATTERS")
		for _, r := range rep.Results {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Rule, r.Status, r.Title, finding(r), r.Where, r.Why)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict(reps))
	return err
}

// WriteMarkdown writes the same tables in Markdown.
func WriteMarkdown(w io.Writer, reps []Report) error {
	for _, rep := range reps {
		fmt.Fprintf(w, "\n### %s%s\n\n", rep.Service, subtitle(rep))
		fmt.Fprintln(w, "| rule | status | check | finding | where to fix | why it matters |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
		for _, r := range rep.Results {
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Rule, r.Status, mdEscape(r.Title), mdEscape(finding(r)), mdCode(r.Where), mdEscape(r.Why))
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict(reps))
	return err
}

// WriteJSON writes the reports for CI.
func WriteJSON(w io.Writer, reps []Report, p Policy) error {
	out := struct {
		OK       bool     `json:"ok"`
		Summary  string   `json:"summary"`
		Policy   Policy   `json:"policy"`
		Services []Report `json:"services"`
	}{OK: !anyFailed(reps), Summary: Summary(reps), Policy: p, Services: reps}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func anyFailed(reps []Report) bool {
	for _, r := range reps {
		if r.Failed() {
			return true
		}
	}
	return false
}

func verdict(reps []Report) string {
	var failed []string
	for _, r := range reps {
		if r.Failed() {
			failed = append(failed, fmt.Sprintf("%s (%s)", r.Service, strings.Join(r.FailedRules(), " ")))
		}
	}
	if len(failed) > 0 {
		return fmt.Sprintf("audit: FAIL — %s; failing: %s", Summary(reps), strings.Join(failed, ", "))
	}
	return fmt.Sprintf("audit: PASS — %s", Summary(reps))
}

func subtitle(rep Report) string {
	var parts []string
	if rep.Image != "" {
		parts = append(parts, "image "+rep.Image)
	}
	if rep.Dockerfile != "" {
		parts = append(parts, "Dockerfile "+rep.Dockerfile)
	} else if rep.Image != "" {
		parts = append(parts, "built elsewhere: no Dockerfile rules")
	}
	if len(parts) == 0 {
		return ""
	}
	return " — " + strings.Join(parts, ", ")
}

func finding(r Result) string {
	switch {
	case r.Status == Waived:
		return r.Detail + " — waived: " + r.Waiver
	case r.Waiver != "":
		return r.Detail + " (waiver " + r.Waiver + ")"
	}
	return r.Detail
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func mdCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}
