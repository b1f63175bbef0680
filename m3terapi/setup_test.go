package m3terapi

import (
	"net/http"
	"strings"
	"testing"
)

const hookURL = "https://billsync.example.com/webhooks/m3ter/3f9c2a7d0b1e4c56"

func TestEnsureNotificationsIsIdempotent(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	res, err := c.EnsureNotifications(ctx(t), hookURL)
	if err != nil {
		t.Fatal(err)
	}
	if res.DestinationID == "" || len(res.Changes) != 1+2*len(WatchedEvents()) {
		t.Fatalf("first setup = %+v", res)
	}
	fk.mu.Lock()
	dests, notifs, configs := fk.dests.all(), fk.notifs.all(), fk.configs.all()
	fk.mu.Unlock()
	if len(dests) != 1 || dests[0].str("url") != hookURL {
		t.Fatalf("destinations = %v", dests)
	}
	if len(notifs) != len(WatchedEvents()) {
		t.Fatalf("notifications = %d, want %d", len(notifs), len(WatchedEvents()))
	}
	for _, n := range notifs {
		if n["active"] != true || n["alwaysFireEvent"] != true || !strings.HasPrefix(n.str("code"), "billsync_") {
			t.Errorf("notification %v is not an active, always-fired rule of billsync's", n)
		}
	}
	if len(configs) != len(WatchedEvents()) {
		t.Fatalf("integration configs = %d", len(configs))
	}
	for _, ic := range configs {
		if ic.str("entityType") != "Notification" || ic.str("destinationId") != res.DestinationID || ic.str("destination") != "WEBHOOK" {
			t.Errorf("integration config %v", ic)
		}
	}

	writes := func() int {
		return fk.count(http.MethodPost, "") - fk.count(http.MethodPost, "/oauth/token") + fk.count(http.MethodPut, "")
	}
	before := writes()
	res, err = c.EnsureNotifications(ctx(t), hookURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 0 || writes() != before {
		t.Errorf("second setup changed %v (%d writes)", res.Changes, writes()-before)
	}

	// A rule someone switched off is switched on again, nothing else.
	fk.mu.Lock()
	n := fk.notifs.all()[0]
	n["active"] = false
	fk.mu.Unlock()
	res, err = c.EnsureNotifications(ctx(t), hookURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "corrected") {
		t.Errorf("repair = %v", res.Changes)
	}
	fk.mu.Lock()
	n = fk.notifs.m[n.str("id")]
	fk.mu.Unlock()
	if n["active"] != true {
		t.Error("the rule is still off")
	}

	// A destination and a link someone switched off are switched on.
	fk.mu.Lock()
	fk.dests.all()[0]["active"] = false
	ic := fk.configs.all()[2]
	ic["enabled"] = false
	fk.mu.Unlock()
	res, err = c.EnsureNotifications(ctx(t), hookURL)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 2 {
		t.Errorf("repair = %v, want the destination and the link switched on", res.Changes)
	}
	fk.mu.Lock()
	on, enabled, total := fk.dests.all()[0]["active"], ic["enabled"], len(fk.configs.all())
	fk.mu.Unlock()
	if on != true || enabled != true || total != len(WatchedEvents()) {
		t.Errorf("destination active %v, link enabled %v, %d links", on, enabled, total)
	}
	res, _ = c.EnsureNotifications(ctx(t), hookURL)
	if len(res.Changes) != 0 {
		t.Errorf("after the repair: %v", res.Changes)
	}
}

func TestEnsureNotificationsWantsAURL(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	if _, err := c.EnsureNotifications(ctx(t), "billsync.example.com/webhooks"); err == nil {
		t.Fatal("a URL without scheme was accepted")
	}
}

func TestCheck(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	seedBalance(fk, acct.str("id"))
	results := c.Check(ctx(t))
	byName := map[string]CheckResult{}
	for _, r := range results {
		byName[r.Name] = r
	}
	for _, name := range []string{"credentials", "organization", "list accounts", "list balances", "list balance transactions", "list events"} {
		if !byName[name].OK {
			t.Errorf("%s: %+v", name, byName[name])
		}
	}
	if n := byName["notifications"]; n.OK || !strings.Contains(n.Detail, "billsync m3ter setup") {
		t.Errorf("notifications before setup: %+v", n)
	}
	if _, err := c.EnsureNotifications(ctx(t), hookURL); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Check(ctx(t)) {
		if !r.OK {
			t.Errorf("after setup: %+v", r)
		}
		if strings.Contains(r.Detail, "3f9c2a7d0b1e4c56") {
			t.Errorf("doctor prints the URL token: %s", r.Detail)
		}
	}

	bad, err := NewClient(fkOptions(fk, fakeKey+":wrong"))
	if err != nil {
		t.Fatal(err)
	}
	bad.pace = noPace{}
	results = bad.Check(ctx(t))
	if len(results) != 1 || results[0].OK || !strings.Contains(results[0].Detail, "billing.token") {
		t.Errorf("bad credentials: %+v", results)
	}
}
