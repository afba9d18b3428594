package main

import (
	"bytes"
	"strconv"
	"strings"
	"time"
)

// event is one Server-Sent Event.
type event struct {
	ID   string
	Name string // empty: the default "message" event
	Data string
}

// encode writes the event in the text/event-stream format. Every line of Data becomes its own
// "data:" line, which the browser joins again with "\n" (a raw line break inside one field would end
// it early), and the blank line at the end is what makes the browser dispatch the event.
func (e event) encode() []byte {
	var b bytes.Buffer
	if e.ID != "" {
		writeField(&b, "id", e.ID)
	}
	if e.Name != "" {
		writeField(&b, "event", e.Name)
	}
	// The SSE grammar ends a line at CRLF, LF or CR alike.
	data := strings.ReplaceAll(strings.ReplaceAll(e.Data, "\r\n", "\n"), "\r", "\n")
	for _, line := range strings.Split(data, "\n") {
		writeField(&b, "data", line)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// writeField writes "name: value". A line break inside id or event would start a bogus field in
// the browser, so line breaks are dropped from them.
func writeField(b *bytes.Buffer, name, value string) {
	b.WriteString(name)
	b.WriteString(": ")
	b.WriteString(strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, value))
	b.WriteByte('\n')
}

// retryAfter tells the browser how long to wait before reconnecting once the stream ends. It is a
// message of its own: with no data line it sets the delay without dispatching an event.
func retryAfter(d time.Duration) []byte {
	return []byte("retry: " + strconv.FormatInt(d.Milliseconds(), 10) + "\n\n")
}

// comment returns an SSE comment: browsers ignore it, proxies see traffic and keep the connection
// open.
func comment(text string) []byte {
	return []byte(": " + text + "\n\n")
}
