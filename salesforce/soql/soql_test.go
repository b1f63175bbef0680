package soql_test

import (
	"testing"
	"unicode/utf8"

	"github.com/billsync/billsync/emulate/salesforce/soql"
	build "github.com/billsync/billsync/salesforce/soql"
)

func TestQueries(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{build.Select("Id", "Name", "id").From("Account").String(), "SELECT Id, Name FROM Account"},
		{build.Select("Id").From("Quote").Where(build.Eq("BillingQuoteId__c", `it's`)).Where(build.In("OpportunityId", []string{"a", "b"})).OrderBy("Id").Limit(2).String(),
			`SELECT Id FROM Quote WHERE BillingQuoteId__c = 'it\'s' AND OpportunityId IN ('a', 'b') ORDER BY Id LIMIT 2`},
		{build.Select("Id").From("Product2").Where(build.In("ProductCode", nil)).String(), "SELECT Id FROM Product2 WHERE Id = null"},
		{build.Quote("a\\b\n\t'\"c"), `'a\\b\n\t\'\"c'`},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}

// FuzzQuote checks with the emulator's SOQL parser that any value, however
// it is built, stays one literal equal to itself.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "x", `'`, `\`, `\'`, "a\nb", `' OR Name != '`, "é✓"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) {
			t.Skip("a query travels as UTF-8 in the URL")
		}
		q := build.Select("Id").From("Account").Where(build.Eq("Name", v)).String()
		parsed, err := soql.Parse(q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		c, ok := parsed.Where.(*soql.Cond)
		if !ok || c.Op != "=" || len(c.Values) != 1 || c.Values[0].Kind != soql.KindString || c.Values[0].Str != v {
			t.Fatalf("%q parsed as %#v", q, parsed.Where)
		}
	})
}
