package main

import "time"

// results is everything one run measured. It is written to out/bench/results.json, and the report
// is rendered from it alone, so -from can render it again.
type results struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"` // the whole run, builds included
	Revision string    `json:"revision"`
	Host     host      `json:"host"`
	Flags    []string  `json:"flags"` // the command line, for the report's reproduction commands
	// Load is the 1-minute load average when each section started.
	Load map[string]float64 `json:"load"`

	Micro     *microResult      `json:"micro,omitempty"`
	Profiles  *profileResult    `json:"profiles,omitempty"`
	Vote      *voteResult       `json:"vote,omitempty"`
	Drain     *drainResult      `json:"drain,omitempty"`
	E2E       []e2eResult       `json:"e2e,omitempty"`
	FanOut    *fanOutResult     `json:"fanout,omitempty"`
	Footprint *footprintResult  `json:"footprint,omitempty"`
	Failures  map[string]string `json:"failures,omitempty"` // section → why it did not finish
	// ResultMemLimit is result's mem_limit in docker-compose.yml, read when the report is written.
	ResultMemLimit string `json:"-"`
}

type host struct {
	NumCPU   int    `json:"num_cpu"`
	Go       string `json:"go"`
	Postgres string `json:"postgres"`
	Redis    string `json:"redis"`
	Docker   string `json:"docker,omitempty"`
	Kernel   string `json:"kernel"`
}

// loadgenReport is the part of the load tool's -json report the benchmark uses.
type loadgenReport struct {
	Seconds           float64          `json:"seconds"`
	Sent              int64            `json:"sent"`
	Accepted          int64            `json:"accepted"`
	Rejected          int64            `json:"rejected"`
	Unknown           int64            `json:"unknown"`
	Throughput        float64          `json:"throughput"`
	AcceptedPerSecond float64          `json:"accepted_per_second"`
	Errors            map[string]int64 `json:"errors"`
	Latency           struct {
		P50  float64 `json:"p50_ms"`
		P90  float64 `json:"p90_ms"`
		P99  float64 `json:"p99_ms"`
		P999 float64 `json:"p99_9_ms"`
		Max  float64 `json:"max_ms"`
	} `json:"latency"`
}

// voteResult is benchmark 1: the vote service and the ceiling under the same closed-loop load.
type voteResult struct {
	Concurrency int          `json:"concurrency"`
	Duration    float64      `json:"duration_s"`
	Trials      []voteTrial  `json:"trials"`
	Servers     []voteServer `json:"servers"` // medians over the trials, one per server
	Command     string       `json:"command"` // the load tool's command line
}

type voteTrial struct {
	Server string        `json:"server"`
	Trial  int           `json:"trial"`
	Load   loadgenReport `json:"load"`
	CPU    cpuShare      `json:"cpu"`
	RSS    memStats      `json:"rss"` // of the server process
}

type voteServer struct {
	Server     string  `json:"server"`
	What       string  `json:"what"`
	Throughput float64 `json:"throughput"` // accepted votes/s, median of the trials
	// Ratio to the ceiling: the median over trials of this server's throughput divided by the
	// ceiling's in the same trial, so that load from outside that drifts between trials cancels.
	Ratio  float64 `json:"ratio"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	P999   float64 `json:"p99_9_ms"`
	Errors int64   `json:"errors"` // not accepted, all trials
	// Cores used on average, median of the trials: the server, Redis, the load tool, the rest.
	CPU map[string]float64 `json:"cpu"`
	RSS int64              `json:"rss_max"`
}

// drainResult is benchmark 2: the worker emptying a preloaded stream, and the same SQL fed directly.
type drainResult struct {
	Entries   int              `json:"entries"`
	Voters    int              `json:"voters"`
	BatchSize int              `json:"batch_size"`
	Runs      []drainRun       `json:"runs"`
	Preload   float64          `json:"preload_s"` // seconds to cast the entries onto the inbox (pipelined)
	Expected  map[string]int64 `json:"expected"`
}

type drainRun struct {
	Name     string   `json:"name"`    // worker or ceiling
	Durable  bool     `json:"durable"` // fsync and synchronous_commit on
	Seconds  float64  `json:"seconds"`
	VotesPS  float64  `json:"votes_per_s"`
	Exact    bool     `json:"exact"` // votes, vote_totals and vote_history as expected afterwards
	Problems []string `json:"problems,omitempty"`
	CPU      cpuShare `json:"cpu"`
	RSS      memStats `json:"rss"` // the worker process (none for the ceiling)
}

// e2eResult is benchmark 3: votes at a steady rate through vote, worker and result, timed from each
// vote's 303 to the first tally event on an SSE stream that provably includes it.
type e2eResult struct {
	Name        string              `json:"name"`
	Settings    string              `json:"settings"` // what differs from the defaults
	Rate        float64             `json:"rate"`
	Seconds     float64             `json:"seconds"`
	Accepted    int                 `json:"accepted"`
	Failed      int                 `json:"failed"`
	Matched     int                 `json:"matched"`      // votes found in a tally event
	Events      int                 `json:"events"`       // tally events seen on the stream
	OffBoundary int                 `json:"off_boundary"` // events whose total was not a commit boundary (should be 0)
	Batches     int                 `json:"batches"`      // worker transactions that carried the votes
	Visible     latencySummary      `json:"visible"`      // 303 → tally event
	HTTP        latencySummary      `json:"http"`         // schedule → 303 (open loop)
	Commit      latencySummary      `json:"commit"`       // 303 → commit of the vote's transaction
	CPU         cpuShare            `json:"cpu"`
	RSS         map[string]memStats `json:"rss"`
	MaxLag      float64             `json:"max_lag_ms"`    // most a vote was sent after it was due
	QueriesPS   float64             `json:"queries_per_s"` // tally queries the result service made
}

// fanOutResult is benchmark 4: one result instance holding many streams while votes flow.
type fanOutResult struct {
	Streams     int            `json:"streams"`
	Seconds     float64        `json:"seconds"`
	Rate        float64        `json:"rate"`
	OpenSeconds float64        `json:"open_s"` // time to open every stream
	QueriesPS   float64        `json:"queries_per_s"`
	EventsPS    float64        `json:"events_per_s"`
	Dropped     float64        `json:"updates_dropped"` // tallies a slow stream skipped
	Lag         latencySummary `json:"lag"`             // each delivery after the first of the same tally
	Deliveries  int            `json:"deliveries"`
	Tallies     int            `json:"tallies"` // distinct tallies published in the window
	Missed      int            `json:"missed"`  // (stream, tally) pairs never delivered: skipped for a newer one
	Visible     latencySummary `json:"visible"` // 303 → first stream to show the vote
	CPU         cpuShare       `json:"cpu"`
	RSS         memStats       `json:"rss"`      // result process under load
	RSSIdle     int64          `json:"rss_idle"` // result before the streams opened
	Goroutines  float64        `json:"goroutines"`
}

// footprintResult is benchmark 5.
type footprintResult struct {
	// Resident set of each service started as a process and left idle for a moment, bytes.
	Idle map[string]int64 `json:"idle"`
	// The same, split into the process's own memory and its binary's pages.
	IdleSplit map[string]resident `json:"idle_split"`
	// Start to ready of each binary (exec to first ready /readyz), seconds.
	Ready map[string]float64 `json:"ready"`
	// Under load: service → benchmark → peak resident set, bytes.
	Loaded map[string]map[string]int64 `json:"loaded"`
	// Compose: `docker compose up` of the service until its healthcheck reports healthy, seconds.
	Healthy     map[string]float64 `json:"healthy,omitempty"`
	HealthEvery string             `json:"health_interval,omitempty"`
	// Container memory as docker stats reports it, idle after healthy, bytes.
	Container map[string]int64 `json:"container,omitempty"`
	// Image sizes, bytes, and where they came from.
	Images      map[string]int64 `json:"images,omitempty"`
	ImageSource string           `json:"image_source,omitempty"`
	ComposeNote string           `json:"compose_note,omitempty"`
}

// microResult is benchmark 6: go test -bench, medians over -count runs.
type microResult struct {
	Count      int         `json:"count"`
	Benchtime  string      `json:"benchtime"`
	Benchmarks []benchLine `json:"benchmarks"`
}

type benchLine struct {
	Package string             `json:"package"`
	Name    string             `json:"name"`
	NsOp    float64            `json:"ns_op"`
	BOp     float64            `json:"b_op"`
	Allocs  float64            `json:"allocs_op"`
	Extra   map[string]float64 `json:"extra,omitempty"`
	Command string             `json:"command"`
}

// profileResult: pprof CPU and allocation profiles of benchmarks 1 and 2, summarised.
type profileResult struct {
	Profiles []profile `json:"profiles"`
}

type profile struct {
	Name    string    `json:"name"` // vote-cpu, vote-alloc, worker-cpu, worker-alloc
	Path    string    `json:"path"`
	Command string    `json:"command"`
	Total   string    `json:"total"`
	Top     []topLine `json:"top"`
}

type topLine struct {
	Flat    string  `json:"flat"`
	FlatPct float64 `json:"flat_pct"`
	Cum     string  `json:"cum"`
	CumPct  float64 `json:"cum_pct"`
	Func    string  `json:"func"`
}
