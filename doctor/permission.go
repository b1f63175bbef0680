package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/salesforce/soql"
)

// integrationPermission is the custom permission BillingSyncTrigger checks
// to tell billsync's writes from a person's, and the permission set of the
// SFDX source that carries it.
const (
	integrationPermission    = "BillsyncIntegration"
	integrationPermissionSet = "BillsyncIntegration"
)

// assignHint is how to give user the custom permission.
func assignHint(user string) string {
	return fmt.Sprintf("assign the permission set %s to %s: `sf org assign permset --name %s --on-behalf-of %s`",
		integrationPermissionSet, user, integrationPermissionSet, user)
}

// checkIntegrationPermission asks the org, as it records permissions,
// whether the logged-in user is assigned a permission set that carries
// the BillsyncIntegration custom permission. Without it nothing else
// fails: the trigger takes billsync's own writes for a person's, bumps
// revisions and publishes events for them, so every write comes back.
func checkIntegrationPermission(ctx context.Context, r *doctorRun, sf *rest.Client, userID, username string) {
	const name = "Salesforce integration permission"
	user := username
	if user == "" {
		user = userID
	}
	unreadable := func(err error) {
		r.fail(name, fmt.Sprintf("cannot read the permission set assignments of %s: %v; the integration user needs View Setup and Configuration for this check, or confirm in Setup (Users → %s → Permission Set Assignments) that it holds %s, else %s",
			user, err, user, integrationPermissionSet, assignHint(user)))
	}
	perms, err := sf.Query(ctx, soql.Select("Id").From("CustomPermission").
		Where(soql.Eq("DeveloperName", integrationPermission)).String())
	if err != nil {
		unreadable(err)
		return
	}
	if len(perms) == 0 {
		r.fail(name, fmt.Sprintf("the custom permission %s is not in the org: %s, then %s", integrationPermission, deployHint, assignHint(user)))
		return
	}
	permIDs := make([]string, 0, len(perms))
	for _, p := range perms {
		permIDs = append(permIDs, fmt.Sprint(p["Id"]))
	}
	grants, err := sf.Query(ctx, soql.Select("ParentId").From("SetupEntityAccess").
		Where(soql.In("SetupEntityId", permIDs)).String())
	if err != nil {
		unreadable(err)
		return
	}
	granting := map[string]bool{}
	for _, g := range grants {
		granting[fmt.Sprint(g["ParentId"])] = true
	}
	assigned, err := sf.Query(ctx, soql.Select("PermissionSetId", "PermissionSet.Name").From("PermissionSetAssignment").
		Where(soql.Eq("AssigneeId", userID)).String())
	if err != nil {
		unreadable(err)
		return
	}
	var held, others []string
	for _, a := range assigned {
		setName := ""
		if ps, ok := a["PermissionSet"].(map[string]any); ok {
			setName, _ = ps["Name"].(string)
		}
		if granting[fmt.Sprint(a["PermissionSetId"])] {
			held = append(held, setName)
		} else if setName != "" {
			others = append(others, setName)
		}
	}
	if len(held) > 0 {
		r.ok(name, fmt.Sprintf("%s holds the %s custom permission through the permission set %s: its writes publish no change events",
			user, integrationPermission, strings.Join(held, ", ")))
		return
	}
	has := "no permission set"
	if len(others) > 0 {
		has = "only " + strings.Join(others, ", ")
	}
	r.fail(name, fmt.Sprintf("%s is not assigned a permission set carrying the %s custom permission (it has %s), so the trigger takes billsync's own writes for a person's and loop prevention fails: %s",
		user, integrationPermission, has, assignHint(user)))
}
