package salesforce

import (
	"sort"
	"strings"
	"time"
)

// The setup objects through which a real org says who holds a custom
// permission: PermissionSet, CustomPermission, SetupEntityAccess (a
// permission set's grant of a custom permission) and
// PermissionSetAssignment (a user's assignment to a permission set).
// `billsync doctor` asks them whether the integration user holds
// BillsyncIntegration, so the emulator answers them from what it already
// models — the SFDX source's permission sets and custom permissions and
// each user's PermissionSets — rather than from a flag of its own. They
// are read-only over the API here: users and their permission sets come
// from Options.Users and SeedDemo.
func setupObjects() []*objectDef {
	mk := func(name, label, plural, prefix string, fields ...*fieldDef) *objectDef {
		o := &objectDef{Name: name, Label: label, LabelPlural: plural, KeyPrefix: prefix, Setup: true,
			byName: map[string]*fieldDef{}, byRel: map[string]*fieldDef{}}
		o.add(systemFields()...)
		for _, f := range fields {
			o.add(readOnly(f))
		}
		return o
	}
	psName := required(fText("Name", 80))
	psName.IDLookup = true
	return []*objectDef{
		mk("PermissionSet", "Permission Set", "Permission Sets", "0PS",
			psName, required(fText("Label", 80)), fText("NamespacePrefix", 15), fTextArea("Description", 255),
			defaulted(fBool("IsOwnedByProfile", false), false), defaulted(fBool("IsCustom", true), true),
			fText("ProfileId", 18), fPick("Type", "Regular", "Group", "Profile", "Session")),
		mk("CustomPermission", "Custom Permission", "Custom Permissions", "0CP",
			required(fText("DeveloperName", 80)), required(fText("MasterLabel", 80)), fText("NamespacePrefix", 15),
			fTextArea("Description", 255), defaulted(fBool("IsLicensed", false), false)),
		mk("SetupEntityAccess", "Setup Entity Access", "Setup Entity Access", "0J0",
			required(fRef("ParentId", "PermissionSet", "Parent")), required(fRef("SetupEntityId", "CustomPermission", "")),
			fPick("SetupEntityType", "ApexClass", "ApexPage", "ConnectedApplication", "CustomEntityDefinition",
				"CustomPermission", "ServiceProvider", "TabSet")),
		mk("PermissionSetAssignment", "Permission Set Assignment", "Permission Set Assignments", "0Pa",
			required(fRef("AssigneeId", "User", "Assignee")), required(fRef("PermissionSetId", "PermissionSet", "PermissionSet")),
			fText("PermissionSetGroupId", 18), defaulted(fBool("IsActive", true), true), fDateTime("ExpirationDate")),
	}
}

// seedSetupLocked brings the setup objects' records in line with the
// source and the users: a PermissionSet per permission set of the source
// or named by a user, a CustomPermission per custom permission, a
// SetupEntityAccess per grant and a PermissionSetAssignment per user and
// permission set. Records found by their natural key keep their ids, so
// an org read back from its data directory answers as before.
func (e *Emulator) seedSetupLocked(now time.Time) {
	owner := e.anyUserIDLocked()
	sets := map[string]map[string]any{}
	for _, ps := range e.meta.PermissionSets {
		sets[strings.ToLower(ps.Name)] = map[string]any{"Name": ps.Name, "Label": ps.Label, "Type": "Regular"}
	}
	for _, u := range e.users {
		for _, name := range u.PermissionSets {
			if _, ok := sets[strings.ToLower(name)]; !ok {
				// A set the source does not define grants no custom permission.
				sets[strings.ToLower(name)] = map[string]any{"Name": name, "Label": name, "Type": "Regular"}
			}
		}
	}
	setIDs := e.syncSetupLocked("PermissionSet", sets, owner, now, "Name")

	perms := map[string]map[string]any{}
	for _, cp := range e.meta.CustomPermissions {
		perms[strings.ToLower(cp)] = map[string]any{"DeveloperName": cp, "MasterLabel": labelFor(cp)}
	}
	permIDs := e.syncSetupLocked("CustomPermission", perms, owner, now, "DeveloperName")

	grants := map[string]map[string]any{}
	for _, ps := range e.meta.PermissionSets {
		for _, cp := range ps.CustomPermissions {
			parent, entity := setIDs[strings.ToLower(ps.Name)], permIDs[strings.ToLower(cp)]
			if parent == "" || entity == "" {
				continue
			}
			grants[parent+"/"+entity] = map[string]any{"ParentId": parent, "SetupEntityId": entity, "SetupEntityType": "CustomPermission"}
		}
	}
	e.syncSetupLocked("SetupEntityAccess", grants, owner, now, "ParentId", "SetupEntityId")

	assigned := map[string]map[string]any{}
	for _, u := range e.users {
		for _, name := range u.PermissionSets {
			ps := setIDs[strings.ToLower(name)]
			assigned[u.ID+"/"+ps] = map[string]any{"AssigneeId": u.ID, "PermissionSetId": ps, "IsActive": true}
		}
	}
	e.syncSetupLocked("PermissionSetAssignment", assigned, owner, now, "AssigneeId", "PermissionSetId")
}

// syncSetupLocked makes the object's records exactly records (by their
// natural key: the lower-cased keyFields joined by "/"): it reuses the id
// of a record with the same key, creates the missing and removes the rest.
// It returns natural key → id.
func (e *Emulator) syncSetupLocked(object string, records map[string]map[string]any, owner string, now time.Time, keyFields ...string) map[string]string {
	key := func(fields map[string]any) string {
		parts := make([]string, len(keyFields))
		for i, f := range keyFields {
			parts[i] = strings.ToLower(str(fields[f]))
		}
		return strings.Join(parts, "/")
	}
	want := make(map[string]map[string]any, len(records))
	for _, fields := range records {
		want[key(fields)] = fields
	}
	o := e.schema.object(object)
	ids := map[string]string{}
	for _, r := range e.sortedLocked(object, true) {
		k := key(r.Fields)
		if _, wanted := want[k]; !wanted || ids[k] != "" {
			e.removeLocked(r.ID)
			continue
		}
		ids[k] = r.ID
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	// Sorted, so a fresh org issues the same ids for the same source.
	sort.Strings(keys)
	for _, k := range keys {
		fields := want[k]
		r := e.records[ids[k]]
		if r == nil {
			r = &record{Object: o.Name, ID: e.nextIDLocked(o.KeyPrefix), Fields: map[string]any{}}
			for _, f := range o.Fields {
				if f.DefaultedOnCreate && f.DefaultValue != nil {
					r.Fields[f.Name] = f.DefaultValue
				}
			}
			e.stampCreateLocked(r, owner, now)
		} else if sameFields(r.Fields, fields) {
			continue
		} else {
			r = r.clone()
		}
		for name, v := range fields {
			r.Fields[name] = v
		}
		e.putLocked(r)
		ids[k] = r.ID
	}
	return ids
}

// sameFields reports whether every field of want already has its value in have.
func sameFields(have, want map[string]any) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
