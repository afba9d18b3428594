package proc

import (
	"strings"
	"testing"
)

func TestSumMetric(t *testing.T) {
	text := `# HELP result_tally_queries_total Tally queries.
# TYPE result_tally_queries_total counter
result_tally_queries_total{trigger="connect"} 1
result_tally_queries_total{trigger="notify"} 40
result_tally_queries_total_other 1000
go_goroutines 12
`
	got, err := SumMetric(strings.NewReader(text), "result_tally_queries_total")
	if err != nil || got != 41 {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, _ := SumMetric(strings.NewReader(text), "go_goroutines"); got != 12 {
		t.Fatalf("goroutines %v", got)
	}
	if _, err := SumMetric(strings.NewReader(text), "missing"); err == nil {
		t.Fatal("missing metric found")
	}
}
