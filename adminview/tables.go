package adminview

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/billsync/billsync"
)

// JSON prints v as indented JSON: what --json prints.
func JSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Logs prints sync-log entries as a table.
func Logs(w io.Writer, entries []billsync.LogEntry) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tDIRECTION\tOBJECT\tBILLING ID\tSALESFORCE ID\tOP\tOUTCOME\tREASON\tERROR\tATTEMPT\tMESSAGE")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", fmtTime(e.Time), shortDir(e.Direction), e.Object,
			dash(e.BillingID), dash(e.SalesforceID), dash(e.Operation), e.Outcome, dash(e.Reason), dash(e.ErrorCode), e.Attempt, oneLine(e.Message))
	}
	return tw.Flush()
}

// DeadLetters prints dead letters as a table.
func DeadLetters(w io.Writer, dls []billsync.DeadLetter) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDEAD AT\tSOURCE\tOBJECT\tRECORD\tATTEMPTS\tERROR CODE\tERROR")
	for _, d := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, fmtTime(d.DeadAt), d.Source, d.Object, d.RecordID, d.Attempt, dash(d.ErrorCode), oneLine(d.Error))
	}
	return tw.Flush()
}

// Settings prints settings as a table.
func Settings(w io.Writer, all []billsync.Setting) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tVALUE\tUPDATED BY\tUPDATED AT")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Value, s.UpdatedBy, fmtTime(s.UpdatedAt))
	}
	return tw.Flush()
}

// Conflicts prints conflicts as a table, one per line.
func Conflicts(w io.Writer, list []billsync.Conflict) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tOBJECT\tBILLING ID\tSALESFORCE ID\tFIELDS\tPOLICY\tSTATUS\tWINNER\tRESOLVED BY")
	for _, x := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, fmtTime(x.Time), x.Object, dash(x.BillingID), dash(x.SalesforceID),
			dash(oneLine(conflictFieldNames(x.Fields))), dash(x.Policy), x.Status, dash(string(x.Winner)), dash(x.ResolvedBy))
	}
	return tw.Flush()
}

// Conflict prints one conflict: its record, policy and status, then each
// field with the agreed value and both sides' values.
func Conflict(w io.Writer, c *billsync.Conflict) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", strconv.FormatInt(c.ID, 10))
	row("Time", fmtTime(c.Time))
	row("Object", string(c.Object))
	row("Billing ID", dash(c.BillingID))
	row("Salesforce ID", dash(c.SalesforceID))
	row("Policy", dash(c.Policy))
	row("Status", c.Status)
	row("Billing changed", fmtTime(c.BillingChangedAt))
	row("Salesforce changed", fmtTime(c.SalesforceChangedAt))
	if c.Status == billsync.ConflictResolved {
		row("Winner", dash(string(c.Winner)))
		row("Resolved at", fmtTime(c.ResolvedAt))
		row("Resolved by", dash(c.ResolvedBy))
	}
	if c.EventID != "" {
		row("Event", c.EventID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tAGREED\tBILLING\tSALESFORCE")
	for _, f := range c.Fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Field, quoted(f.Agreed), quoted(f.Billing), quoted(f.Salesforce))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.Status == billsync.ConflictHeld {
		fmt.Fprintf(w, "\nheld: resolve it with billsync conflicts resolve %d --winner billing|salesforce\n", c.ID)
	}
	return nil
}

// quoted shows a value so that an empty one, or one with spaces at its
// ends, is visible as such.
func quoted(s string) string {
	q := []rune(strconv.Quote(s))
	if len(q) > 60 {
		return string(q[:57]) + "..."
	}
	return string(q)
}

func conflictFieldNames(fs []billsync.ConflictField) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Field
	}
	return strings.Join(names, ",")
}

// ConflictResolved says what resolving c in favour of winner set off.
func ConflictResolved(w io.Writer, c *billsync.Conflict, winner string) {
	// The engine applies the decision in the record's queue partition, so
	// it lands after the call returns.
	fmt.Fprintf(w, "conflict %d: %s wins; the resolution is queued behind the record's other changes (follow it with billsync logs --record %s)\n", c.ID, winner, conflictRecord(c))
}

func conflictRecord(c *billsync.Conflict) string {
	if c.BillingID != "" {
		return c.BillingID
	}
	return dash(c.SalesforceID)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func shortDir(d billsync.Direction) string {
	switch d {
	case billsync.ToSalesforce:
		return "billing→sf"
	case billsync.ToBilling:
		return "sf→billing"
	}
	return string(d)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
