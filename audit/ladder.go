package main

import (
	"context"
	"errors"
	"io"
)

func runLadder(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("ladder: not built yet")
}
