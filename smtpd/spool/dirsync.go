package spool

import (
	"fmt"
	"os"
	"sync"
)

// dirSyncer makes directory fsyncs a group commit: a caller needs a sync
// that started after its rename, and one fsync serves every caller that
// was waiting when it started. Under load this halves the journal commits
// per message without weakening what a 250 promises.
type dirSyncer struct {
	dir *os.File // held open by the spool: no open and close per sync

	mu      sync.Mutex
	cond    *sync.Cond
	running bool
	started uint64 // syncs started so far
	done    uint64 // syncs finished (they run one at a time, in order)
	lastErr error  // result of sync number done
}

func newDirSyncer(dir *os.File) *dirSyncer {
	d := &dirSyncer{dir: dir}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// sync returns once a directory fsync that began after the call has
// completed, with its error.
func (d *dirSyncer) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A sync already running may have started before our rename.
	target := d.started + 1
	for d.done < target {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		d.mu.Unlock()
		err := fsyncDir(d.dir)
		d.mu.Lock()
		d.running = false
		d.done, d.lastErr = n, err
		d.cond.Broadcast()
	}
	return d.lastErr
}

func fsyncDir(dir *os.File) error {
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", dir.Name(), err)
	}
	return nil
}
