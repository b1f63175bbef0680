package console

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
)

// pageNames are the templates besides layout.html, one per page.
var pageNames = []string{"login", "message", "overview", "logs", "record", "conflicts", "conflict", "deadletters", "settings", "resync", "mapping"}

func (h *handler) parseTemplates() error {
	funcs := template.FuncMap{
		"when":     func(t time.Time) string { return fmtTime(t) },
		"ago":      func(t time.Time) string { return ago(h.now(), t) },
		"latency":  func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"rawJSON":  func(b json.RawMessage) string { return string(b) },
		"record":   func(id string) string { return "/console/records/" + url.PathEscape(id) },
		"join":     strings.Join,
		"outcomes": func() []billsync.Outcome { return allOutcomes },
		"reasons":  func() []string { return billsync.Reasons },
		"objects":  func() []billsync.ObjectType { return billsync.ObjectTypes },
		"summary":  billsync.SettingSummary,
		// connection is a connection tile's data: its label and status.
		"connection": func(label string, c billsync.ConnectionStatus) connectionTile {
			return connectionTile{Label: label, Conn: c}
		},
	}
	h.pages = map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		h.pages[name] = t
	}
	return nil
}

type connectionTile struct {
	Label string
	Conn  billsync.ConnectionStatus
}

var allOutcomes = []billsync.Outcome{billsync.OutcomeSuccess, billsync.OutcomeFailed, billsync.OutcomeSkipped,
	billsync.OutcomeConflict, billsync.OutcomeRetrying, billsync.OutcomeDead, billsync.OutcomeRejected}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

func count(n int, more bool) string {
	if more {
		return "more than " + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

type logsData struct {
	Filter  logForm
	Entries []billsync.LogEntry
	Next    string // the next page's URL, "" on the last
	First   string // the first page's URL, "" on it
}

// logForm is the sync log's filter form as the operator filled it in.
type logForm struct {
	Object    string
	Record    string
	Outcome   string
	Direction string
	Reason    string
	Since     string
	Limit     int
	Cursor    string
}

func (f logForm) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"object": f.Object, "record": f.Record, "outcome": f.Outcome, "since": f.Since,
		"direction": f.Direction, "reason": f.Reason} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit != defaultLogLimit {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

const defaultLogLimit = 50

func readLogForm(q url.Values, now time.Time) (logForm, billsync.LogFilter, error) {
	f := logForm{Object: strings.TrimSpace(q.Get("object")), Record: strings.TrimSpace(q.Get("record")),
		Outcome: strings.TrimSpace(q.Get("outcome")), Since: strings.TrimSpace(q.Get("since")),
		Direction: strings.TrimSpace(q.Get("direction")), Reason: strings.TrimSpace(q.Get("reason")),
		Limit: defaultLogLimit, Cursor: q.Get("cursor")}
	lf := billsync.LogFilter{Object: billsync.ObjectType(f.Object), Record: f.Record, Reason: f.Reason, Cursor: f.Cursor}
	if f.Direction != "" {
		d, err := billsync.ParseDirection(f.Direction)
		if err != nil {
			return f, lf, err
		}
		lf.Direction = d
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return f, lf, billsync.Errorf(billsync.EINVALID, "entries per page %q: want 1 to 1000", v)
		}
		f.Limit = n
	}
	lf.Limit = f.Limit
	if f.Outcome != "" {
		o, err := billsync.ParseOutcome(f.Outcome)
		if err != nil {
			return f, lf, err
		}
		lf.Outcome = o
	}
	if f.Since != "" {
		// The API takes the same two forms; reading them here lets the
		// form keep what the operator typed.
		if t, err := time.Parse(time.RFC3339Nano, f.Since); err == nil {
			lf.Since = t
		} else if d, err := time.ParseDuration(f.Since); err == nil && d > 0 {
			lf.Since = now.Add(-d)
		} else {
			return f, lf, billsync.Errorf(billsync.EINVALID, "since %q: want a time such as 2026-01-02T15:04:05Z or a duration such as 15m or 24h", f.Since)
		}
	}
	return f, lf, nil
}

func (h *handler) logsPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	form, f, err := readLogForm(r.URL.Query(), h.now())
	if err != nil {
		return "", "", nil, err
	}
	d := logsData{Filter: form}
	var next string
	if d.Entries, next, err = c.Logs(ctx, f); err != nil {
		return "", "", nil, err
	}
	q := form.query()
	if next != "" {
		nq := form.query()
		nq.Set("cursor", next)
		d.Next = "/console/logs?" + nq.Encode()
	}
	if form.Cursor != "" {
		d.First = "/console/logs?" + q.Encode()
	}
	return "logs", "Sync log", d, nil
}

type recordData struct {
	ID      string
	Entries []billsync.LogEntry
	Others  []string // the record's id on the other side, as the entries name it
	Next    string
	// Links open the record where it lives: Salesforce (the org's
	// instance URL) and billing (billing.recordUrl, when configured).
	Links []recordLink
}

type recordLink struct{ Label, URL string }

// recordLinks links each id of the record to its side's own page, telling
// the sides apart by the entries that name it.
func recordLinks(st billsync.Status, ids []string, entries []billsync.LogEntry) []recordLink {
	var out []recordLink
	for _, id := range ids {
		for _, e := range entries {
			switch {
			case id == e.SalesforceID && st.SalesforceURL != "":
				out = append(out, recordLink{"Open " + id + " in Salesforce", strings.TrimRight(st.SalesforceURL, "/") + "/lightning/r/" + url.PathEscape(id) + "/view"})
			case id == e.BillingID && st.BillingRecordURL != "":
				u := strings.NewReplacer("{id}", url.PathEscape(id), "{object}", url.PathEscape(string(e.Object))).Replace(st.BillingRecordURL)
				out = append(out, recordLink{"Open " + id + " in billing", u})
			default:
				continue
			}
			break
		}
	}
	return out
}

// recordLimit is how much of a record's history one page shows.
const recordLimit = 200

func (h *handler) recordPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	id := r.PathValue("id")
	d := recordData{ID: id}
	cursor := r.URL.Query().Get("cursor")
	entries, next, err := c.Logs(ctx, billsync.LogFilter{Record: id, Limit: recordLimit, Cursor: cursor})
	if err != nil {
		return "", "", nil, err
	}
	d.Entries = entries
	seen := map[string]bool{id: true}
	for _, e := range entries {
		for _, o := range []string{e.BillingID, e.SalesforceID} {
			if o != "" && !seen[o] {
				seen[o] = true
				d.Others = append(d.Others, o)
			}
		}
	}
	if next != "" {
		d.Next = "/console/records/" + url.PathEscape(id) + "?" + url.Values{"cursor": {next}}.Encode()
	}
	if st, err := c.Status(ctx); err == nil {
		d.Links = recordLinks(st, append([]string{id}, d.Others...), entries)
	}
	return "record", "History of " + id, d, nil
}

type conflictsData struct {
	Conflicts []billsync.Conflict
	Next      string
	Status    string
}

func (h *handler) conflictsPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	q := r.URL.Query()
	status := q.Get("status")
	switch status {
	case "":
		status = billsync.ConflictHeld
	case "all":
	case billsync.ConflictHeld, billsync.ConflictResolved:
	default:
		return "", "", nil, billsync.Errorf(billsync.EINVALID, "status %q: want held, resolved or all", status)
	}
	f := billsync.ConflictFilter{Status: status, Limit: 100, Cursor: q.Get("cursor")}
	if status == "all" {
		f.Status = ""
	}
	list, next, err := c.Conflicts(ctx, f)
	if err != nil {
		return "", "", nil, err
	}
	d := conflictsData{Conflicts: list, Status: status}
	if next != "" {
		d.Next = "/console/conflicts?" + url.Values{"status": {status}, "cursor": {next}}.Encode()
	}
	return "conflicts", "Conflicts", d, nil
}

func pathID(r *http.Request) (int64, error) {
	v := r.PathValue("id")
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id < 1 {
		return 0, billsync.Errorf(billsync.ENOTFOUND, "%q is not an id", v)
	}
	return id, nil
}

func (h *handler) conflictPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	id, err := pathID(r)
	if err != nil {
		return "", "", nil, err
	}
	cf, err := c.Conflict(ctx, id)
	if err != nil {
		return "", "", nil, err
	}
	return "conflict", fmt.Sprintf("Conflict %d", id), cf, nil
}

func (h *handler) resolveConflict(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "/console/conflicts", "", err
	}
	back := fmt.Sprintf("/console/conflicts/%d", id)
	winner := billsync.Side(r.PostForm.Get("winner"))
	if _, err := c.ResolveConflict(ctx, id, winner); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("Conflict %d resolved: %s's values win; the change is queued.", id, sideName(winner)), nil
}

func sideName(s billsync.Side) string {
	if s == billsync.SideSalesforce {
		return "Salesforce"
	}
	return "billing"
}

type settingsData struct {
	Settings []billsync.Setting
	HeldRuns []billsync.HeldRun
	Audit    []billsync.AuditEntry
}

func (h *handler) settingsPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	var d settingsData
	var err error
	if d.Settings, err = c.Settings(ctx); err != nil {
		return "", "", nil, err
	}
	if d.HeldRuns, err = c.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending, Limit: 100}); err != nil {
		return "", "", nil, err
	}
	if d.Audit, err = c.Audit(ctx, 20); err != nil {
		return "", "", nil, err
	}
	return "settings", "Settings", d, nil
}

func (h *handler) setSetting(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	key := r.PathValue("key")
	value := strings.TrimSpace(r.PostForm.Get("value"))
	if !json.Valid([]byte(value)) {
		// A bare word is what people type for a choice or a name: take
		// it as a JSON string rather than refuse it.
		b, _ := json.Marshal(value)
		value = string(b)
	}
	s, err := c.SetSetting(ctx, key, json.RawMessage(value))
	if err != nil {
		return "/console/settings", "", err
	}
	return "/console/settings", fmt.Sprintf("%s is now %s.", s.Key, s.Value), nil
}

func (h *handler) decideHeldRun(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "/console/settings", "", err
	}
	switch r.PathValue("decision") {
	case "approve":
		if _, err := c.ApproveHeldRun(ctx, id); err != nil {
			return "/console/settings", "", err
		}
		return "/console/settings", fmt.Sprintf("Held run %d approved; its changes are queued.", id), nil
	case "discard":
		if _, err := c.DiscardHeldRun(ctx, id); err != nil {
			return "/console/settings", "", err
		}
		return "/console/settings", fmt.Sprintf("Held run %d discarded; nothing of it is written.", id), nil
	}
	return "/console/settings", "", billsync.Errorf(billsync.ENOTFOUND, "no such decision %q (approve or discard)", r.PathValue("decision"))
}
