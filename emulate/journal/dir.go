package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/billsync/billsync"
)

// Image is an emulator's state as its data directory holds it: a
// snapshot, and the journal lines written after it.
type Image interface {
	// Load reads a snapshot file's bytes into the image (empty until
	// then) and returns the first journal segment the snapshot does not
	// hold.
	Load(snapshot []byte) (next int64, err error)
	// ApplyLine applies one journal line.
	ApplyLine(line []byte) error
	// Encode is the image as a snapshot holding the journal below upTo.
	Encode(upTo int64) ([]byte, error)
}

// StreamEncoder is an Image that can write its snapshot a piece at a
// time (what Encode returns, written to w): Dir then streams the snapshot
// to its file, so the snapshot of a large image is never one buffer.
type StreamEncoder interface {
	EncodeTo(w io.Writer, upTo int64) error
}

// Dir is an emulator's data directory: a snapshot file and the journal's
// segments beside it.
type Dir[I Image] struct {
	Path     string
	Name     string // "stripe emulator": errors and logs say whose
	Snapshot string // the snapshot's file name
	Empty    func() I
}

// Open folds what the directory holds into an image and starts the
// journal after it; the journal folds itself through d.Fold as it grows.
func (d Dir[I]) Open(log *slog.Logger) (I, *Journal, error) {
	var zero I
	if err := os.MkdirAll(d.Path, 0o755); err != nil {
		return zero, nil, fmt.Errorf("%s: %w", d.Name, err)
	}
	segs, err := ListSegments(d.Path)
	if err != nil {
		return zero, nil, fmt.Errorf("%s: list journal: %w", d.Name, err)
	}
	next := int64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	img, held, size, err := d.Fold(next)
	if err != nil {
		return zero, nil, err
	}
	j, err := Open(d.Path, d.Name, max(next, held), size, log, func(upTo int64) (int64, error) {
		_, _, size, err := d.Fold(upTo)
		return size, err
	})
	if err != nil {
		return zero, nil, fmt.Errorf("%s: open journal: %w", d.Name, err)
	}
	return img, j, nil
}

// read loads the snapshot into an empty image: the first segment it does
// not hold and its size (none: an empty image, 0, 0).
func (d Dir[I]) read() (img I, next, size int64, err error) {
	img = d.Empty()
	path := filepath.Join(d.Path, d.Snapshot)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return img, 0, 0, nil
	}
	if err != nil {
		return img, 0, 0, fmt.Errorf("%s: read snapshot: %w", d.Name, err)
	}
	if next, err = img.Load(b); err != nil {
		return img, 0, 0, billsync.Errorf(billsync.EINVALID, "%s: snapshot %s: %v", d.Name, path, err)
	}
	return img, next, int64(len(b)), nil
}

// Fold reads the snapshot and the journal segments below upTo, writes the
// result as the new snapshot and removes the segments it holds. It
// returns the image, the first segment the snapshot does not hold, and
// the snapshot's size. A fold that finds no segments leaves the snapshot
// as it is.
func (d Dir[I]) Fold(upTo int64) (img I, next, size int64, err error) {
	img, from, size, err := d.read()
	if err != nil {
		return img, 0, 0, err
	}
	segs, err := ListSegments(d.Path)
	if err != nil {
		return img, 0, 0, fmt.Errorf("%s: list journal: %w", d.Name, err)
	}
	folded := false
	for _, seg := range segs {
		if seg >= upTo {
			break
		}
		folded = true
		if seg < from {
			continue // already in the snapshot; a fold died before removing it
		}
		if err := ReadSegment(SegmentPath(d.Path, seg), img.ApplyLine); err != nil {
			return img, 0, 0, billsync.Errorf(billsync.EINVALID, "%s: journal is corrupt: %v", d.Name, err)
		}
	}
	if !folded {
		return img, from, size, nil
	}
	next = max(upTo, from)
	if size, err = d.save(img, next); err != nil {
		return img, 0, 0, err
	}
	return img, next, size, nil
}

// save writes img as the snapshot holding the journal below upTo, streamed
// when the image can, and removes those segments; it returns the
// snapshot's size.
func (d Dir[I]) save(img I, upTo int64) (int64, error) {
	se, ok := any(img).(StreamEncoder)
	if !ok {
		b, err := img.Encode(upTo)
		if err != nil {
			return 0, fmt.Errorf("%s: encode snapshot: %w", d.Name, err)
		}
		return int64(len(b)), d.Save(b, upTo)
	}
	var n int64
	err := WriteAtomicFunc(filepath.Join(d.Path, d.Snapshot), func(w io.Writer) error {
		cw := &countWriter{w: w}
		err := se.EncodeTo(cw, upTo)
		n = cw.n
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: save snapshot: %w", d.Name, err)
	}
	if err := RemoveSegments(d.Path, upTo); err != nil {
		return 0, fmt.Errorf("%s: remove folded journal: %w", d.Name, err)
	}
	return n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// Save writes b, an image encoded to hold the journal below upTo, as the
// snapshot, and removes those segments. Close uses it with the live
// image: it already holds everything the journal does.
func (d Dir[I]) Save(b []byte, upTo int64) error {
	if err := WriteAtomic(filepath.Join(d.Path, d.Snapshot), b); err != nil {
		return fmt.Errorf("%s: save snapshot: %w", d.Name, err)
	}
	if err := RemoveSegments(d.Path, upTo); err != nil {
		return fmt.Errorf("%s: remove folded journal: %w", d.Name, err)
	}
	return nil
}

// DecodeLine decodes one journal line as an E, numbers kept exact, and
// hands it to apply: an Image's ApplyLine.
func DecodeLine[E any](line []byte, apply func(*E) error) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var en E
	if err := dec.Decode(&en); err != nil {
		return err
	}
	return apply(&en)
}

// SaveLive encodes the live image under mu, which guards it, and saves it
// as the snapshot holding the journal below upTo (an emulator's Close).
func (d Dir[I]) SaveLive(mu sync.Locker, img I, upTo int64) error {
	if _, ok := any(img).(StreamEncoder); ok {
		// Streamed under the lock: the live image is never copied whole.
		mu.Lock()
		defer mu.Unlock()
		_, err := d.save(img, upTo)
		return err
	}
	mu.Lock()
	b, err := img.Encode(upTo)
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: encode snapshot: %w", d.Name, err)
	}
	return d.Save(b, upTo)
}
