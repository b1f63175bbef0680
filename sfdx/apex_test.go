package sfdx

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/billsync/billsync/mapping"
)

// The revision rule (SPEC D4) as shipped: the field on every triggered
// object, writable by the integration user, and the handler's constants
// are the ones billsync reads and recognises.
func TestTriggerRuleShipsRevision(t *testing.T) {
	m, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if m.Rule.RevisionField != mapping.FieldRevision {
		t.Errorf("the handler's REVISION is %q; billsync reads %q", m.Rule.RevisionField, mapping.FieldRevision)
	}
	if !strings.HasPrefix(m.Rule.StaleRevision, mapping.StaleRevision+":") {
		t.Errorf("the handler's STALE_REVISION %q does not begin with %q, which billsync recognises", m.Rule.StaleRevision, mapping.StaleRevision)
	}
	ps := m.PermissionSet("BillsyncIntegration")
	for _, o := range m.Objects {
		if !o.Triggered {
			continue
		}
		f := o.Field(m.Rule.RevisionField)
		if f == nil || f.Type != "Number" || f.Precision != 18 || f.Scale != 0 || f.DefaultValue != "0" {
			t.Errorf("%s.%s = %+v", o.Name, m.Rule.RevisionField, f)
		}
		if a := ps.Fields[o.Name+"."+m.Rule.RevisionField]; !a.Readable || !a.Editable {
			t.Errorf("the integration user cannot send %s.%s: %+v", o.Name, m.Rule.RevisionField, a)
		}
	}
	// The Apex test class covers the rule's cases.
	b, err := fs.ReadFile(Source(), sourceRoot+"/classes/BillingSyncTriggerTest.cls")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"everyRecordStartsAtRevisionZero", "userEditAddsOneToTheRevision",
		"integrationWriteAtTheCurrentRevisionPasses", "integrationWriteAtAStaleRevisionIsRefusedAlone"} {
		if !strings.Contains(string(b), "static void "+name+"()") {
			t.Errorf("the Apex test class lacks %s", name)
		}
	}
}

func TestHandlerWithoutRuleIsRefused(t *testing.T) {
	src, err := fs.Sub(Source(), ".")
	if err != nil {
		t.Fatal(err)
	}
	mem := fstest.MapFS{}
	if err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		if strings.HasSuffix(p, "/BillingSyncTrigger.cls") {
			b = []byte(strings.ReplaceAll(string(b), "STALE_REVISION = '", "OTHER = '"))
		}
		mem[p] = &fstest.MapFile{Data: b}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(mem); err == nil || !strings.Contains(err.Error(), "STALE_REVISION") {
		t.Fatalf("Parse = %v, want an error naming STALE_REVISION", err)
	}
}
