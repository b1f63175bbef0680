package config

import (
	"os"
	"reflect"
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
	for _, key := range yamlKeys(reflect.TypeOf(Config{})) {
		if !strings.Contains(string(text), key+":") {
			t.Errorf("billsync.example.yaml does not name %q", key)
		}
	}
}

// yamlKeys are the YAML keys of struct type t and of the structs in it.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, name)
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
			out = append(out, yamlKeys(f.Type)...)
		}
	}
	return out
}
