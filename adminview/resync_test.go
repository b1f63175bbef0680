package adminview

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

func resyncScript(final billsync.ResyncReport) []billsync.ResyncReport {
	started := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	run := billsync.ResyncReport{State: ResyncRunning, Started: started}
	listing := run
	half := run
	half.Total, half.Compared, half.Differences, half.APICalls = 4, 2, 1, 3
	final.Started, final.Finished = started, started.Add(3*time.Second)
	return []billsync.ResyncReport{listing, half, final}
}

// The bar draws on any writer when asked for; a terminal is what asks
// for it in real use.
func TestResyncBarProgress(t *testing.T) {
	var buf bytes.Buffer
	p, err := NewProgress(&buf, "bar", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range resyncScript(billsync.ResyncReport{State: ResyncDone, Total: 4, Compared: 4}) {
		rep.ID = "rs-1"
		p.Update(&rep)
	}
	p.End()
	if !strings.Contains(buf.String(), "differences") {
		t.Errorf("bar output: %q", buf.String())
	}
	if _, ok := p.(*barProgress); !ok {
		t.Errorf("bar mode gave %T", p)
	}
	if p, _ := NewProgress(&buf, "auto", time.Second); fmt.Sprintf("%T", p) != "*adminview.lineProgress" {
		t.Errorf("auto on a buffer gave %T, want plain lines", p)
	}
}
