package salesforce

import (
	"net/url"
	"testing"
)

// setupQuery runs SOQL as the integration user and returns the records.
func (o *testOrg) setupQuery(t *testing.T, q string) []map[string]any {
	t.Helper()
	r := o.do(o.token(IntegrationUsername), "GET", v+"/query?q="+url.QueryEscape(q), nil)
	if r.Status != 200 {
		t.Fatalf("%s: %d %s", q, r.Status, r.Body)
	}
	var out []map[string]any
	for _, rec := range r.obj(t)["records"].([]any) {
		out = append(out, rec.(map[string]any))
	}
	return out
}

// grantedTo answers, over SOQL as a real org would, whether the user holds
// the BillsyncIntegration custom permission through an assigned
// permission set.
func (o *testOrg) grantedTo(t *testing.T, userID string) bool {
	t.Helper()
	cps := o.setupQuery(t, "SELECT Id FROM CustomPermission WHERE DeveloperName = 'BillsyncIntegration'")
	if len(cps) != 1 {
		t.Fatalf("CustomPermission BillsyncIntegration: %v", cps)
	}
	granting := map[string]bool{}
	for _, g := range o.setupQuery(t, "SELECT ParentId, Parent.Name FROM SetupEntityAccess WHERE SetupEntityId = '"+cps[0]["Id"].(string)+"'") {
		granting[g["ParentId"].(string)] = true
		if g["Parent"].(map[string]any)["Name"] != IntegrationPermissionSet {
			t.Errorf("a grant of BillsyncIntegration by %v", g["Parent"])
		}
	}
	for _, a := range o.setupQuery(t, "SELECT PermissionSetId, PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = '"+userID+"'") {
		if granting[a["PermissionSetId"].(string)] {
			return true
		}
	}
	return false
}

// The setup objects answer who holds the custom permission exactly as the
// emulator's own trigger rule decides it, read back from the data
// directory as well; and they refuse writes.
func TestSetupObjectsMirrorPermissionSets(t *testing.T) {
	dir := t.TempDir()
	users := append(DefaultUsers(), User{Username: "ops@billsync.test", Password: "p", PermissionSets: []string{"OpsTools"}})
	o := newTestOrg(t, Options{DataDir: dir, Users: users})
	check := func(o *testOrg) {
		t.Helper()
		o.e.mu.Lock()
		want := map[string]bool{}
		for _, u := range o.e.users {
			want[u.ID] = u.integration
		}
		o.e.mu.Unlock()
		held := 0
		for id, integration := range want {
			if got := o.grantedTo(t, id); got != integration {
				t.Errorf("user %s: SOQL says holds BillsyncIntegration %v, the trigger rule %v", id, got, integration)
			}
			if integration {
				held++
			}
		}
		if held != 1 {
			t.Errorf("%d users hold BillsyncIntegration, want the integration user alone", held)
		}
	}
	check(o)
	ops := o.setupQuery(t, "SELECT Id, PermissionSet.Name, Assignee.Username FROM PermissionSetAssignment WHERE PermissionSet.Name = 'OpsTools'")
	if len(ops) != 1 || ops[0]["Assignee"].(map[string]any)["Username"] != "ops@billsync.test" {
		t.Errorf("OpsTools assignments: %v", ops)
	}
	psa := o.setupQuery(t, "SELECT Id FROM PermissionSetAssignment")

	tok := o.token(IntegrationUsername)
	if r := o.do(tok, "POST", v+"/sobjects/PermissionSetAssignment", map[string]any{}); r.Status < 400 {
		t.Errorf("create PermissionSetAssignment answered %d %s", r.Status, r.Body)
	}
	if r := o.do(tok, "DELETE", v+"/sobjects/PermissionSetAssignment/"+psa[0]["Id"].(string), nil); r.Status < 400 {
		t.Errorf("delete PermissionSetAssignment answered %d %s", r.Status, r.Body)
	}
	if err := o.e.Close(); err != nil {
		t.Fatal(err)
	}

	// Read back, with the ops user's set taken away: ids kept, the
	// assignment gone.
	users[2].PermissionSets = nil
	o2 := newTestOrg(t, Options{DataDir: dir, Users: users})
	check(o2)
	if got := o2.setupQuery(t, "SELECT Id FROM PermissionSetAssignment"); len(got) != len(psa)-1 {
		t.Errorf("%d assignments after the ops user lost OpsTools, want %d", len(got), len(psa)-1)
	}
	if got := o2.setupQuery(t, "SELECT Id FROM PermissionSetAssignment WHERE PermissionSet.Name = 'BillsyncIntegration'"); len(got) != 1 {
		t.Errorf("BillsyncIntegration assignments after restart: %v", got)
	}
}
