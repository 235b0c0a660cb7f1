package config

import (
	"errors"
	"fmt"
	"os"
	"sync"
)

// writeFileSync creates path (which must not exist), writes data and fsyncs
// it before closing, so a generation never holds a file that is named but
// empty after a power cut.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return f.Close()
}

// syncDir fsyncs a directory so the names created, renamed or removed in it
// survive a crash, not just the file contents.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", path, err)
	}
	return nil
}

// pendingFile is one file of a batch for writeFilesSync.
type pendingFile struct {
	path string
	data []byte
	perm os.FileMode
}

// writeFilesSync creates and writes every file, then fsyncs them all at
// once: the file system can commit the batch in one journal transaction
// instead of one per file, which is most of what writing a generation costs.
// Every file is on disk when it returns nil.
func writeFilesSync(files []pendingFile) error {
	handles := make([]*os.File, 0, len(files))
	defer func() {
		for _, f := range handles {
			f.Close()
		}
	}()
	for _, pf := range files {
		f, err := os.OpenFile(pf.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, pf.perm)
		if err != nil {
			return err
		}
		handles = append(handles, f)
		if _, err := f.Write(pf.data); err != nil {
			return fmt.Errorf("write %s: %w", pf.path, err)
		}
	}
	errs := make([]error, len(handles))
	var wg sync.WaitGroup
	for i, f := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.Sync(); err != nil {
				errs[i] = fmt.Errorf("fsync %s: %w", f.Name(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
