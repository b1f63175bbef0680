package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/billsync/billsync/config"
	"github.com/billsync/billsync/sandbox"
)

// A missing or wrong admin token is explained in the CLI's own terms: the
// flag and the environment variable, not an HTTP header; and no message
// repeats its prefix.
func TestAdminTokenHintNamesTheFlag(t *testing.T) {
	t.Setenv("BILLSYNC_ADMIN_TOKEN", "")
	h := startHarness(t, sandbox.Options{})
	for _, args := range [][]string{
		{"settings", "list", "--server", h.sb.AppURL()},
		{"settings", "list", "--server", h.sb.AppURL(), "--token", "wrong"},
	} {
		out, err := runCmd(t, args...)
		if err == nil {
			t.Fatalf("%v: no error\n%s", args, out)
		}
		msg := err.Error()
		if !strings.Contains(msg, "--token or BILLSYNC_ADMIN_TOKEN") || strings.Contains(msg, "Authorization") {
			t.Errorf("%v: %q", args, msg)
		}
		if strings.Contains(msg, "unauthorized: unauthorized") || strings.Contains(msg, "billsync: billsync:") {
			t.Errorf("%v: repeated prefix in %q", args, msg)
		}
	}
}

// serve --help names every configuration key, and the environment
// variables it names are ones billsync reads.
func TestServeHelpNamesEverySetting(t *testing.T) {
	long := newServeCmd(&globals{}).Long
	for _, key := range config.Keys() {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(key) + `(\s|$)`).MatchString(long) {
			t.Errorf("serve --help does not name %q", key)
		}
	}
}
