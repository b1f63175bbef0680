package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
)

// Resync report states (billsync.ResyncReport.State).
const (
	resyncRunning = "running"
	resyncDone    = "done"
	resyncFailed  = "failed"
)

// maxPollFailures is how many polls in a row may fail for a passing
// reason (billsync restarting, a proxy hiccup) before the command gives up
// following the resync; the resync itself goes on in the server.
const maxPollFailures = 5

func newResyncCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	var (
		object, record, follow, progress string
		dryRun, initial                  bool
		poll, every                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "resync",
		Short: "Compare both sides and repair drift, with progress (H2)",
		Long: `Resync lists records on both sides, compares them, and queues the changes
that repair every difference: the way back after switches were off or
events were lost. It runs in the billsync server; this command starts it and
follows its progress until it ends, then prints what it found.

--initial is the first load of an existing org: records already on both
sides are linked (by BillingId__c, crmAccountId, code) before any is
created. Run it with --dry-run first: a dry run lists the differences and
the API calls a repair would spend, and changes nothing.`,
		Example: `  billsync resync --initial --dry-run
  billsync resync --object account
  billsync resync --object balance --record bal_01H... --dry-run
  billsync resync --follow 3f6c...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if poll <= 0 || every <= 0 {
				return billsync.Errorf(billsync.EINVALID, "--poll-interval and --progress-interval must be positive")
			}
			// With --json, stdout carries only the final report.
			pw := g.out
			if af.json {
				pw = g.err
			}
			pr, err := newResyncProgress(pw, progress, every)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := af.client()
			var rep *billsync.ResyncReport
			if follow != "" {
				if object != "" || record != "" || dryRun || initial {
					return billsync.Errorf(billsync.EINVALID, "--follow takes no other resync flags: the resync was started with its own")
				}
				rep, err = c.Resync(ctx, follow)
			} else {
				var req billsync.ResyncRequest
				req, err = resyncRequest(object, record, dryRun, initial)
				if err != nil {
					return err
				}
				rep, err = c.StartResync(ctx, req)
			}
			if err != nil {
				return err
			}
			rep, err = followResync(ctx, c, rep, poll, pr)
			pr.end()
			if err != nil {
				return err
			}
			if af.json {
				if err := writeJSON(g.out, rep); err != nil {
					return err
				}
			} else if err := printResyncSummary(g.out, rep); err != nil {
				return err
			}
			if rep.State == resyncFailed {
				return billsync.Errorf(billsync.EINTERNAL, "resync %s failed: %s", rep.ID, dash(rep.Error))
			}
			return nil
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&object, "object", "", "only this object type: account, balance, balance_transaction or quote (default: every two-way object)")
	fl.StringVar(&record, "record", "", "only this record, by billing or Salesforce id (needs --object)")
	fl.BoolVar(&dryRun, "dry-run", false, "list the differences and the API calls a repair would spend; change nothing")
	fl.BoolVar(&initial, "initial", false, "first load: link records that exist on both sides before creating any")
	fl.StringVar(&follow, "follow", "", "follow a resync already started (by its id) instead of starting one")
	fl.StringVar(&progress, "progress", "auto", "progress display: auto (a bar on a terminal, else a line every 2 s), bar, plain or none")
	fl.DurationVar(&poll, "poll-interval", time.Second, "how often to ask billsync for the resync's progress")
	fl.DurationVar(&every, "progress-interval", 2*time.Second, "how often to print a progress line when not drawing a bar")
	_ = fl.MarkHidden("poll-interval")
	_ = fl.MarkHidden("progress-interval")
	return cmd
}

func resyncRequest(object, record string, dryRun, initial bool) (billsync.ResyncRequest, error) {
	req := billsync.ResyncRequest{Record: strings.TrimSpace(record), DryRun: dryRun, Initial: initial}
	if object != "" {
		t, err := billsync.ParseObjectType(strings.TrimSpace(object))
		if err != nil {
			return req, err
		}
		req.Object = t
	}
	if req.Record != "" && req.Object == "" {
		return req, billsync.Errorf(billsync.EINVALID, "--record needs --object (the type of the record)")
	}
	return req, nil
}

// followResync polls the report until the resync ends, showing progress.
func followResync(ctx context.Context, c *adminclient.Client, rep *billsync.ResyncReport, poll time.Duration, pr resyncProgress) (*billsync.ResyncReport, error) {
	id := rep.ID
	pr.begin(rep)
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
			pr.update(rep)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("%w: stopped following resync %s; it goes on in billsync (billsync resync --follow %s)", ctx.Err(), id, id)
		case billsync.ErrorCode(err) == billsync.ENOTFOUND:
			return nil, fmt.Errorf("resync %s is no longer known to billsync (was it restarted?): %w", id, err)
		case billsync.IsTransient(err) && failures+1 < maxPollFailures:
			failures++
		default:
			return nil, fmt.Errorf("following resync %s: %w", id, err)
		}
		t.Reset(poll)
	}
	return rep, nil
}

func resyncEnded(state string) bool { return state == resyncDone || state == resyncFailed }

// resyncProgress shows a running resync.
type resyncProgress interface {
	begin(rep *billsync.ResyncReport)
	update(rep *billsync.ResyncReport)
	end()
}

func newResyncProgress(w io.Writer, mode string, every time.Duration) (resyncProgress, error) {
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

func (noProgress) begin(*billsync.ResyncReport)  {}
func (noProgress) update(*billsync.ResyncReport) {}
func (noProgress) end()                          {}

// barProgress draws a progress bar: a spinner while the total is not yet
// known (both sides are still being listed), then a bar.
type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
	max int // the bar's total; -1 for the spinner
}

func (p *barProgress) begin(rep *billsync.ResyncReport) {
	fmt.Fprintf(p.w, "resync %s %s: %s\n", rep.ID, rep.State, describeResync(rep.Request))
	p.update(rep)
}

func (p *barProgress) update(rep *billsync.ResyncReport) {
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

func (p *barProgress) end() {
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

func (p *lineProgress) begin(rep *billsync.ResyncReport) {
	fmt.Fprintf(p.w, "resync %s %s: %s\n", rep.ID, rep.State, describeResync(rep.Request))
	p.began = p.now()
	p.last = p.began
}

func (p *lineProgress) update(rep *billsync.ResyncReport) {
	if resyncEnded(rep.State) {
		return // the summary follows
	}
	if now := p.now(); now.Sub(p.last) >= p.every {
		p.last = now
		fmt.Fprintf(p.w, "resync %s: %s\n", rep.ID, progressLine(rep, now.Sub(p.began)))
	}
}

func (p *lineProgress) end() {}

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

func printResyncSummary(w io.Writer, rep *billsync.ResyncReport) error {
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
	case rep.State != resyncDone:
	case rep.Request.DryRun && rep.Differences > 0:
		fmt.Fprintln(w, "\ndry run: nothing was changed; run it again without --dry-run to repair")
	case rep.Repairs > 0:
		fmt.Fprintf(w, "\n%d repairs queued; follow them with billsync logs\n", rep.Repairs)
	case rep.Differences == 0:
		fmt.Fprintln(w, "\nno differences: both sides agree")
	}
	return nil
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
