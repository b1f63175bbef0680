package journal

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// sum is an image that adds up the numbers its journal lines carry.
type sum struct{ total, lines int }

func (s *sum) Load(b []byte) (int64, error) {
	var snap struct{ Total, Lines, Journal int }
	if err := json.Unmarshal(b, &snap); err != nil {
		return 0, err
	}
	s.total, s.lines = snap.Total, snap.Lines
	return int64(snap.Journal), nil
}

func (s *sum) ApplyLine(line []byte) error {
	return DecodeLine(line, func(n *json.Number) error {
		v, err := n.Int64()
		s.total += int(v)
		s.lines++
		return err
	})
}

func (s *sum) Encode(upTo int64) ([]byte, error) {
	return json.Marshal(map[string]int{"Total": s.total, "Lines": s.lines, "Journal": int(upTo)})
}

func sumDir(path string) Dir[*sum] {
	return Dir[*sum]{Path: path, Name: "test emulator", Snapshot: "snap.json", Empty: func() *sum { return &sum{} }}
}

// A data directory reopened holds what its journal was told, folded into
// the snapshot, across several opens and an explicit Save.
func TestDirReopenFoldsTheJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	d := sumDir(path)
	img, j, err := d.Open(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if img.total != 0 {
		t.Fatalf("a new directory's image holds %d", img.total)
	}
	j.Write(1, 2, 3)
	if _, err := j.Close(); err != nil {
		t.Fatal(err)
	}
	img, j, err = d.Open(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if img.total != 6 || img.lines != 3 {
		t.Fatalf("reopened: total %d over %d lines, want 6 over 3", img.total, img.lines)
	}
	j.Write(10)
	upTo, err := j.Close()
	if err != nil {
		t.Fatal(err)
	}
	img.total, img.lines = 16, 4 // the live image, as an emulator keeps it
	b, _ := img.Encode(upTo)
	if err := d.Save(b, upTo); err != nil {
		t.Fatal(err)
	}
	if segs, _ := ListSegments(path); len(segs) != 0 {
		t.Errorf("segments %v left after Save", segs)
	}
	img, _, err = d.Open(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if img.total != 16 || img.lines != 4 {
		t.Errorf("after Save: total %d over %d lines, want 16 over 4", img.total, img.lines)
	}
}

// A corrupt snapshot or journal line is refused as invalid, naming the
// emulator, never read as an empty state.
func TestDirRefusesCorruptFiles(t *testing.T) {
	path := t.TempDir()
	if err := os.WriteFile(filepath.Join(path, "snap.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := sumDir(path).Open(slog.New(slog.DiscardHandler))
	if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), "test emulator: snapshot") {
		t.Errorf("corrupt snapshot: %v", err)
	}

	path = t.TempDir()
	if err := os.WriteFile(SegmentPath(path, 1), []byte("\"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = sumDir(path).Open(slog.New(slog.DiscardHandler))
	var e *billsync.Error
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "journal is corrupt") {
		t.Errorf("corrupt journal: %v", err)
	}
}
