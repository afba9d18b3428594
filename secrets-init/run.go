package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/go-voting-app/voting-app/platform/app"
	"github.com/go-voting-app/voting-app/platform/config"
)

// run is the whole program: it provisions every share named on the command line and returns.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("secrets-init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/secrets", "directory with the store (root/store) and one directory per share (a volume each)")
	supplied := fs.String("supplied", "/run/secrets", "directory of secrets the operator supplies; a missing directory supplies none")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: secrets-init [flags] SHARE=SECRET[,SECRET...]...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no share named")
	}
	var shares []Share
	for _, a := range fs.Args() {
		sh, err := ParseShare(a)
		if err != nil {
			return err
		}
		shares = append(shares, sh)
	}
	log, err := app.NewLogger(stdout, "secrets-init", config.New(getenv).String("LOG_LEVEL", "info"))
	if err != nil {
		return err
	}
	app.LogStart(log)
	if err := ctx.Err(); err != nil {
		return err
	}
	k := &Keeper{Root: *root, Supplied: *supplied, Log: log.Info}
	if err := k.Provision(shares); err != nil {
		return err
	}
	log.Info("secrets ready", "shares", len(shares))
	return nil
}
