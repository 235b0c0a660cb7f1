package smtpd

import (
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smtptls/smtptls/smtpd/spool"
)

// errInsufficientStorage answers MAIL while the spool's file system is
// below limits.min_free_bytes: a temporary refusal now is better than a
// 451 after the sender has sent the whole message.
var errInsufficientStorage = &smtp.SMTPError{
	Code:         452,
	EnhancedCode: smtp.EnhancedCode{4, 3, 1},
	Message:      "Insufficient system storage",
}

// freeSpaceCheckEvery bounds how often MAIL looks at the file system: one
// statfs a second, whatever the rate of MAIL commands.
const freeSpaceCheckEvery = time.Second

// freeSpace caches whether a spool's file system has room.
type freeSpace struct {
	mu      sync.Mutex
	dir     string
	min     int64
	checked time.Time
	low     bool
}

// low reports whether dir has less than min bytes free, at most one
// statfs per freeSpaceCheckEvery; a failed statfs does not refuse mail
// (the write would say what is wrong).
func (f *freeSpace) isLow(dir string, min int64, now time.Time) bool {
	if min <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if dir == f.dir && min == f.min && now.Sub(f.checked) < freeSpaceCheckEvery {
		return f.low
	}
	free, err := spool.FreeBytes(dir)
	f.dir, f.min, f.checked = dir, min, now
	f.low = err == nil && free < uint64(min)
	return f.low
}

// spoolLow reports whether MAIL must be refused for want of disk space:
// only when mail is spooled (a relay writes nothing here).
func (s *Server) spoolLow(cfg Config) bool {
	if cfg.Relay != nil {
		return false
	}
	return s.free.isLow(cfg.SpoolDir, cfg.Limits.MinFreeBytes, s.opts.Now())
}

// removeLeftovers deletes what a crash left in spool/tmp, at start only:
// at a reload the old generation may still be writing there.
func (s *Server) removeLeftovers(cfg Config) {
	n, err := spool.RemoveLeftovers(cfg.SpoolDir, s.opts.Now())
	if err != nil {
		s.log.Warn("spool: removing leftovers from tmp", "err", err.Error())
	}
	if n > 0 {
		s.log.Info("spool: removed leftovers of an earlier crash from tmp", "files", n, "older_than", spool.LeftoverAge)
	}
}
