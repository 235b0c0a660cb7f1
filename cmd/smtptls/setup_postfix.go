package main

import (
	"context"
	"time"

	"github.com/smtptls/smtptls/postfix"
)

// postfixFound tells the wizard about the Postfix installed here, so that
// on a fresh install it can ask which server to configure.
func postfixFound(e *env) func(ctx context.Context) (string, bool) {
	return func(ctx context.Context) (string, bool) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		f, err := postfix.New("").Describe(ctx, e.host.Root)
		if err != nil {
			return "", false // no postconf: no Postfix to offer
		}
		return f.Summary(e.now()), true
	}
}
