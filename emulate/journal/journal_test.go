package journal

import (
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"testing"
)

// Lines written come back in order; a fold rotates to a new segment and
// is handed the segment it folds up to; a half-written last line (a crash
// mid-write) is dropped.
func TestWriteFoldRead(t *testing.T) {
	dir := t.TempDir()
	folded := make(chan int64, 4)
	j, err := Open(dir, "test emulator", 1, 0, slog.New(slog.DiscardHandler), func(upTo int64) (int64, error) {
		folded <- upTo
		return 0, RemoveSegments(dir, upTo)
	})
	if err != nil {
		t.Fatal(err)
	}
	j.SetFoldThreshold(64)
	type line struct{ N int }
	for n := range 10 {
		j.Write(line{n})
	}
	j.WaitFolds()
	next, err := j.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ups []int64
	for len(folded) > 0 {
		ups = append(ups, <-folded)
	}
	if len(ups) == 0 || next <= ups[len(ups)-1] {
		t.Fatalf("folds up to %v, close returned %d", ups, next)
	}
	segs, err := ListSegments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	// A torn last line in the active segment.
	f, err := os.OpenFile(SegmentPath(dir, segs[len(segs)-1]), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"N":9`)
	f.Close()
	var got []int
	for _, s := range segs {
		if err := ReadSegment(SegmentPath(dir, s), func(b []byte) error {
			var l line
			if err := json.Unmarshal(b, &l); err != nil {
				return err
			}
			got = append(got, l.N)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// What survives is the unfolded tail, in order, ending with the last
	// line written whole.
	if len(got) == 0 || got[len(got)-1] != 9 || !slices.IsSorted(got) {
		t.Fatalf("lines read back %v", got)
	}
}

func TestWriteAtomic(t *testing.T) {
	p := t.TempDir() + "/snap.json"
	for _, v := range []string{"one", "two"} {
		if err := WriteAtomic(p, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "two" {
		t.Fatalf("%q, %v", b, err)
	}
}
