package main

import (
	"context"
	"fmt"
)

// TODO(owner of this file): replace with the real command.
func cmdVerify(ctx context.Context, e *env, args []string) int {
	fmt.Fprintln(e.stderr, "smtptls verify: not built yet")
	return exitUsage
}
