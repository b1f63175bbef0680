package mapping

import (
	"os"
	"regexp"
	"testing"

	"github.com/billsync/billsync"
	"github.com/google/go-cmp/cmp"
)

const examplePath = "../mapping.example.yaml"

// The shipped example is the built-in mapping written out (SPEC §2), so
// it cannot fall behind the code.
func TestExampleIsTheBuiltInMapping(t *testing.T) {
	t.Parallel()
	m, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Default(), m); d != "" {
		t.Errorf("mapping.example.yaml differs from the built-in mapping (-built-in +example):\n%s", d)
	}
}

var (
	exampleLine  = regexp.MustCompile(`(?m)^(\s*)#\+ `)
	replacedLine = regexp.MustCompile(`(?m)^.*#-\s*$\n`)
)

// The example's commented additions ("#+") are valid and do what their
// comments say: every object gets something beyond the built-in mapping.
func TestExampleAdditionsLoad(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	b = exampleLine.ReplaceAll(replacedLine.ReplaceAll(b, nil), []byte("$1"))
	m, err := Parse(b)
	if err != nil {
		t.Fatalf("the example with its additions: %v", err)
	}
	def := Default()
	for _, typ := range []billsync.ObjectType{billsync.ObjectAccount, billsync.ObjectBalance, billsync.ObjectBalanceTransaction} {
		got, _ := m.Object(typ)
		want, _ := def.Object(typ)
		if got == nil || len(got.Fields) <= len(want.Fields) {
			t.Errorf("%s: no example addition", typ)
		}
	}
	acc, _ := m.Object(billsync.ObjectAccount)
	if f, ok := acc.Field("customFields.tier"); !ok || f.Direction != ToSalesforce || f.ToBill() {
		t.Errorf("account customFields.tier = %+v, want to-salesforce only", f)
	}
	bal, _ := m.Object(billsync.ObjectBalance)
	if f, ok := bal.Field("customFields.costCentre"); !ok || !f.ToBill() || f.ToSF() {
		t.Errorf("balance customFields.costCentre = %+v, want to-billing only", f)
	}
	q := m.Quote()
	if len(q.Line) != len(def.Quotes.Line)+1 || len(q.Opportunity) != 2 {
		t.Errorf("quote additions: %d line fields, %d Opportunity fields", len(q.Line), len(q.Opportunity))
	}
	for _, f := range q.Opportunity {
		if f.Direction != ToSalesforce {
			t.Errorf("Opportunity %s: direction %q, want the default to-salesforce", f.Billing, f.Direction)
		}
	}
}
