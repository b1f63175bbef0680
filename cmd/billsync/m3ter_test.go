package main

import (
	"os"
	"strings"
	"testing"
)

func TestM3terSetupURL(t *testing.T) {
	for u, want := range map[string]string{
		"https://billsync.example.com/webhooks/m3ter/3f9c2a7d0b1e4c56a8":      "",
		"http://127.0.0.1:8080/base/webhooks/m3ter/3f9c2a7d0b1e4c56a8":        "",
		"billsync.example.com/webhooks/m3ter/3f9c2a7d0b1e4c56a8":              "want the public URL",
		"https://billsync.example.com/webhooks/m3ter/":                        "want a path ending in",
		"https://billsync.example.com/webhooks/billing":                       "want a path ending in",
		"https://billsync.example.com/webhooks/m3ter/abc":                     "at least 16",
		"https://billsync.example.com/webhooks/m3ter/3f9c2a7d0b1e4c56a8/more": "want a path ending in",
	} {
		err := checkM3terHookURL(u)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", u, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want an error saying %q", u, err, want)
		}
	}
}

func TestM3terHookTokenFromTheStoredURL(t *testing.T) {
	dir := t.TempDir()
	if got := m3terHookToken(dir); got != "" {
		t.Errorf("before setup: %q", got)
	}
	if err := os.WriteFile(m3terEndpointPath(dir), []byte("https://b.example.com/webhooks/m3ter/3f9c2a7d0b1e4c56a8\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := m3terHookToken(dir); got != "3f9c2a7d0b1e4c56a8" {
		t.Errorf("token %q", got)
	}
}
