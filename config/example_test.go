package config

import (
	"os"
	"strings"
	"testing"
)

// billsync.example.yaml is the annotated list of every setting README
// points to: it loads and validates as it stands, and names every key
// the configuration has (a key added to Config without a line there fails
// here, so the file cannot fall behind).
func TestExampleConfig(t *testing.T) {
	const path = "../billsync.example.yaml"
	for _, k := range os.Environ() {
		if strings.HasPrefix(k, "BILLSYNC_") {
			t.Setenv(strings.SplitN(k, "=", 2)[0], "")
		}
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the example does not validate: %v", err)
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, dotted := range Keys() {
		key := dotted[strings.LastIndex(dotted, ".")+1:]
		if !strings.Contains(string(text), key+":") {
			t.Errorf("billsync.example.yaml does not name %q", key)
		}
	}
}
