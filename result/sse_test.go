package main

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestEventEncode(t *testing.T) {
	tests := []struct {
		name string
		ev   event
		want string
	}{
		{"data only", event{Data: "hello"}, "data: hello\n\n"},
		{"all fields", event{ID: "k3", Name: "tally", Data: `{"total":3}`}, "id: k3\nevent: tally\ndata: {\"total\":3}\n\n"},
		{"empty data still dispatches", event{Name: "ping"}, "event: ping\ndata: \n\n"},
		{"LF splits data lines", event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CRLF and CR split too", event{Data: "a\r\nb\rc"}, "data: a\ndata: b\ndata: c\n\n"},
		{"trailing newline kept as empty line", event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"line breaks dropped from id and name", event{ID: "1\n2", Name: "ta\rlly", Data: "x"}, "id: 12\nevent: tally\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.ev.encode())
			if got != tt.want {
				t.Fatalf("encode:\n got %q\nwant %q", got, tt.want)
			}
			// What a browser's parser makes of it is what was meant.
			m, err := readMessage(bufio.NewReader(strings.NewReader(got)))
			if err != nil {
				t.Fatal(err)
			}
			wantData := strings.ReplaceAll(strings.ReplaceAll(tt.ev.Data, "\r\n", "\n"), "\r", "\n")
			if m.Data != wantData {
				t.Errorf("parsed data %q, want %q", m.Data, wantData)
			}
		})
	}
}

func TestRetryAndComment(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"retry in milliseconds", retryAfter(2500 * time.Millisecond), "retry: 2500\n\n"},
		{"comment", comment("heartbeat"), ": heartbeat\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
			m, err := readMessage(bufio.NewReader(strings.NewReader(tt.want)))
			if err != nil {
				t.Fatal(err)
			}
			if m.Data != "" || m.Name != "" {
				t.Fatalf("must not dispatch an event, parsed %+v", m)
			}
		})
	}
}
