package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/smtptls/smtptls/config"
)

// ReloadResult is the outcome of `smtptls reload`.
type ReloadResult struct {
	OK bool `json:"ok"`
	// Running is false when no listener answers (exit 2).
	Running bool `json:"running"`
	// Refused is true when the gate stopped the reload before the listener
	// was asked: the installed generation would break the gateway.
	Refused  bool      `json:"refused,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
	Forced   bool      `json:"forced,omitempty"`
	Message  string    `json:"message"`

	// Installed is the live generation on disk, the one asked to load.
	Installed string `json:"installed"`
	// Generation and the rest are what the listener serves now.
	Generation  string   `json:"generation"`
	Mode        string   `json:"mode"`
	Listen      string   `json:"listen"`
	Fingerprint string   `json:"fingerprint"`
	Warnings    []string `json:"warnings,omitempty"`
	// EnvironmentError: the listener could not be reached or the
	// directory read (exit 2).
	EnvironmentError bool `json:"environment_error,omitempty"`
}

// Reload asks the running listener to load the live generation, after the
// same gate as apply: a generation that is expired, mismatched, edited by
// hand or otherwise broken is not loaded unless force says so.
func Reload(ctx context.Context, d Deps, dir string, force bool) ReloadResult {
	d = d.withDefaults()
	l, err := config.Load(dir, d.Host)
	if err != nil {
		return ReloadResult{Running: true, Refused: true, Message: "reload refused: " + unreadableMessage(err)}
	}
	res := ReloadResult{Installed: l.Generation}
	if _, probs := gate(d, l); len(probs) > 0 {
		if !force {
			res.Running, res.Refused, res.Problems = true, true, probs
			serving := "what it serves"
			sctx, cancel := context.WithTimeout(ctx, stateTimeout)
			st, err := d.Reloader.State(sctx, dir)
			cancel()
			if err == nil {
				res.Generation, res.Mode, res.Listen, res.Fingerprint = st.Generation, st.Mode, st.Listen, st.Fingerprint
				serving = "generation " + orDefaults(st.Generation)
			}
			res.Message = fmt.Sprintf("reload refused, still serving %s: the installed generation %s would break the gateway: %s. Apply a good configuration with `smtptls apply`, or `smtptls rollback`",
				serving, orDefaults(l.Generation), problemList(probs))
			return res
		}
		res.Forced, res.Problems = true, probs
		res.Warnings = append(res.Warnings, forcedWarning(orDefaults(l.Generation), probs))
	}
	if l.Settings.TargetName() == config.TargetPostfix {
		return reloadPostfix(ctx, d, dir, l, res)
	}
	rctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	out, err := d.Reloader.Reload(rctx, dir)
	if errors.Is(err, ErrNotRunning) {
		res.Message = err.Error()
		res.EnvironmentError = true
		return res
	}
	res.Running = true
	if err != nil {
		res.Message = fmt.Sprintf("the reload request failed: %v", err)
		res.EnvironmentError = true
		return res
	}
	res.OK, res.Message = out.OK, out.Message
	res.Generation, res.Mode, res.Listen, res.Fingerprint = out.Generation, out.Mode, out.Listen, out.Fingerprint
	res.Warnings = append(res.Warnings, out.Warnings...)
	return res
}

func orDefaults(gen string) string {
	if gen == "" {
		return "(defaults)"
	}
	return gen
}
