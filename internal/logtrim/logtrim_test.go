package logtrim

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

type objectType string

func decode(t *testing.T, buf *bytes.Buffer) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf)
	}
	buf.Reset()
	return m
}

func TestLongStringsAreCut(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&buf, nil), 16))
	long := strings.Repeat("x", 40)

	log.Info("short", "record", "acc_1", "n", 3)
	if m := decode(t, &buf); m["record"] != "acc_1" || m["n"] != float64(3) {
		t.Errorf("short values changed: %v", m)
	}

	log.Info("long", "record", long, slog.Group("g", "name", long), "object", objectType(long))
	m := decode(t, &buf)
	want := strings.Repeat("x", 16) + "…(24 more bytes)"
	if m["record"] != want || m["object"] != want {
		t.Errorf("record %q, object %q, want %q", m["record"], m["object"], want)
	}
	if g, _ := m["g"].(map[string]any); g["name"] != want {
		t.Errorf("group: %v", m["g"])
	}
	if m["msg"] != "long" {
		t.Errorf("message changed: %v", m["msg"])
	}

	log.With("record", long).WithGroup("grp").Info("with", "name", long)
	m = decode(t, &buf)
	if m["record"] != want {
		t.Errorf("WithAttrs: %v", m["record"])
	}
	if g, _ := m["grp"].(map[string]any); g["name"] != want {
		t.Errorf("WithGroup: %v", m["grp"])
	}
}

func TestCutKeepsCharactersWhole(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&buf, nil), 5))
	log.Info("m", "name", "ééééé") // 10 bytes; byte 5 is inside a character
	got, _ := decode(t, &buf)["name"].(string)
	if !strings.HasPrefix(got, "éé…") || !strings.Contains(got, "(6 more bytes)") {
		t.Errorf("got %q", got)
	}
}

func TestErrorsAreLeftAlone(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&buf, nil), 4))
	log.Info("m", "err", errString("a long error message"))
	if got := decode(t, &buf)["err"]; got != "a long error message" {
		t.Errorf("error attribute cut: %v", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
