package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// A billsync built from a git checkout names the revision it was built
// from (the toolchain stamps it; this environment may turn stamping off
// through GOFLAGS, so the build asks for it).
func TestVersionShowsRevision(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found")
	}
	bin := filepath.Join(t.TempDir(), "billsync")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("billsync version: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`^billsync \S+, revision [0-9a-f]{40}(\+dirty)?, committed \S+ \(go[0-9.]+`).Match(out) {
		t.Errorf("billsync version printed %q", out)
	}
}
