package main

import (
	"fmt"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/internal/cmdline"
)

// defaultConfigDir is the directory a command uses without --config-dir
// and without $SMTPTLS_CONFIG_DIR: commands printed for an admin to run
// name any other one, or they would act on the real gateway.
func defaultConfigDir(h config.Host) string {
	bare := h
	bare.Getenv = func(string) string { return "" }
	d, err := config.ResolveDir("", bare)
	if err != nil {
		return ""
	}
	return d
}

// statusForDir writes the commands status advises with --config-dir.
func statusForDir(st apply.Status, dir string, h config.Host) apply.Status {
	def := defaultConfigDir(h)
	out := make([]string, len(st.NeedsAttention))
	for i, a := range st.NeedsAttention {
		out[i] = cmdline.ForDir(a, dir, def)
	}
	st.NeedsAttention = out
	st.LoadError = cmdline.ForDir(st.LoadError, dir, def)
	return st
}

// resultForDir writes the commands an apply result advises with
// --config-dir.
func resultForDir(r apply.Result, dir string, h config.Host) apply.Result {
	def := defaultConfigDir(h)
	r.Message = cmdline.ForDir(r.Message, dir, def)
	w := make([]string, len(r.Warnings))
	for i, s := range r.Warnings {
		w[i] = cmdline.ForDir(s, dir, def)
	}
	r.Warnings = w
	steps := make([]apply.Step, len(r.Steps))
	for i, s := range r.Steps {
		s.Detail = cmdline.ForDir(s.Detail, dir, def)
		steps[i] = s
	}
	r.Steps = steps
	return r
}

// progressForDir is p with the commands in step details written with
// --config-dir.
func progressForDir(p func(apply.Step), dir string, h config.Host) func(apply.Step) {
	def := defaultConfigDir(h)
	return func(s apply.Step) {
		s.Detail = cmdline.ForDir(s.Detail, dir, def)
		p(s)
	}
}

// runTransaction runs one of apply's transactions (apply, set, rollback)
// for command name and reports it the way each of them does: the steps as
// they happen and the result on stdout, or one JSON object; an environment
// error before any step on stderr. Commands in the output carry
// --config-dir when dir is not the default one.
func runTransaction(e *env, name, dir string, asJSON bool, run func(progress func(apply.Step)) apply.Result) int {
	color := useColor(e.stdout, e.host.Getenv)
	var progress func(apply.Step)
	if !asJSON {
		progress = progressForDir(applyProgress(e.stdout, color, isTerminal(e.stdout)), dir, e.host)
	}
	res := resultForDir(run(progress), dir, e.host)
	if asJSON {
		return writeJSON(e, name, res, applyExit(res))
	}
	if len(res.Steps) == 0 {
		// Stopped before any step (lock held, directory unusable): an
		// environment error, said the way every command says one.
		fmt.Fprintf(e.stderr, "smtptls %s: %s\n", name, res.Message)
		return applyExit(res)
	}
	applyWriteResult(e.stdout, res, color)
	return applyExit(res)
}
