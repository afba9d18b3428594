// Command ceiling is the practical ceiling for the vote service: the least an HTTP server can do
// per vote, one Redis RPUSH of the same entry onto the inbox (queue.Inbox.Cast, as the vote service), with nothing else (no router, cookie checks, metrics,
// logs or pages). The benchmark drives it and vote with the same load in the same run.
//
//	ceiling -addr 127.0.0.1:0 -redis redis://127.0.0.1:6379/0   (prints "listening <addr>")
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
	"github.com/go-voting-app/voting-app/platform/queue"
	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	url := flag.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	stream := flag.String("stream", "votes:stream", "stream key")
	flag.Parse()
	opts, err := redis.ParseURL(*url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	votes := queue.NewInbox(redis.NewClient(opts), *stream)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			return // 200: the load tool's -wait asks GET /
		}
		c, _ := r.Cookie("voter_id")
		voter := ""
		if c != nil {
			voter = c.Value
		}
		err := votes.Cast(r.Context(), queue.Cast{Voter: ballot.VoterID(voter), Option: r.FormValue("vote"), At: time.Now()})
		if err != nil {
			http.Error(w, "queue unavailable", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	}))
}
