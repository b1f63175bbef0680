package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/billsync/billsync/mapping"
	"github.com/google/go-cmp/cmp"
)

// The mapping the console shows is a mapping file: saved as one, it
// loads back to the mapping in force.
func TestMappingViewLoadsBack(t *testing.T) {
	v := mappingView(mapping.Default(), "")
	if v.Source != "built-in" || v.YAML == "" {
		t.Fatalf("view %+v", v)
	}
	path := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(path, []byte(v.YAML), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := mapping.Load(path)
	if err != nil {
		t.Fatalf("the shown mapping does not load: %v\n%s", err, v.YAML)
	}
	if d := cmp.Diff(mapping.Default().Objects, m.Objects); d != "" {
		t.Errorf("objects (-built-in +loaded):\n%s", d)
	}
	if d := cmp.Diff(mapping.Default().Quote(), m.Quote()); d != "" {
		t.Errorf("quotes (-built-in +loaded):\n%s", d)
	}
}
