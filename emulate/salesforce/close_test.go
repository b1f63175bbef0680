package salesforce

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A fold the journal started in the background ends before Close returns,
// and nothing is written after it, so a caller may remove DataDir at once
// (a save racing Close once broke TestRestartLosesNothing's temp-dir
// cleanup). Writes go on while Close runs, each few folding.
func TestCloseWaitsForARunningFold(t *testing.T) {
	for i := range 10 {
		dir := filepath.Join(t.TempDir(), "sf")
		e, err := New(Options{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		e.journal.SetFoldThreshold(1 << 10)
		var wg sync.WaitGroup
		started := make(chan struct{})
		wg.Go(func() {
			for n := 0; n < 200; n++ {
				if n == 20 {
					close(started)
				}
				if _, err := e.IssueToken(SalesUsername); err != nil {
					t.Error(err)
					return
				}
			}
		})
		<-started
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatalf("run %d: removing DataDir after Close: %v", i, err)
		}
		wg.Wait()
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("run %d: DataDir written after Close (%v)", i, err)
		}
	}
}
