package soql

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// rec is a test record: keys are dotted paths, looked up case-insensitively.
// Fields absent from the map are unknown to the "object".
type rec map[string]any

func (r rec) Value(path []string) (any, bool) {
	want := strings.Join(path, ".")
	for k, v := range r {
		if strings.EqualFold(k, want) {
			return v, true
		}
	}
	return nil, false
}

// fixedNow is Wednesday 2026-05-13 15:30 UTC.
var fixedNow = time.Date(2026, 5, 13, 15, 30, 0, 0, time.UTC)

func date(s string) billsync.Date {
	d, err := billsync.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestMatch(t *testing.T) {
	r := rec{
		"Id":                             "001000000000001AAA",
		"Name":                           "Acme Corp",
		"Description":                    nil,
		"Amount__c":                      json.Number("12.50"),
		"Count__c":                       json.Number("3"),
		"Big__c":                         json.Number("1e3"),
		"IsActive__c":                    true,
		"IsOff__c":                       false,
		"CloseDate":                      date("2026-05-13"),
		"StartDate__c":                   date("2026-04-30"),
		"CreatedDate":                    ts("2026-05-12T23:59:59Z"),
		"BillingAccount__r.BillingId__c": "BA-42",
		"Parent__r.Name":                 nil,
		"Pct__c":                         "100%",
	}
	tests := []struct {
		where string
		want  bool
	}{
		// Text: case-insensitive, as in Salesforce.
		{"Name = 'Acme Corp'", true},
		{"Name = 'ACME corp'", true},
		{"Name = 'Acme'", false},
		{"Name != 'acme corp'", false},
		{"Name <> 'Other'", true},
		{"Name < 'B'", true},
		{"Name > 'acme'", true},
		{"Name >= 'ACME CORP'", true},
		{"Id = '001000000000001AAA'", true},
		{"BillingAccount__r.BillingId__c = 'ba-42'", true},
		{"billingaccount__R.billingid__C IN ('x', 'BA-42')", true},
		// LIKE.
		{"Name LIKE 'acme%'", true},
		{"Name LIKE '%CORP'", true},
		{"Name LIKE '%me C%'", true},
		{"Name LIKE 'Acme_Corp'", true},
		{"Name LIKE 'Acme__Corp'", false},
		{"Name LIKE 'Acme'", false},
		{"Name LIKE '%'", true},
		{"Name LIKE '%%%'", true},
		{"Pct__c LIKE '100\\%'", true},
		{"Name LIKE '100\\%'", false},
		{"Pct__c LIKE '1_0%'", true},
		{"Description LIKE '%'", false},
		{"NOT Description LIKE 'x%'", true},
		// Numbers: exact decimals.
		{"Amount__c = 12.5", true},
		{"Amount__c = 12.50", true},
		{"Amount__c = 12.500", true},
		{"Amount__c > 12.49", true},
		{"Amount__c < 12.51", true},
		{"Amount__c >= 12.5", true},
		{"Amount__c <= 12.4999999999", false},
		{"Amount__c IN (1, 12.5)", true},
		{"Amount__c NOT IN (1, 12.5)", false},
		{"Count__c = 3", true},
		{"Count__c > -3", true},
		{"Big__c = 1000", true},
		{"Big__c > 999.99", true},
		// Booleans.
		{"IsActive__c = true", true},
		{"IsActive__c = FALSE", false},
		{"IsActive__c != false", true},
		// Null semantics.
		{"Description = null", true},
		{"Description != null", false},
		{"Name = null", false},
		{"Name != null", true},
		{"Description = 'x'", false},
		{"Description != 'x'", true},
		{"Description < 'x'", false},
		{"Description > 'x'", false},
		{"Description IN ('x')", false},
		{"Description IN ('x', null)", true},
		{"Description NOT IN ('x')", true},
		{"Description NOT IN ('x', null)", false},
		{"Name IN (null)", false},
		{"Name NOT IN (null)", true},
		{"Amount__c < null", false},
		{"Parent__r.Name = null", true},
		{"IsActive__c = null", false},
		{"IsActive__c != null", true},
		{"IsOff__c = null", true},
		{"IsOff__c != null", false},
		{"IsOff__c IN (null)", true},
		// Dates and datetimes.
		{"CloseDate = 2026-05-13", true},
		{"CloseDate > 2026-05-12", true},
		{"CloseDate < 2026-05-12", false},
		{"CreatedDate < 2026-05-13T00:00:00Z", true},
		{"CreatedDate = 2026-05-12T23:59:59Z", true},
		{"CreatedDate = 2026-05-13T00:59:59+01:00", true},
		{"CreatedDate = 2026-05-12T23:59:59.000Z", true},
		{"CreatedDate > 2026-05-12T23:59:59.5Z", false},
		// Relative date literals against fixedNow (Wed 2026-05-13).
		{"CloseDate = TODAY", true},
		{"CloseDate != TODAY", false},
		{"CreatedDate = YESTERDAY", true},
		{"CreatedDate = TODAY", false},
		{"CreatedDate < TODAY", true},
		{"CloseDate <= TODAY", true},
		{"CloseDate >= TODAY", true},
		{"CloseDate > TODAY", false},
		{"CloseDate < TOMORROW", true},
		{"CloseDate = THIS_WEEK", true},
		{"StartDate__c = THIS_WEEK", false},
		{"StartDate__c = LAST_WEEK", false},
		{"StartDate__c = THIS_MONTH", false},
		{"StartDate__c = LAST_MONTH", true},
		{"StartDate__c = THIS_QUARTER", true},
		{"StartDate__c = THIS_FISCAL_YEAR", true},
		{"CloseDate = LAST_N_DAYS:0", true},
		{"StartDate__c = LAST_N_DAYS:13", true},
		{"StartDate__c = LAST_N_DAYS:12", false},
		{"CloseDate = NEXT_N_DAYS:5", false},
		{"StartDate__c = N_DAYS_AGO:13", true},
		{"StartDate__c = LAST_N_MONTHS:1", true},
		{"CloseDate = LAST_N_MONTHS:1", false},
		{"CloseDate IN (YESTERDAY, TODAY)", true},
		// Logic.
		{"Name = 'Acme Corp' AND Amount__c > 10", true},
		{"Name = 'Acme Corp' AND Amount__c > 20", false},
		{"Name = 'x' OR Amount__c > 10", true},
		{"Name = 'x' OR Amount__c > 20", false},
		{"NOT Name = 'x'", true},
		{"NOT (Name = 'x' OR Amount__c > 10)", false},
		{"(Name = 'x' OR IsActive__c = true) AND NOT Description != null", true},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			q, err := Parse("SELECT Id FROM Account WHERE " + tt.where)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			q.Now = func() time.Time { return fixedNow }
			got, err := q.Match(r)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchWithoutWhere(t *testing.T) {
	q, err := Parse("SELECT Id FROM Account")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := q.Match(rec{}); !ok || err != nil {
		t.Errorf("Match = %v, %v", ok, err)
	}
}

// TestDateLiteralRanges checks each relative literal's first and last day
// around a fixed clock.
func TestDateLiteralRanges(t *testing.T) {
	// fixedNow: Wednesday 2026-05-13; week starts Sunday 2026-05-10; Q2.
	tests := []struct {
		lit         string
		first, last string
	}{
		{"YESTERDAY", "2026-05-12", "2026-05-12"},
		{"TODAY", "2026-05-13", "2026-05-13"},
		{"TOMORROW", "2026-05-14", "2026-05-14"},
		{"LAST_WEEK", "2026-05-03", "2026-05-09"},
		{"THIS_WEEK", "2026-05-10", "2026-05-16"},
		{"NEXT_WEEK", "2026-05-17", "2026-05-23"},
		{"LAST_MONTH", "2026-04-01", "2026-04-30"},
		{"THIS_MONTH", "2026-05-01", "2026-05-31"},
		{"NEXT_MONTH", "2026-06-01", "2026-06-30"},
		{"LAST_90_DAYS", "2026-02-12", "2026-05-13"},
		{"NEXT_90_DAYS", "2026-05-14", "2026-08-11"},
		{"THIS_QUARTER", "2026-04-01", "2026-06-30"},
		{"LAST_QUARTER", "2026-01-01", "2026-03-31"},
		{"NEXT_QUARTER", "2026-07-01", "2026-09-30"},
		{"THIS_YEAR", "2026-01-01", "2026-12-31"},
		{"LAST_YEAR", "2025-01-01", "2025-12-31"},
		{"NEXT_YEAR", "2027-01-01", "2027-12-31"},
		{"LAST_FISCAL_QUARTER", "2026-01-01", "2026-03-31"},
		{"NEXT_FISCAL_YEAR", "2027-01-01", "2027-12-31"},
		{"LAST_N_DAYS:1", "2026-05-12", "2026-05-13"},
		{"NEXT_N_DAYS:2", "2026-05-14", "2026-05-15"},
		{"N_DAYS_AGO:3", "2026-05-10", "2026-05-10"},
		{"LAST_N_WEEKS:2", "2026-04-26", "2026-05-09"},
		{"NEXT_N_WEEKS:1", "2026-05-17", "2026-05-23"},
		{"N_WEEKS_AGO:1", "2026-05-03", "2026-05-09"},
		{"LAST_N_MONTHS:2", "2026-03-01", "2026-04-30"},
		{"NEXT_N_MONTHS:1", "2026-06-01", "2026-06-30"},
		{"N_MONTHS_AGO:12", "2025-05-01", "2025-05-31"},
		{"LAST_N_QUARTERS:1", "2026-01-01", "2026-03-31"},
		{"NEXT_N_QUARTERS:2", "2026-07-01", "2026-12-31"},
		{"N_QUARTERS_AGO:2", "2025-10-01", "2025-12-31"},
		{"LAST_N_YEARS:2", "2024-01-01", "2025-12-31"},
		{"NEXT_N_YEARS:1", "2027-01-01", "2027-12-31"},
		{"N_YEARS_AGO:1", "2025-01-01", "2025-12-31"},
		{"LAST_N_FISCAL_YEARS:1", "2025-01-01", "2025-12-31"},
		{"N_FISCAL_QUARTERS_AGO:1", "2026-01-01", "2026-03-31"},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			q, err := Parse("SELECT Id FROM Opportunity WHERE CloseDate = " + tt.lit)
			if err != nil {
				t.Fatal(err)
			}
			q.Now = func() time.Time { return fixedNow }
			first, last := date(tt.first), date(tt.last)
			check := func(d billsync.Date, want bool) {
				t.Helper()
				got, err := q.Match(rec{"CloseDate": d})
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s on %s = %v, want %v", tt.lit, d, got, want)
				}
			}
			check(first, true)
			check(last, true)
			check(billsync.DateOf(dateTime(first).AddDate(0, 0, -1)), false)
			check(billsync.DateOf(dateTime(last).AddDate(0, 0, 1)), false)
			// Datetime fields: the range ends at midnight after the last day.
			got, err := q.Match(rec{"CloseDate": dateTime(last).Add(24*time.Hour - time.Nanosecond)})
			if err != nil || !got {
				t.Errorf("%s at the last instant of %s = %v, %v", tt.lit, last, got, err)
			}
		})
	}
}

func TestMatchClockDefaultsToNow(t *testing.T) {
	q, err := Parse("SELECT Id FROM Account WHERE CreatedDate = TODAY")
	if err != nil {
		t.Fatal(err)
	}
	// A record created a moment ago is today unless the test straddles
	// midnight UTC, which the second check tolerates.
	now := time.Now()
	ok, err := q.Match(rec{"CreatedDate": now})
	if err != nil {
		t.Fatal(err)
	}
	if !ok && billsync.DateOf(time.Now()) == billsync.DateOf(now) {
		t.Errorf("TODAY did not match time.Now()")
	}
}

func TestMatchErrors(t *testing.T) {
	r := rec{
		"Name":        "Acme",
		"Amount__c":   json.Number("5"),
		"IsActive__c": true,
		"CloseDate":   date("2026-01-02"),
		"CreatedDate": ts("2026-01-02T00:00:00Z"),
		"Weird__c":    3.5,
	}
	tests := []struct {
		where, code, msg string
	}{
		{"Nope__c = 'x'", CodeInvalidField, "No such column 'Nope__c' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."},
		{"Name = 5", CodeInvalidField, "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"},
		{"Amount__c = '5'", CodeInvalidField, "value of filter criterion for field 'Amount__c' must be of type double and should not be enclosed in quotes"},
		{"IsActive__c = 'true'", CodeInvalidField, "value of filter criterion for field 'IsActive__c' must be of type boolean and should not be enclosed in quotes"},
		{"CloseDate = 2026-01-02T00:00:00Z", CodeInvalidField, "value of filter criterion for field 'CloseDate' must be of type date and should not be enclosed in quotes"},
		{"CreatedDate = 2026-01-02", CodeInvalidField, "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed in quotes"},
		{"Name = TODAY", CodeInvalidField, "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"},
		{"Amount__c LIKE '5%'", CodeInvalidField, "value of filter criterion for field 'Amount__c' must be of type double and should not be enclosed in quotes"},
		{"Name IN ('a', 5)", CodeInvalidField, "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"},
		// Every condition is evaluated, so the error does not hide behind a
		// false first term.
		{"Name = 'zzz' AND Amount__c = 'x'", CodeInvalidField, "value of filter criterion for field 'Amount__c' must be of type double and should not be enclosed in quotes"},
		{"Weird__c = 1", billsync.EINTERNAL, "soql: record value of unsupported type float64"},
	}
	for _, tt := range tests {
		t.Run(tt.where, func(t *testing.T) {
			q, err := Parse("SELECT Id FROM Account WHERE " + tt.where)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = q.Match(r)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Match error = %v, want *Error", err)
			}
			if tt.code == billsync.EINTERNAL {
				if e.Code != tt.code || e.Message != tt.msg {
					t.Errorf("Match error = %q %q, want %q %q", e.Code, e.Message, tt.code, tt.msg)
				}
				return
			}
			if e.Code != tt.code || !strings.HasSuffix(e.Message, "\n"+tt.msg) || !strings.Contains(e.Message, "ERROR at Row:1:Column:") {
				t.Errorf("Match error = %q %q\nwant %q ending %q", e.Code, e.Message, tt.code, tt.msg)
			}
		})
	}
}

func TestLess(t *testing.T) {
	rows := []rec{
		{"Id": "1", "Name": "beta", "Amount__c": json.Number("10"), "Parent__r.Name": "p"},
		{"Id": "2", "Name": nil, "Amount__c": json.Number("9.5"), "Parent__r.Name": nil},
		{"Id": "3", "Name": "Alpha", "Amount__c": nil, "Parent__r.Name": "q"},
		{"Id": "4", "Name": "alpha", "Amount__c": json.Number("10.00"), "Parent__r.Name": "p"},
		{"Id": "5", "Name": "Gamma", "Amount__c": json.Number("-1"), "Parent__r.Name": "P"},
	}
	tests := []struct {
		orderBy string
		want    string
	}{
		{"Name", "2,3,4,1,5"},
		{"Name ASC NULLS LAST", "3,4,1,5,2"},
		{"Name DESC", "5,1,3,4,2"},
		{"Name DESC NULLS FIRST", "2,5,1,3,4"},
		{"Amount__c", "3,5,2,1,4"},
		{"Amount__c DESC", "1,4,2,5,3"},
		{"Amount__c DESC, Id DESC", "4,1,2,5,3"},
		{"Parent__r.Name, Name", "2,4,1,5,3"},
		{"Id DESC", "5,4,3,2,1"},
	}
	for _, tt := range tests {
		t.Run(tt.orderBy, func(t *testing.T) {
			q, err := Parse("SELECT Id FROM Account ORDER BY " + tt.orderBy)
			if err != nil {
				t.Fatal(err)
			}
			sorted := slices.Clone(rows)
			slices.SortStableFunc(sorted, func(a, b rec) int {
				switch {
				case q.Less(a, b):
					return -1
				case q.Less(b, a):
					return 1
				}
				return 0
			})
			var ids []string
			for _, r := range sorted {
				ids = append(ids, r["Id"].(string))
			}
			if got := strings.Join(ids, ","); got != tt.want {
				t.Errorf("order = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLessDatesAndMixed(t *testing.T) {
	q, err := Parse("SELECT Id FROM Account ORDER BY D, T, B, Unknown__c")
	if err != nil {
		t.Fatal(err)
	}
	a := rec{"D": date("2026-01-01"), "T": ts("2026-01-01T00:00:00Z"), "B": false}
	b := rec{"D": date("2026-01-01"), "T": ts("2026-01-01T00:00:01Z"), "B": false}
	if !q.Less(a, b) || q.Less(b, a) {
		t.Errorf("datetime tiebreak wrong")
	}
	c := rec{"D": date("2026-01-01"), "T": ts("2026-01-01T00:00:00Z"), "B": true}
	if !q.Less(a, c) || q.Less(c, a) {
		t.Errorf("bool order wrong")
	}
	if q.Less(a, a) {
		t.Errorf("a record is not less than itself")
	}
	// Mixed types never panic and stay antisymmetric.
	m1, m2 := rec{"D": "text"}, rec{"D": json.Number("1")}
	if q.Less(m1, m2) == q.Less(m2, m1) {
		t.Errorf("mixed types not ordered consistently")
	}
}
