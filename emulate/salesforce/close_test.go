package salesforce

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A save the flush timer already started ends before Close returns, so a
// caller may remove DataDir at once (it once raced TestRestartLosesNothing's
// temp-dir cleanup). The timer is made to fire as Close runs, many times.
func TestCloseWaitsForARunningSave(t *testing.T) {
	for i := range 20 {
		dir := filepath.Join(t.TempDir(), "sf")
		e, err := New(Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		e.scheduleFlush()
		time.Sleep(flushDelay - time.Duration(i%5)*time.Millisecond) // the timer fires around Close
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatalf("run %d: removing DataDir after Close: %v", i, err)
		}
		e.flushes.Wait() // nothing may still be scheduled or running
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("run %d: DataDir written after Close (%v)", i, err)
		}
	}
}
