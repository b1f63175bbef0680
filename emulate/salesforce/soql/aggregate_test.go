package soql

import (
	"encoding/json"
	"testing"
)

// rowMap flattens an AggregateResult row to name → value for comparison.
func rowMap(cols []Column) map[string]any {
	m := map[string]any{}
	for _, c := range cols {
		m[c.Name] = c.Value
	}
	return m
}

func TestColumnsNameUnaliasedAggregatesExprN(t *testing.T) {
	// The SOQL reference's own example ("Use Aliases with GROUP BY"):
	// MAX(Amount) is expr0, MIN(Amount) min, SUM(Amount) expr1.
	q, err := Parse("SELECT Name, MAX(Amount), MIN(Amount) min, SUM(Amount) FROM Opportunity GROUP BY Name")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range q.Columns() {
		names = append(names, c.Name)
	}
	if got, want := names, []string{"Name", "expr0", "min", "expr1"}; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("columns %v, want %v", got, want)
	}
	q, err = Parse("SELECT Account.Name, COUNT(Id) c FROM Opportunity GROUP BY Account.Name")
	if err != nil {
		t.Fatal(err)
	}
	if c := q.Columns(); c[0].Name != "Name" || c[1].Name != "c" {
		t.Errorf("relationship group key %q, alias %q; want Name, c", c[0].Name, c[1].Name)
	}
}

func TestAggregateRowsWithoutGroupByAnswerOneRow(t *testing.T) {
	q, err := Parse("SELECT COUNT(Id), COUNT(Industry), MAX(Amount), SUM(Amount), AVG(Amount), MIN(CloseDate) FROM Opportunity")
	if err != nil {
		t.Fatal(err)
	}
	if !q.Aggregate() {
		t.Fatal("Aggregate() = false")
	}
	recs := []Record{
		rec{"Id": "a", "Industry": "Energy", "Amount": json.Number("10.50"), "CloseDate": date("2026-03-01")},
		rec{"Id": "b", "Industry": nil, "Amount": json.Number("94.50"), "CloseDate": date("2026-01-15")},
		rec{"Id": "c", "Industry": "energy", "Amount": nil, "CloseDate": nil},
	}
	rows := q.AggregateRows(recs)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	got := rowMap(rows[0])
	want := map[string]any{"expr0": json.Number("3"), "expr1": json.Number("2"), "expr2": json.Number("94.50"),
		"expr3": json.Number("105"), "expr4": json.Number("52.5"), "expr5": date("2026-01-15")}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	// No records: COUNT is 0 and the others null, still one row.
	rows = q.AggregateRows(nil)
	if len(rows) != 1 {
		t.Fatalf("empty: %d rows, want 1", len(rows))
	}
	if got := rowMap(rows[0]); got["expr0"] != json.Number("0") || got["expr2"] != nil || got["expr3"] != nil {
		t.Errorf("empty row %v", got)
	}
}

func TestAggregateRowsGroupAndOrder(t *testing.T) {
	recs := []Record{
		rec{"Id": "1", "StageName": "Won", "Amount": json.Number("5")},
		rec{"Id": "2", "StageName": "Lost", "Amount": json.Number("7")},
		rec{"Id": "3", "StageName": "won", "Amount": json.Number("1")},
		rec{"Id": "4", "StageName": nil, "Amount": json.Number("2")},
	}
	q, err := Parse("SELECT StageName, COUNT(Id) n, SUM(Amount) FROM Opportunity GROUP BY StageName")
	if err != nil {
		t.Fatal(err)
	}
	rows := q.AggregateRows(recs)
	// Without ORDER BY, groups come by key, nulls first; text groups
	// ignore case.
	var order []any
	for _, r := range rows {
		order = append(order, rowMap(r)["StageName"])
	}
	if len(rows) != 3 || order[0] != nil || order[1] != "Lost" || order[2] != "Won" {
		t.Fatalf("groups %v", order)
	}
	if m := rowMap(rows[2]); m["n"] != json.Number("2") || m["expr0"] != json.Number("6") {
		t.Errorf("Won group %v", m)
	}
	q, err = Parse("SELECT StageName, COUNT(Id) n FROM Opportunity GROUP BY StageName ORDER BY COUNT(Id) DESC, StageName")
	if err != nil {
		t.Fatal(err)
	}
	rows = q.AggregateRows(recs)
	if m := rowMap(rows[0]); m["StageName"] != "Won" {
		t.Errorf("first by COUNT DESC = %v, want the Won group", m)
	}
	if m := rowMap(rows[1]); m["StageName"] != nil {
		t.Errorf("second = %v, want the null group (ties broken by StageName, nulls first)", m)
	}
}

func TestAverageIsExactOrSixteenDigits(t *testing.T) {
	for _, tt := range []struct {
		vals []any
		want string
	}{
		{[]any{json.Number("1"), json.Number("2")}, "1.5"},
		{[]any{json.Number("10"), json.Number("0"), json.Number("0")}, "3.333333333333333"},
		{[]any{json.Number("-1.25"), json.Number("1.25")}, "0"},
	} {
		if got := sumOrAverage(true, tt.vals); got != json.Number(tt.want) {
			t.Errorf("AVG(%v) = %v, want %s", tt.vals, got, tt.want)
		}
	}
}

func TestAggregateStringRoundTrips(t *testing.T) {
	src := "SELECT Account.Name n, COUNT_DISTINCT(Industry), MAX(CloseDate) FROM Opportunity WHERE Amount > 0 GROUP BY Account.Name ORDER BY MAX(CloseDate) DESC NULLS LAST LIMIT 5"
	q, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT Account.Name n, COUNT_DISTINCT(Industry), MAX(CloseDate) FROM Opportunity WHERE Amount > 0 GROUP BY Account.Name ORDER BY MAX(CloseDate) DESC NULLS LAST LIMIT 5"
	if q.String() != want {
		t.Errorf("String() = %q", q.String())
	}
	q2, err := Parse(q.String())
	if err != nil || q2.String() != want {
		t.Errorf("reparse: %v %q", err, q2)
	}
}
