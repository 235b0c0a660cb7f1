package main

import (
	"context"
	"fmt"
)

// TODO(owner of this file): replace with the real command.
func cmdStatus(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.stderr, "smtptls status: not built yet")
	return exitUsage
}
