package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/smtptls/smtptls/apply"
	"github.com/smtptls/smtptls/config"
	"github.com/smtptls/smtptls/smtpd"
	"github.com/smtptls/smtptls/smtpd/spool"
)

// listenerReport is what status says about operating the bundled
// listener: its TLS policy, its spool (free space, mail waiting, crash
// leftovers) and its connection pressure.
type listenerReport struct {
	TLSPolicy  string          `json:"tls_policy"`
	Spool      *spool.Report   `json:"spool,omitempty"`
	SpoolError string          `json:"spool_error,omitempty"`
	Pressure   *smtpd.Pressure `json:"pressure,omitempty"`
	// needs are the sentences for NeedsAttention.
	needs []string
}

// listenerStatus builds the report for the installed settings of dir.
func listenerStatus(ctx context.Context, st apply.Status, dir string, now time.Time) listenerReport {
	var r listenerReport
	if st.LoadError != "" || st.Target == config.TargetPostfix {
		return r
	}
	s := st.Settings
	r.TLSPolicy = smtpd.DescribeTLSPolicy(s.TLS)
	if !s.RelayMode() {
		sp := config.Loaded{Dir: dir, Settings: s}.SpoolPath()
		rep, err := spool.Inspect(sp, now)
		if err != nil {
			r.SpoolError = err.Error()
			r.needs = append(r.needs, "the spool cannot be read: "+err.Error())
		} else {
			r.Spool = &rep
			if min := s.Limits.MinFreeBytes; min > 0 && rep.FreeBytes < uint64(min) {
				r.needs = append(r.needs, fmt.Sprintf("the spool's file system has %s free, under limits.min_free_bytes (%s): the listener answers MAIL with 452 4.3.1 until space is freed in %s",
					bytesText(rep.FreeBytes), bytesText(uint64(min)), sp))
			}
		}
	}
	if st.Running {
		if ls, err := smtpd.QueryState(ctx, dir); err == nil && ls.Pressure != nil {
			r.Pressure = ls.Pressure
		}
	}
	return r
}

// writer writes the report as status rows.
func (r listenerReport) writer(color bool, now time.Time) func(io.Writer) {
	return func(w io.Writer) {
		paint := func(code, s string) string {
			if !color {
				return s
			}
			return "\x1b[" + code + "m" + s + "\x1b[0m"
		}
		r.rows(func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k, v) }, paint, now)
	}
}

func (r listenerReport) rows(row func(k, v string), paint func(code, s string) string, now time.Time) {
	if r.TLSPolicy != "" {
		row("tls policy", r.TLSPolicy)
	}
	if sp := r.Spool; sp != nil {
		row("spool free", bytesText(sp.FreeBytes))
		waiting := fmt.Sprintf("%d messages in spool/new", sp.New)
		if sp.OldestNew != nil {
			waiting += fmt.Sprintf(", the oldest %s old", now.Sub(*sp.OldestNew).Round(time.Second))
		}
		row("spool", waiting)
		if sp.TmpLeftovers > 0 {
			row("", paint("33", fmt.Sprintf("%d crash leftovers in spool/tmp (older than %s; removed at the next start)", sp.TmpLeftovers, spool.LeftoverAge)))
		}
	}
	if p := r.Pressure; p != nil {
		conns := fmt.Sprintf("%d of %d", p.Connections, p.MaxConnections)
		if p.Stress {
			since := ""
			if p.StressSince != nil {
				since = " since " + p.StressSince.UTC().Format("15:04:05 UTC")
			}
			row("connections", paint("33", conns+", UNDER STRESS"+since+": idle sessions are closed, timeouts shortened"))
			for _, n := range p.TopNetworks {
				row("", fmt.Sprintf("%s: %d", n.Network, n.Connections))
			}
		} else {
			row("connections", conns)
		}
	}
}

func bytesText(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
