// Package journal is the emulators' durable state: an append-only log of
// JSON lines in numbered segments, folded into a snapshot in the
// background. The Salesforce and billing emulators each bring what a line
// holds and how to fold; this package keeps the files.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Journal is the data directory's append-only log. Every change is one
// JSON line, written (not synced: this is an emulator) before the request
// that made it is answered, so a restart or a crash of the process finds
// every acknowledged write. Its cost is the size of the change, never the
// size of the state.
//
// Lines go to numbered segments. Once the active segment outgrows the last
// snapshot, it is closed and a new one opened, and a background fold
// writes a snapshot holding everything up to the new segment and removes
// the folded ones; the fold reads files, never the live state, so requests
// do not wait for it.
type Journal struct {
	dir  string
	name string // the emulator's name, for log lines
	log  *slog.Logger
	// fold writes the snapshot holding every segment below upTo, removes
	// those segments and returns the snapshot's size.
	fold func(upTo int64) (int64, error)

	mu      sync.Mutex
	f       *os.File
	seg     int64 // the active segment
	size    int64 // bytes in the active segment
	limit   int64 // fold once the active segment is larger
	floor   int64 // the least limit
	buf     bytes.Buffer
	err     error // the first failed write, reported by close
	closed  bool
	folding bool
	folds   sync.WaitGroup
}

// MinFoldBytes keeps small states from folding on every few writes.
const MinFoldBytes = 4 << 20

const segmentPrefix, segmentSuffix = "journal-", ".jsonl"

func SegmentPath(dir string, seg int64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%08d%s", segmentPrefix, seg, segmentSuffix))
}

// ListSegments returns the segment numbers in dir, ascending.
func ListSegments(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var segs []int64
	for _, de := range ents {
		name := de.Name()
		if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentSuffix), 10, 64)
		if err == nil && n > 0 {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// ReadSegment hands each complete line of a segment to apply. A last line
// without its newline was being written when the process died: it was
// never acknowledged, so it is dropped.
func ReadSegment(path string, apply func(line []byte) error) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for n := 1; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		line := b[:i]
		b = b[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := apply(line); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	return nil
}

// RemoveSegments deletes the segments below upTo, folded into a snapshot.
func RemoveSegments(dir string, upTo int64) error {
	segs, err := ListSegments(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range segs {
		if s < upTo {
			if err := os.Remove(SegmentPath(dir, s)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Open starts appending to segment seg of dir; snapshotSize sets when the
// first fold happens; name (e.g. "billing emulator") begins its log lines.
func Open(dir, name string, seg, snapshotSize int64, log *slog.Logger, fold func(int64) (int64, error)) (*Journal, error) {
	j := &Journal{dir: dir, name: name, log: log, fold: fold, seg: seg, floor: MinFoldBytes, limit: max(MinFoldBytes, snapshotSize)}
	f, err := os.OpenFile(SegmentPath(dir, seg), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	j.f = f
	return j, nil
}

// Write appends one line per value, in one write.
func (j *Journal) Write(vs ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || len(vs) == 0 {
		return
	}
	j.buf.Reset()
	enc := json.NewEncoder(&j.buf)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			j.failLocked(fmt.Errorf("encode journal line: %w", err))
			return
		}
	}
	n, err := j.f.Write(j.buf.Bytes())
	j.size += int64(n)
	if err != nil {
		j.failLocked(fmt.Errorf("write journal: %w", err))
		return
	}
	if j.size > j.limit && !j.folding {
		j.rotateLocked()
	}
}

func (j *Journal) failLocked(err error) {
	j.log.Error(j.name+": cannot journal a change", "dir", j.dir, "err", err)
	if j.err == nil {
		j.err = err
	}
}

// rotateLocked closes the active segment, opens the next and folds the
// closed ones in the background.
func (j *Journal) rotateLocked() {
	next, err := os.OpenFile(SegmentPath(j.dir, j.seg+1), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		j.failLocked(fmt.Errorf("open journal segment: %w", err))
		return
	}
	if err := j.f.Close(); err != nil {
		j.failLocked(fmt.Errorf("close journal segment: %w", err))
	}
	j.f, j.seg, j.size = next, j.seg+1, 0
	j.folding = true
	j.folds.Add(1)
	go func(upTo int64) {
		defer j.folds.Done()
		size, err := j.fold(upTo)
		if err != nil {
			j.log.Error(j.name+": cannot fold the journal into a snapshot", "dir", j.dir, "err", err)
		}
		j.mu.Lock()
		j.folding = false
		if err == nil {
			j.limit = max(j.floor, size)
		}
		j.mu.Unlock()
	}(j.seg)
}

// Close stops appending, waits for a running fold, and returns the
// segment after the last one written (what a final fold folds up to) and
// the first write failure.
func (j *Journal) Close() (int64, error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return j.seg + 1, j.err
	}
	j.closed = true
	j.mu.Unlock()
	j.folds.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Close(); err != nil && j.err == nil {
		j.err = err
	}
	return j.seg + 1, j.err
}

// WriteAtomic replaces path with b: a temporary file, fsync, rename, so a
// crash leaves the old file or the new one. The snapshot is synced
// because the segments it replaces are removed next.
func WriteAtomic(path string, b []byte) error {
	return WriteAtomicFunc(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// WriteAtomicFunc replaces path with what write writes, as WriteAtomic
// does, through a buffer: a large snapshot is streamed to the file rather
// than built in memory whole.
func WriteAtomicFunc(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable where the filesystem allows
		d.Close()
	}
	return nil
}

// SetFoldThreshold makes the journal fold once its active segment passes
// n bytes, whatever the snapshot's size: for tests that need folds.
func (j *Journal) SetFoldThreshold(n int64) {
	j.mu.Lock()
	j.limit, j.floor = n, n
	j.mu.Unlock()
}

// Segment is the active segment's number.
func (j *Journal) Segment() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seg
}

// ActivePath is the active segment's file.
func (j *Journal) ActivePath() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.f.Name()
}

// WaitFolds waits for a running fold to finish.
func (j *Journal) WaitFolds() { j.folds.Wait() }
