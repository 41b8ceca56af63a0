package remotewriteexporter // import "github.com/otel-inference/collector/exporter/remotewriteexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"go.etcd.io/bbolt"

	"github.com/otel-inference/collector/exporter/remotewriteexporter/internal/fifo"
)

// checkEnv, when set, makes the process check the bbolt file it names and exit: 0 when sound, 3 when
// bbolt reports damage. Some damage makes bbolt panic in goroutines of its own (its consistency
// check, which file_storage's options run when a file is opened), which no recover can catch and
// which would take the collector down on every start: so the queue file is checked first in a child
// process, this same binary started again with checkEnv set.
const checkEnv = "OTELCOL_REMOTE_WRITE_CHECK_QUEUE"

func init() {
	if path := os.Getenv(checkEnv); path != "" {
		os.Exit(checkBoltFile(path))
	}
}

func checkBoltFile(path string) int {
	// file_storage's own options: opening with them runs the same consistency check (in bbolt's
	// freepages) that would panic in the collector. Nothing is written: no transaction commits.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second, NoSync: true, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	defer db.Close()
	// What the collector will do with the file: a write transaction (which rebuilds the free list,
	// walking every page), every item read, then bbolt's own consistency check.
	err = db.View(func(tx *bbolt.Tx) error {
		// A file shorter than the pages its meta page counts was cut short: bbolt would hand the
		// missing pages out as free and read garbage from them.
		if fi, err := os.Stat(path); err == nil && tx.Size() > fi.Size() { //nolint:gosec // G703: path is the queue file the configured storage extension names
			return fmt.Errorf("the file is %d bytes but holds %d bytes of pages: it was cut short", fi.Size(), tx.Size())
		}
		return nil
	})
	if err == nil {
		err = db.Update(func(*bbolt.Tx) error { return nil })
	}
	if err == nil {
		err = db.View(func(tx *bbolt.Tx) error {
			if err := tx.ForEach(func(_ []byte, b *bbolt.Bucket) error {
				return b.ForEach(func(_, v []byte) error {
					_ = len(v)
					return nil
				})
			}); err != nil {
				return err
			}
			for err := range tx.Check() {
				return err
			}
			return nil
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

// checkQueueFile runs the check of path in a child process. It returns an ErrCorrupt error when the
// file is damaged, nil when it is sound or the check could not run (then opening it will tell).
func checkQueueFile(ctx context.Context, path string) error {
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe) //nolint:gosec // G204: exe is this collector's own executable (os.Executable), re-run to check the file apart
	cmd.Env = append(os.Environ(), checkEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err == nil || !errors.As(err, &exit) || ctx.Err() != nil {
		return nil
	}
	msg := bytes.TrimSpace(out.Bytes())
	if i := bytes.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Errorf("%w: the check of %s failed (%w): %s", fifo.ErrCorrupt, path, exit, msg)
}
