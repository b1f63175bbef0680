package adminview

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
)

// Resync report states (billsync.ResyncReport.State).
const (
	ResyncRunning = "running"
	ResyncDone    = "done"
	ResyncFailed  = "failed"
)

// MaxPollFailures is how many polls in a row may fail for a passing
// reason (billsync restarting, a proxy hiccup) before the command gives up
// following the resync; the resync itself goes on in the server.
const MaxPollFailures = 5

// FollowResync polls the report every poll until the resync ends,
// showing progress on pr. Brief outages of billsync are ridden out; the
// resync goes on in billsync whatever happens here.
func FollowResync(ctx context.Context, c *adminclient.Client, rep *billsync.ResyncReport, poll time.Duration, pr Progress) (*billsync.ResyncReport, error) {
	id := rep.ID
	pr.Begin(rep)
	t := time.NewTimer(poll)
	defer t.Stop()
	failures := 0
	for !resyncEnded(rep.State) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: stopped following resync %s; it goes on in billsync (billsync resync --follow %s)", ctx.Err(), id, id)
		case <-t.C:
		}
		next, err := c.Resync(ctx, id)
		switch {
		case err == nil:
			failures = 0
			rep = next
			pr.Update(rep)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: stopped following resync %s; it goes on in billsync (billsync resync --follow %s)", ctx.Err(), id, id)
		case billsync.ErrorCode(err) == billsync.ENOTFOUND:
			return nil, fmt.Errorf("resync %s is no longer known to billsync (was it restarted?): %w", id, err)
		case billsync.IsTransient(err) && failures+1 < MaxPollFailures:
			failures++
		default:
			return nil, fmt.Errorf("following resync %s: %w", id, err)
		}
		t.Reset(poll)
	}
	return rep, nil
}

func resyncEnded(state string) bool { return state == ResyncDone || state == ResyncFailed }

// Progress shows a running resync.
type Progress interface {
	Begin(rep *billsync.ResyncReport)
	Update(rep *billsync.ResyncReport)
	End()
}

// NewProgress is the display the --progress flag names: auto (a bar on
// a terminal, else a line at most every so often), bar, plain or none.
func NewProgress(w io.Writer, mode string, every time.Duration) (Progress, error) {
	switch mode {
	case "auto":
		if isTerminal(w) {
			return &barProgress{w: w}, nil
		}
		return &lineProgress{w: w, every: every, now: time.Now}, nil
	case "bar":
		return &barProgress{w: w}, nil
	case "plain":
		return &lineProgress{w: w, every: every, now: time.Now}, nil
	case "none":
		return noProgress{}, nil
	}
	return nil, billsync.Errorf(billsync.EINVALID, "--progress %q: want auto, bar, plain or none", mode)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

type noProgress struct{}

func (noProgress) Begin(*billsync.ResyncReport)  {}
func (noProgress) Update(*billsync.ResyncReport) {}
func (noProgress) End()                          {}

// barProgress draws a progress bar: a spinner while the total is not yet
// known (both sides are still being listed), then a bar.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	max int // the bar's total; -1 for the spinner
}

func (p *barProgress) Begin(rep *billsync.ResyncReport) {
	fmt.Fprintf(p.w, "resync %s %s: %s\n", rep.ID, rep.State, describeResync(rep.Request))
	p.Update(rep)
}

func (p *barProgress) Update(rep *billsync.ResyncReport) {
	max := -1
	if rep.Total > 0 {
		max = rep.Total
	}
	// A spinner's count wraps around its width, so a bar whose total
	// became known is a new bar rather than a changed one.
	if p.bar == nil || max != p.max {
		if p.bar != nil {
			_ = p.bar.Clear()
		}
		p.max = max
		p.bar = progressbar.NewOptions(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(max > 0),
			progressbar.OptionFullWidth(),
			// No background spinner goroutine: the bar moves when a
			// poll brings news.
			progressbar.OptionSetSpinnerChangeInterval(0),
		)
	}
	phase := "comparing"
	if max < 0 {
		phase = "listing both sides"
	}
	p.bar.Describe(fmt.Sprintf("%s (%d differences)", phase, rep.Differences))
	n := rep.Compared
	if max > 0 {
		n = min(n, max)
	}
	_ = p.bar.Set(n)
}

func (p *barProgress) End() {
	if p.bar != nil {
		_ = p.bar.Clear()
	}
}

// lineProgress prints a progress line at most every so often, for logs
// and pipes, where a redrawn bar would be noise.
type lineProgress struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time
	began time.Time // when following began: the server's clock may differ
	last  time.Time
}

func (p *lineProgress) Begin(rep *billsync.ResyncReport) {
	fmt.Fprintf(p.w, "resync %s %s: %s\n", rep.ID, rep.State, describeResync(rep.Request))
	p.began = p.now()
	p.last = p.began
}

func (p *lineProgress) Update(rep *billsync.ResyncReport) {
	if resyncEnded(rep.State) {
		return // the summary follows
	}
	if now := p.now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintf(p.w, "resync %s: %s\n", rep.ID, progressLine(rep, now.Sub(p.began)))
	}
}

func (p *lineProgress) End() {}

func progressLine(rep *billsync.ResyncReport, elapsed time.Duration) string {
	var b strings.Builder
	if rep.Total > 0 {
		fmt.Fprintf(&b, "compared %d/%d (%d%%)", rep.Compared, rep.Total, rep.Compared*100/rep.Total)
	} else {
		fmt.Fprintf(&b, "listing records, compared %d", rep.Compared)
	}
	fmt.Fprintf(&b, ", %d differences, %d API calls, %s", rep.Differences, rep.APICalls, roundDuration(elapsed))
	return b.String()
}

func describeResync(req billsync.ResyncRequest) string {
	what := "every two-way object"
	if req.Object != "" {
		what = string(req.Object) + "s"
		if req.Record != "" {
			what = string(req.Object) + " " + req.Record
		}
	}
	var mods []string
	if req.Initial {
		mods = append(mods, "initial load")
	}
	if req.DryRun {
		mods = append(mods, "dry run, nothing is changed")
	}
	if len(mods) > 0 {
		what += " (" + strings.Join(mods, ", ") + ")"
	}
	return what
}

// ResyncSummary prints what a resync found and did: counts, the
// differences it listed, and what to do next.
func ResyncSummary(w io.Writer, rep *billsync.ResyncReport) error {
	head := fmt.Sprintf("resync %s %s: %s", rep.ID, rep.State, describeResync(rep.Request))
	if !rep.Started.IsZero() && !rep.Finished.IsZero() {
		head += " in " + roundDuration(rep.Finished.Sub(rep.Started)).String()
	}
	fmt.Fprintln(w, head)
	if rep.Error != "" {
		fmt.Fprintf(w, "error: %s\n", oneLine(rep.Error))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPARED\tDIFFERENCES\tREPAIRS\tAPI CALLS")
	compared := fmt.Sprint(rep.Compared)
	if rep.Total > 0 && rep.Total != rep.Compared {
		compared = fmt.Sprintf("%d of %d", rep.Compared, rep.Total)
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", compared, rep.Differences, rep.Repairs, rep.APICalls)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Diffs) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OBJECT\tBILLING ID\tSALESFORCE ID\tKIND\tFIELDS\tACTION")
		for _, d := range rep.Diffs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Object, dash(d.BillingID), dash(d.SalesforceID), d.Kind,
				dash(oneLine(strings.Join(d.Fields, ","))), dash(oneLine(d.Action)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if rep.Differences > len(rep.Diffs) {
			fmt.Fprintf(w, "(the first %d of %d differences; the sync log has every repair)\n", len(rep.Diffs), rep.Differences)
		}
	}
	switch {
	case rep.State != ResyncDone:
	case rep.Request.DryRun && rep.Differences > 0:
		fmt.Fprintln(w, "\ndry run: nothing was changed; run it again without --dry-run to repair")
	case rep.Repairs > 0:
		fmt.Fprintf(w, "\n%d repairs queued; follow them with billsync logs\n", rep.Repairs)
	case rep.Differences == 0:
		fmt.Fprintln(w, "\nno differences: both sides agree")
	}
	guardSummary(w, rep)
	return nil
}

// guardSummary says which objects the mass-change guard held (or, in a
// dry run, would hold), why, and how to decide.
func guardSummary(w io.Writer, rep *billsync.ResyncReport) {
	for _, g := range rep.Guard {
		if !g.Held {
			continue
		}
		switch {
		case rep.Request.DryRun:
			fmt.Fprintf(w, "\nmass-change guard: a real run would hold the %s repairs for approval:\n", g.Object)
		default:
			fmt.Fprintf(w, "\nmass-change guard: the %s repairs are held (held run %d); nothing of them was applied:\n", g.Object, g.HeldRun)
		}
		for _, why := range g.Reasons {
			fmt.Fprintf(w, "  %s\n", why)
		}
		if !rep.Request.DryRun {
			fmt.Fprintf(w, "  review: billsync held show %d; then billsync held approve %d or billsync held discard %d\n", g.HeldRun, g.HeldRun, g.HeldRun)
		}
	}
}

// ResyncError is how a failed resync ends the command; nil unless it
// failed.
func ResyncError(rep *billsync.ResyncReport) error {
	if rep.State != ResyncFailed {
		return nil
	}
	return billsync.Errorf(billsync.EINTERNAL, "resync %s failed: %s", rep.ID, dash(rep.Error))
}

func roundDuration(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
