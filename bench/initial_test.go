package bench

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// The initial load (accounts, a balance and two transactions each) lands
// every record both ways: collections in calls of 200 records, Bulk in
// one job per object whose calls do not grow with
// the records (create, upload, close, polls, and the one result set a
// job without failures needs).
func TestInitialLoadBothWays(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := benchInitialLoad(ctx, 500, time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	c, b := res.Collections, res.Bulk
	if res.Records != 2000 || c.Failed != 0 || b.Failed != 0 {
		t.Fatalf("result %+v", res)
	}
	// Collections: 200 records a call, 10 calls for 2,000 records at least.
	if c.APICalls < 10 || c.BulkJobs != 0 {
		t.Errorf("collections spent %d calls and %d bulk jobs", c.APICalls, c.BulkJobs)
	}
	if b.BulkJobs != 3 || b.APICalls < 3*5 || b.APICalls > 3*(4+20) {
		t.Errorf("bulk ran %d jobs in %d calls (collections %d)", b.BulkJobs, b.APICalls, c.APICalls)
	}
	var lines []string
	initialTargets(res, func(name, target, value string, judged, pass bool, note string) { lines = append(lines, name) })
	if len(lines) != 2 {
		t.Errorf("targets %q", lines)
	}
}
