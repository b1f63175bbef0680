package soql

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestParseCanonical parses valid queries and checks the canonical
// rendering, which spells out every part of the parse (operator grouping,
// defaults of ORDER BY, LIMIT/OFFSET).
func TestParseCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"SELECT Id FROM Account", "SELECT Id FROM Account"},
		{"select id, name from account", "SELECT id, name FROM account"},
		{"SELECT Id,Name FROM Account", "SELECT Id, Name FROM Account"},
		{"  SELECT\n\tId\r\nFROM   Account  ", "SELECT Id FROM Account"},
		{"SELECT COUNT() FROM Account", "SELECT COUNT() FROM Account"},
		{"SELECT count ( ) FROM Account WHERE Name = 'x'", "SELECT COUNT() FROM Account WHERE Name = 'x'"},
		{"SELECT Id, BillingAccount__r.BillingId__c FROM Invoice__c", "SELECT Id, BillingAccount__r.BillingId__c FROM Invoice__c"},
		{"SELECT A__r.B__r.Name FROM C__c", "SELECT A__r.B__r.Name FROM C__c"},
		{"SELECT ns__Field__c FROM ns__Obj__c", "SELECT ns__Field__c FROM ns__Obj__c"},
		{"SELECT Id FROM Account WHERE Name = 'Acme'", "SELECT Id FROM Account WHERE Name = 'Acme'"},
		{"SELECT Id FROM Account WHERE Name <> 'Acme'", "SELECT Id FROM Account WHERE Name != 'Acme'"},
		{"SELECT Id FROM Account WHERE Name!='Acme'", "SELECT Id FROM Account WHERE Name != 'Acme'"},
		{"SELECT Id FROM Opportunity WHERE Amount>=10.50", "SELECT Id FROM Opportunity WHERE Amount >= 10.50"},
		{"SELECT Id FROM Opportunity WHERE Amount<=-3", "SELECT Id FROM Opportunity WHERE Amount <= -3"},
		{"SELECT Id FROM Opportunity WHERE Amount < +3", "SELECT Id FROM Opportunity WHERE Amount < +3"},
		{"SELECT Id FROM Opportunity WHERE Amount > .5", "SELECT Id FROM Opportunity WHERE Amount > .5"},
		{"SELECT Id FROM Account WHERE Name = null", "SELECT Id FROM Account WHERE Name = null"},
		{"SELECT Id FROM Account WHERE Name != NULL", "SELECT Id FROM Account WHERE Name != NULL"},
		{"SELECT Id FROM Account WHERE IsDeleted = TRUE", "SELECT Id FROM Account WHERE IsDeleted = TRUE"},
		{"SELECT Id FROM Account WHERE IsDeleted = false", "SELECT Id FROM Account WHERE IsDeleted = false"},
		{"SELECT Id FROM Opportunity WHERE CloseDate = 2026-01-02", "SELECT Id FROM Opportunity WHERE CloseDate = 2026-01-02"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05Z", "SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05Z"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05.000Z", "SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05.000Z"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05+01:00", "SELECT Id FROM Account WHERE CreatedDate > 2026-01-02T03:04:05+01:00"},
		{"SELECT Id FROM Account WHERE CreatedDate > 2026-01-02t03:04:05-08:00", "SELECT Id FROM Account WHERE CreatedDate > 2026-01-02t03:04:05-08:00"},
		{"SELECT Id FROM Account WHERE CreatedDate = TODAY", "SELECT Id FROM Account WHERE CreatedDate = TODAY"},
		{"SELECT Id FROM Account WHERE CreatedDate = last_n_days:30", "SELECT Id FROM Account WHERE CreatedDate = last_n_days:30"},
		{"SELECT Id FROM Account WHERE CreatedDate < N_DAYS_AGO : 3", "SELECT Id FROM Account WHERE CreatedDate < N_DAYS_AGO : 3"},
		{"SELECT Id FROM Account WHERE CreatedDate = THIS_FISCAL_QUARTER", "SELECT Id FROM Account WHERE CreatedDate = THIS_FISCAL_QUARTER"},
		{"SELECT Id FROM Account WHERE Name LIKE 'Ac%'", "SELECT Id FROM Account WHERE Name LIKE 'Ac%'"},
		{"SELECT Id FROM Account WHERE Name like 'Ter\\%\\_'", "SELECT Id FROM Account WHERE Name LIKE 'Ter\\%\\_'"},
		{"SELECT Id FROM Account WHERE Id IN ('a','b' , 'c')", "SELECT Id FROM Account WHERE Id IN ('a', 'b', 'c')"},
		{"SELECT Id FROM Account WHERE Id not in ('a')", "SELECT Id FROM Account WHERE Id NOT IN ('a')"},
		{"SELECT Id FROM Account WHERE Id IN ('a', null)", "SELECT Id FROM Account WHERE Id IN ('a', null)"},
		{"SELECT Id FROM Account WHERE Amount IN (1, 2.5, -3)", "SELECT Id FROM Account WHERE Amount IN (1, 2.5, -3)"},
		{"SELECT Id FROM Account WHERE A = 'a' AND B = 'b' AND C = 'c'", "SELECT Id FROM Account WHERE A = 'a' AND B = 'b' AND C = 'c'"},
		{"SELECT Id FROM Account WHERE A = 'a' or B = 'b' OR C = 'c'", "SELECT Id FROM Account WHERE A = 'a' OR B = 'b' OR C = 'c'"},
		{"SELECT Id FROM Account WHERE (A = 'a' AND B = 'b') OR C = 'c'", "SELECT Id FROM Account WHERE (A = 'a' AND B = 'b') OR C = 'c'"},
		{"SELECT Id FROM Account WHERE A = 'a' AND (B = 'b' OR C = 'c')", "SELECT Id FROM Account WHERE A = 'a' AND (B = 'b' OR C = 'c')"},
		{"SELECT Id FROM Account WHERE ((A = 'a'))", "SELECT Id FROM Account WHERE A = 'a'"},
		{"SELECT Id FROM Account WHERE NOT A = 'a'", "SELECT Id FROM Account WHERE NOT A = 'a'"},
		{"SELECT Id FROM Account WHERE NOT (A = 'a' OR B = 'b')", "SELECT Id FROM Account WHERE NOT (A = 'a' OR B = 'b')"},
		{"SELECT Id FROM Account WHERE NOT A = 'a' AND B = 'b'", "SELECT Id FROM Account WHERE NOT A = 'a' AND B = 'b'"},
		{"SELECT Id FROM Account WHERE NOT NOT A = 'a'", "SELECT Id FROM Account WHERE NOT NOT A = 'a'"},
		{"SELECT Id FROM Account ORDER BY Name", "SELECT Id FROM Account ORDER BY Name ASC NULLS FIRST"},
		{"SELECT Id FROM Account ORDER BY Name DESC", "SELECT Id FROM Account ORDER BY Name DESC NULLS LAST"},
		{"SELECT Id FROM Account ORDER BY Name DESC NULLS FIRST, Id", "SELECT Id FROM Account ORDER BY Name DESC NULLS FIRST, Id ASC NULLS FIRST"},
		{"SELECT Id FROM Account ORDER BY Name asc nulls last", "SELECT Id FROM Account ORDER BY Name ASC NULLS LAST"},
		{"SELECT Id FROM Account ORDER BY Parent__r.Name", "SELECT Id FROM Account ORDER BY Parent__r.Name ASC NULLS FIRST"},
		{"SELECT Id FROM Account LIMIT 10", "SELECT Id FROM Account LIMIT 10"},
		{"SELECT Id FROM Account LIMIT 0", "SELECT Id FROM Account LIMIT 0"},
		{"SELECT Id FROM Account LIMIT 10 OFFSET 2000", "SELECT Id FROM Account LIMIT 10 OFFSET 2000"},
		{"SELECT Id FROM Account OFFSET 5", "SELECT Id FROM Account OFFSET 5"},
		{"SELECT Id FROM Account WHERE Name = 'x' ORDER BY Id LIMIT 1 OFFSET 1", "SELECT Id FROM Account WHERE Name = 'x' ORDER BY Id ASC NULLS FIRST LIMIT 1 OFFSET 1"},
		{"SELECT Id FROM Account WHERE Name='O\\'Brien'", "SELECT Id FROM Account WHERE Name = 'O\\'Brien'"},
		{"SELECT Id FROM Account WHERE Name = ''", "SELECT Id FROM Account WHERE Name = ''"},
		{"SELECT Id FROM Account WHERE Name = 'héllo wörld'", "SELECT Id FROM Account WHERE Name = 'héllo wörld'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			q, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := q.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			// The canonical form is itself valid and stable.
			q2, err := Parse(q.String())
			if err != nil {
				t.Fatalf("reparse %q: %v", q.String(), err)
			}
			if q2.String() != q.String() {
				t.Errorf("reparse changed %q to %q", q.String(), q2.String())
			}
		})
	}
}

func TestParseStructure(t *testing.T) {
	q, err := Parse("SELECT Id, BillingAccount__r.BillingId__c FROM Invoice__c WHERE Status__c IN ('Open', 'Paid') AND Amount__c > 10 ORDER BY Name DESC, Id LIMIT 5 OFFSET 10")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Field{{Path: []string{"Id"}}, {Path: []string{"BillingAccount__r", "BillingId__c"}}}, q.Fields, cmpopts.IgnoreUnexported(Field{})); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if q.Object != "Invoice__c" || q.Count || q.Limit != 5 || q.Offset != 10 {
		t.Errorf("Object=%q Count=%v Limit=%d Offset=%d", q.Object, q.Count, q.Limit, q.Offset)
	}
	wantOrder := []Order{{Path: []string{"Name"}, Desc: true, NullsLast: true}, {Path: []string{"Id"}}}
	if diff := cmp.Diff(wantOrder, q.OrderBy, cmpopts.IgnoreUnexported(Order{})); diff != "" {
		t.Errorf("OrderBy (-want +got):\n%s", diff)
	}
	wantPaths := [][]string{{"Id"}, {"BillingAccount__r", "BillingId__c"}, {"Status__c"}, {"Amount__c"}, {"Name"}, {"Id"}}
	if diff := cmp.Diff(wantPaths, q.Paths()); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}
	l, ok := q.Where.(*Logical)
	if !ok || l.Op != "AND" || len(l.Terms) != 2 {
		t.Fatalf("Where = %#v", q.Where)
	}
	in := l.Terms[0].(*Cond)
	if in.Op != "IN" || len(in.Values) != 2 || in.Values[1].Str != "Paid" || in.Values[1].Kind != KindString {
		t.Errorf("IN cond = %+v", in)
	}
	gt := l.Terms[1].(*Cond)
	if gt.Op != ">" || gt.Values[0].Kind != KindNumber || gt.Values[0].Num.String() != "10" {
		t.Errorf("> cond = %+v", gt)
	}

	q, err = Parse("SELECT COUNT() FROM Account")
	if err != nil {
		t.Fatal(err)
	}
	if !q.Count || len(q.Fields) != 0 || q.Where != nil || q.Limit != -1 || q.Offset != -1 || len(q.Paths()) != 0 {
		t.Errorf("COUNT() query = %+v", q)
	}
}

func TestParseStringEscapes(t *testing.T) {
	tests := []struct {
		lit, want string
	}{
		{`'a\nb'`, "a\nb"},
		{`'a\Nb'`, "a\nb"},
		{`'a\rb\Rc'`, "a\rb\rc"},
		{`'a\tb\Tc'`, "a\tb\tc"},
		{`'\b\B\f\F'`, "\b\b\f\f"},
		{`'\"'`, `"`},
		{`'\''`, `'`},
		{`'\\'`, `\`},
		{`'caf\u00e9'`, "café"},
		{`'100%'`, "100%"},
	}
	for _, tt := range tests {
		q, err := Parse("SELECT Id FROM Account WHERE Name = " + tt.lit)
		if err != nil {
			t.Errorf("%s: %v", tt.lit, err)
			continue
		}
		if got := q.Where.(*Cond).Values[0].Str; got != tt.want {
			t.Errorf("%s decoded to %q, want %q", tt.lit, got, tt.want)
		}
	}
}

func TestParseDateTimeLiteralIsUTC(t *testing.T) {
	q, err := Parse("SELECT Id FROM Account WHERE CreatedDate = 2026-01-02T03:04:05+01:00")
	if err != nil {
		t.Fatal(err)
	}
	got := q.Where.(*Cond).Values[0].Time
	if got.Location().String() != "UTC" || got.Format("2006-01-02T15:04:05Z07:00") != "2026-01-02T02:04:05Z" {
		t.Errorf("datetime literal = %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		code     string
		// msg is the last line of the message (Salesforce's own wording);
		// at is the "ERROR at Row:r:Column:c" line, empty for lexer errors.
		msg, at string
	}{
		{"real org: bare word", "invalid", CodeMalformedQuery, "unexpected token: 'invalid'", "ERROR at Row:1:Column:1"},
		{"empty", "", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:1"},
		{"star", "SELECT * FROM Account", CodeMalformedQuery, "line 1:7 unexpected token: '*'", ""},
		{"dollar (Summer '24 notes)", "SELECT Id from $casecomment WHERE isdeleted = false", CodeMalformedQuery, "line 1:15 unexpected token: '$'", ""},
		{"missing FROM", "SELECT Id", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:10"},
		{"missing object", "SELECT Id FROM", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:15"},
		{"empty select", "SELECT FROM ServicePresenceStatus", CodeMalformedQuery, "unexpected token: 'FROM'", "ERROR at Row:1:Column:8"},
		{"trailing comma", "SELECT Id, FROM Bar__c", CodeMalformedQuery, "unexpected token: 'FROM'", "ERROR at Row:1:Column:12"},
		{"dangling WHERE", "SELECT Id FROM Account WHERE", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:29"},
		{"trailing garbage", "SELECT Id FROM Account garbage", CodeMalformedQuery, "unexpected token: 'garbage'", "ERROR at Row:1:Column:24"},
		{"USING SCOPE unsupported", "SELECT Id FROM Account USING everything", CodeMalformedQuery, "unexpected token: 'USING'", "ERROR at Row:1:Column:24"},
		{"mixed AND OR", "SELECT Id FROM Contact WHERE A = 'a' AND B LIKE 'test' OR C LIKE 'test'", CodeMalformedQuery, "unexpected token: 'OR'", "ERROR at Row:1:Column:56"},
		{"mixed OR AND", "SELECT Id FROM Account WHERE (A = 1 AND B = 2) OR (C = 3) AND D = 4", CodeMalformedQuery, "unexpected token: 'AND'", "ERROR at Row:1:Column:59"},
		{"empty IN", "SELECT ParentId, Value FROM InteractionRefOrValue WHERE ParentId IN ()", CodeMalformedQuery, "unexpected token: ')'", "ERROR at Row:1:Column:70"},
		{"unterminated string", "SELECT Id FROM Account WHERE Name = 'abc", CodeMalformedQuery, "line 1:40 mismatched character '<EOF>' expecting '''", ""},
		{"unescaped quote", "SELECT Id FROM Account WHERE Name = 'O'Brien'", CodeMalformedQuery, "unexpected token: 'Brien'", "ERROR at Row:1:Column:40"},
		{"bad escape", `SELECT Id FROM Account WHERE Name = 'a\qb'`, CodeMalformedQuery, `Invalid string literal 'a\qb'. Illegal character sequence '\q' in string literal.`, "ERROR at Row:1:Column:37"},
		{"LIKE escape outside LIKE", `SELECT Id FROM Account WHERE Name = 'a\%'`, CodeMalformedQuery, `Invalid string literal 'a\%'. Illegal character sequence '\%' in string literal.`, "ERROR at Row:1:Column:37"},
		{"bad unicode escape", `SELECT Id FROM Account WHERE Name = '\u00zz'`, CodeMalformedQuery, `Invalid string literal '\u00zz'. Illegal character sequence '\u00zz' in string literal.`, "ERROR at Row:1:Column:37"},
		{"invalid datetime offset", "SELECT Id FROM Account WHERE SystemModstamp > 2020-12-12t12:12:00-25:00", CodeMalformedQuery, "Invalid datetime: 2020-12-12t12:12:00-25:00", "ERROR at Row:1:Column:47"},
		{"invalid datetime month", "SELECT Id FROM Account WHERE SystemModstamp > 2020-52-12t12:12:00-05:00", CodeMalformedQuery, "Invalid datetime: 2020-52-12t12:12:00-05:00", "ERROR at Row:1:Column:47"},
		{"invalid date", "SELECT Id FROM Opportunity WHERE CloseDate = 2026-02-30", CodeMalformedQuery, "Invalid date: 2026-02-30", "ERROR at Row:1:Column:46"},
		{"LIKE null", "SELECT Id FROM Account WHERE Name LIKE NULL", CodeMalformedQuery, "unexpected token: 'NULL'", "ERROR at Row:1:Column:40"},
		{"LIKE number", "SELECT Id FROM Account WHERE Name LIKE 5", CodeMalformedQuery, "unexpected token: '5'", "ERROR at Row:1:Column:40"},
		{"NOT LIKE", "SELECT Id FROM Account WHERE Name NOT LIKE 'a'", CodeMalformedQuery, "unexpected token: 'NOT'", "ERROR at Row:1:Column:35"},
		{"bind variable", "SELECT Id FROM Account WHERE Id IN :ids", CodeMalformedQuery, "unexpected token: ':'", "ERROR at Row:1:Column:36"},
		{"field on the right", "SELECT Id FROM Account WHERE Name = Other", CodeMalformedQuery, "unexpected token: 'Other'", "ERROR at Row:1:Column:37"},
		{"literal on the left", "SELECT Id FROM Account WHERE 'a' = Name", CodeMalformedQuery, "unexpected token: ''a''", "ERROR at Row:1:Column:30"},
		{"unknown date literal", "SELECT Id FROM Account WHERE CreatedDate = LAST_DECADE", CodeMalformedQuery, "unexpected token: 'LAST_DECADE'", "ERROR at Row:1:Column:44"},
		{"date literal without n", "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:55"},
		{"date literal negative n", "SELECT Id FROM Account WHERE CreatedDate = LAST_N_DAYS:-1", CodeMalformedQuery, "unexpected token: '-1'", "ERROR at Row:1:Column:56"},
		{"missing paren", "SELECT Id FROM Account WHERE (Name = 'a'", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:41"},
		{"extra paren", "SELECT Id FROM Account WHERE Name = 'a')", CodeMalformedQuery, "unexpected token: ')'", "ERROR at Row:1:Column:40"},
		{"reserved word as field", "SELECT Id, Limit FROM Account", CodeMalformedQuery, "unexpected token: 'Limit'", "ERROR at Row:1:Column:12"},
		{"COUNT with other fields", "SELECT Id, COUNT() FROM Account", CodeMalformedQuery, "unexpected token: 'COUNT'", "ERROR at Row:1:Column:12"},
		{"COUNT then field", "SELECT COUNT(), Id FROM Account", CodeMalformedQuery, "unexpected token: ','", "ERROR at Row:1:Column:15"},
		{"field neither grouped nor aggregated", "SELECT Name, COUNT(Id) FROM Account", CodeMalformedQuery, "Field must be grouped or aggregated: Name", "ERROR at Row:1:Column:8"},
		{"ungrouped ORDER BY in an aggregate query", "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry ORDER BY Name", CodeMalformedQuery, "Ordered field must be grouped or aggregated: Name", "ERROR at Row:1:Column:68"},
		{"missing comma reads as an alias", "SELECT Id Name FROM Account", CodeMalformedQuery, "only aggregate expressions use field aliasing", "ERROR at Row:1:Column:8"},
		{"alias outside an aggregate query", "SELECT Name n FROM Account", CodeMalformedQuery, "only aggregate expressions use field aliasing", "ERROR at Row:1:Column:8"},
		{"subquery", "SELECT Id, (SELECT Id FROM Contacts) FROM Account", CodeMalformedQuery, "unexpected token: '('", "ERROR at Row:1:Column:12"},
		{"FIELDS()", "SELECT FIELDS(ALL) FROM Account LIMIT 200", CodeMalformedQuery, "unexpected token: 'FIELDS'", "ERROR at Row:1:Column:8"},
		{"alias", "SELECT a.Name FROM Account a", CodeMalformedQuery, "unexpected token: 'a'", "ERROR at Row:1:Column:28"},
		{"dotted object", "SELECT Id FROM Account.Name", CodeMalformedQuery, "unexpected token: 'Account.Name'", "ERROR at Row:1:Column:16"},
		{"empty path segment", "SELECT Parent__r..Name FROM Account", CodeMalformedQuery, "unexpected token: 'Parent__r..Name'", "ERROR at Row:1:Column:8"},
		{"trailing dot", "SELECT Parent__r. FROM Account", CodeMalformedQuery, "unexpected token: 'Parent__r.'", "ERROR at Row:1:Column:8"},
		{"ORDER without BY", "SELECT Id FROM Account ORDER Name", CodeMalformedQuery, "unexpected token: 'Name'", "ERROR at Row:1:Column:30"},
		{"NULLS without side", "SELECT Id FROM Account ORDER BY Name NULLS", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:1:Column:43"},
		{"OFFSET before LIMIT", "SELECT Id FROM Account OFFSET 1 LIMIT 2", CodeMalformedQuery, "unexpected token: 'LIMIT'", "ERROR at Row:1:Column:33"},
		{"negative LIMIT", "SELECT Id FROM Account LIMIT -1", CodeMalformedQuery, "unexpected token: '-1'", "ERROR at Row:1:Column:30"},
		{"decimal LIMIT", "SELECT Id FROM Account LIMIT 1.5", CodeMalformedQuery, "unexpected token: '1.5'", "ERROR at Row:1:Column:30"},
		{"huge LIMIT", "SELECT Id FROM Account LIMIT 99999999999", CodeMalformedQuery, "unexpected token: '99999999999'", "ERROR at Row:1:Column:30"},
		{"OFFSET too large", "SELECT Id FROM Account LIMIT 10 OFFSET 2001", CodeNumberOutsideValidRange, "Maximum SOQL offset allowed is 2000", "ERROR at Row:1:Column:40"},
		{"semicolon", "SELECT Id FROM Account;", CodeMalformedQuery, "line 1:22 unexpected token: ';'", ""},
		{"double-quoted string", `SELECT Id FROM Account WHERE Name = "a"`, CodeMalformedQuery, `line 1:36 unexpected token: '"'`, ""},
		{"bang alone", "SELECT Id FROM Account WHERE Name ! 'a'", CodeMalformedQuery, "line 1:34 unexpected token: '!'", ""},
		{"INCLUDES unsupported", "SELECT Id FROM Account WHERE Regions__c INCLUDES ('EU')", CodeMalformedQuery, "unexpected token: 'INCLUDES'", "ERROR at Row:1:Column:41"},
		{"row 3", "SELECT Id\nFROM Account\nWHERE Name = 'a' OR", CodeMalformedQuery, "unexpected token: '<EOF>'", "ERROR at Row:3:Column:20"},
		{"lexer row 2", "SELECT Id\nFROM #Account", CodeMalformedQuery, "line 2:5 unexpected token: '#'", ""},
		{"too many digits", "SELECT Id FROM Account WHERE Amount = 123456789012345678901234567890", CodeMalformedQuery, "Invalid number: 123456789012345678901234567890", "ERROR at Row:1:Column:39"},
		{"not SELECT", "DELETE FROM Account", CodeMalformedQuery, "unexpected token: 'DELETE'", "ERROR at Row:1:Column:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, q)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			if e.Code != tt.code {
				t.Errorf("code = %q, want %q", e.Code, tt.code)
			}
			lines := strings.Split(e.Message, "\n")
			if got := lines[len(lines)-1]; got != tt.msg {
				t.Errorf("message ends %q, want %q\nfull: %q", got, tt.msg, e.Message)
			}
			if tt.at == "" {
				if len(lines) != 1 {
					t.Errorf("lexer error should be one line, got %q", e.Message)
				}
				return
			}
			if len(lines) != 5 || lines[0] != "" || lines[3] != tt.at {
				t.Errorf("message layout = %q, want \\n<excerpt>\\n<caret>\\n%s\\n%s", e.Message, tt.at, tt.msg)
			}
		})
	}
}

// TestErrorExcerpt pins the excerpt-and-caret layout against messages
// recorded from real orgs.
func TestErrorExcerpt(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			// From a recorded MALFORMED_QUERY body (short line shown whole).
			name: "short line",
			in:   "SELECT Id FROM Account WHERE",
			want: "\nSELECT Id FROM Account WHERE\n                            ^\nERROR at Row:1:Column:29\nunexpected token: '<EOF>'",
		},
		{
			// Long lines show about four tokens either side, as in the
			// INVALID_FIELD and MALFORMED_QUERY bodies quoted in
			// testdata/SOURCES.md.
			name: "long line window",
			in:   "SELECT Id, Name, Phone, Website, Industry, CreatedById,LastModifiedById, LastModifiedDate, From Account",
			want: "\nLastModifiedById, LastModifiedDate, From Account\n                                    ^\nERROR at Row:1:Column:92\nunexpected token: 'From'",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v", err)
			}
			if e.Message != tt.want {
				t.Errorf("message:\n got %q\nwant %q", e.Message, tt.want)
			}
			if e.Error() != e.Code+": "+e.Message {
				t.Errorf("Error() = %q", e.Error())
			}
		})
	}
}

func TestErrorAtHelpers(t *testing.T) {
	q, err := Parse("SELECT Id, Nope__c FROM Account WHERE nope__C = 'x'")
	if err != nil {
		t.Fatal(err)
	}
	e := q.ErrorAtPath([]string{"NOPE__c"}, CodeInvalidField, noSuchColumn("Nope__c", "Account"))
	want := "\nSELECT Id, Nope__c FROM Account WHERE nope__C = 'x'\n           ^\nERROR at Row:1:Column:12\n" + noSuchColumn("Nope__c", "Account")
	if e.Code != CodeInvalidField || e.Message != want {
		t.Errorf("ErrorAtPath = %q %q", e.Code, e.Message)
	}
	e = q.ErrorAtObject("INVALID_TYPE", "sObject type 'Account' is not supported.")
	if !strings.Contains(e.Message, "\nERROR at Row:1:Column:25\n") {
		t.Errorf("ErrorAtObject = %q", e.Message)
	}
}
