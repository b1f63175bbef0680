package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/alert"
)

// countLimit is how many held conflicts or runs the overview counts
// before it says "more than".
const countLimit = 1000

type overviewData struct {
	Status        billsync.Status
	HeldConflicts string
	HeldRuns      string
	Logs          []billsync.LogEntry
	// PendingChart and APIChart are the last hour's queue depth and API
	// use, drawn server-side (no script).
	PendingChart template.HTML
	APIChart     template.HTML
	// Alerts are the alert rules firing now (a pending one may still
	// clear at its next check, as the stream does while billsync starts).
	Alerts []alert.Status
}

// APIShare is the share of the org's daily API allocation used, as text.
func (d overviewData) APIShare() string {
	if d.Status.APIMax <= 0 {
		return "not known yet"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(d.Status.APIUsed)/float64(d.Status.APIMax))
}

func (h *handler) overview(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	var d overviewData
	var err error
	if d.Status, err = c.Status(ctx); err != nil {
		return "", "", nil, err
	}
	held, next, err := c.Conflicts(ctx, billsync.ConflictFilter{Status: billsync.ConflictHeld, Limit: countLimit})
	if err != nil {
		return "", "", nil, err
	}
	d.HeldConflicts = count(len(held), next != "")
	runs, err := c.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending, Limit: countLimit})
	if err != nil {
		return "", "", nil, err
	}
	d.HeldRuns = count(len(runs), len(runs) >= countLimit)
	if d.Logs, _, err = c.Logs(ctx, billsync.LogFilter{Limit: 20}); err != nil {
		return "", "", nil, err
	}
	alerts, err := c.Alerts(ctx)
	if err != nil && billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		return "", "", nil, err
	}
	for _, a := range alerts {
		if a.State == alert.StateFiring {
			d.Alerts = append(d.Alerts, a)
		}
	}
	pending := make([]int64, len(d.Status.Trend))
	api := make([]int64, len(d.Status.Trend))
	for i, s := range d.Status.Trend {
		pending[i], api[i] = s.Pending, int64(s.APIUsed)
	}
	d.PendingChart = sparkline("Changes pending, last hour", pending)
	d.APIChart = sparkline("Salesforce API requests used today, last hour", api)
	return "overview", "Overview", d, nil
}

// sparkline draws values as a small SVG line chart with its range as
// text, labelled for screen readers with the same figures.
func sparkline(title string, values []int64) template.HTML {
	const w, h = 240.0, 48.0
	if len(values) < 2 {
		return template.HTML(`<p class="sub">` + template.HTMLEscapeString(title) + `: not enough samples yet (one a minute).</p>`)
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = min(lo, v), max(hi, v)
	}
	span := float64(hi - lo)
	if span == 0 {
		span = 1
	}
	var pts strings.Builder
	for i, v := range values {
		x := w * float64(i) / float64(len(values)-1)
		y := h - 2 - (h-4)*float64(v-lo)/span
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	label := fmt.Sprintf("%s: from %d to %d, now %d", title, lo, hi, values[len(values)-1])
	esc := template.HTMLEscapeString
	return template.HTML(`<figure class="chart"><svg viewBox="0 0 240 48" width="240" height="48" role="img" aria-label="` + esc(label) + `">` +
		`<polyline fill="none" stroke="currentColor" stroke-width="2" points="` + strings.TrimSpace(pts.String()) + `"/></svg>` +
		`<figcaption>` + esc(title) + ` <span class="sub">min ` + strconv.FormatInt(lo, 10) + `, max ` + strconv.FormatInt(hi, 10) +
		`, now ` + strconv.FormatInt(values[len(values)-1], 10) + `</span></figcaption></figure>`)
}
