package soql

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// valueRec answers every path with the same value (ok=true).
type valueRec struct{ v any }

func (r valueRec) Value([]string) (any, bool) { return r.v, true }

var fuzzSeeds = []string{
	"SELECT Id FROM Account",
	"SELECT COUNT() FROM Account WHERE Name LIKE 'a\\%b_%'",
	"SELECT Id, BillingAccount__r.BillingId__c FROM Invoice__c WHERE BillingAccount__r.BillingId__c IN ('a', 'b') AND Amount__c >= -1.50 ORDER BY Name DESC NULLS FIRST, Id LIMIT 10 OFFSET 5",
	"SELECT Id FROM Account WHERE (A = 'x' OR B != null) AND NOT C <> true",
	"SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05.000+01:00 AND CloseDate = LAST_N_DAYS:30",
	"SELECT Id FROM Account WHERE CloseDate IN (TODAY, 2026-01-02, THIS_FISCAL_YEAR)",
	"SELECT Id FROM Account WHERE Name = 'O\\'Brien \\u00e9\\n'",
	"SELECT Id FROM Account WHERE Name = 'O'Brien'",
	"SELECT * FROM Account",
	"SELECT Id FROM Account WHERE A = 1 AND B = 2 OR C = 3",
	"SELECT Id FROM Account WHERE Id IN ()",
	"SELECT Id FROM Account LIMIT 10 OFFSET 2001",
	"select id from account where x = .5 and y = +7. and z = 2020-02-30",
	"SELECT Id\nFROM Account\nWHERE Name = 'a\\",
	"",
	"SELECT Industry i, COUNT(Id), MAX(Amount) m FROM Account WHERE Name != null GROUP BY Industry ORDER BY COUNT(Id) DESC LIMIT 3",
	"SELECT COUNT_DISTINCT(Name), SUM(Amount), AVG(Amount), MIN(CloseDate) FROM Opportunity",
	"SELECT Name, COUNT(Id) FROM Account",
	"SELECT COUNT(",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	now := func() time.Time { return time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC) }
	records := []Record{
		rec{},
		valueRec{nil},
		valueRec{"Acme"},
		valueRec{json.Number("12.50")},
		valueRec{json.Number("not a number")},
		valueRec{true},
		valueRec{date("2026-02-28")},
		valueRec{time.Date(2026, 2, 28, 12, 0, 0, 0, time.UTC)},
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
				t.Fatalf("Parse(%q) error %T %v is not a coded *Error", s, err, err)
			}
			return
		}
		q.Now = now
		for _, r := range records {
			if _, err := q.Match(r); err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Match error %T %v is not *Error", err, err)
				}
			}
			q.Less(r, records[0])
			q.Less(records[0], r)
		}
		_ = q.Paths()
		if q.Aggregate() {
			// Every query gets one row without GROUP BY, one per group with.
			if rows := q.AggregateRows(records); len(q.GroupBy) == 0 && len(rows) != 1 || len(rows) > len(records) && len(q.GroupBy) > 0 {
				t.Fatalf("%d aggregate rows over %d records for %q", len(rows), len(records), s)
			}
		}
		c := q.String()
		q2, err := Parse(c)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", c, s, err)
		}
		if c2 := q2.String(); c2 != c {
			t.Fatalf("canonical form not stable: %q -> %q", c, c2)
		}
	})
}
