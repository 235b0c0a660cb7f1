package main

import (
	"context"
	"fmt"
)

// TODO(owner of this file): replace with the real command.
func cmdValidate(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.stderr, "smtptls validate: not built yet")
	return exitUsage
}
