package sfdx

import (
	"io/fs"
	"regexp"

	"github.com/billsync/billsync"
)

// TriggerRule is the part of BillingSyncTrigger's rule that lives in the
// Apex handler's constants, read from the source so that the emulator
// refuses with exactly the text users deploy and billsync recognises.
type TriggerRule struct {
	// Handler is the Apex class the triggers call.
	Handler string
	// RevisionField counts the edits of everyone but the integration
	// user; billsync's updates carry the revision they were decided from
	// (SPEC D4).
	RevisionField string
	// StaleRevision is the error message (status code
	// FIELD_CUSTOM_VALIDATION_EXCEPTION) of an integration user's update
	// whose revision the record has moved past.
	StaleRevision string
}

// handlerClass is the Apex class holding the rule.
const handlerClass = "BillingSyncTrigger"

// apexString matches a string constant: public static final String NAME = '…';
var apexString = regexp.MustCompile(`(?m)^\s*public\s+static\s+final\s+String\s+(\w+)\s*=\s*'((?:[^'\\]|\\.)*)'\s*;`)

func parseHandler(fsys fs.FS, m *Metadata) error {
	b, err := fs.ReadFile(fsys, sourceRoot+"/classes/"+handlerClass+".cls")
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "salesforce source: the trigger handler %s: %v", handlerClass, err)
	}
	consts := map[string]string{}
	for _, g := range apexString.FindAllSubmatch(b, -1) {
		consts[string(g[1])] = string(g[2])
	}
	m.Rule = TriggerRule{Handler: handlerClass, RevisionField: consts["REVISION"], StaleRevision: consts["STALE_REVISION"]}
	if m.Rule.RevisionField == "" || m.Rule.StaleRevision == "" {
		return billsync.Errorf(billsync.EINVALID, "salesforce source: %s.cls must declare the REVISION and STALE_REVISION constants", handlerClass)
	}
	for _, t := range m.Triggers {
		o := m.Object(t.Object)
		if o != nil && o.Field(m.Rule.RevisionField) == nil {
			return billsync.Errorf(billsync.EINVALID, "salesforce source: %s is triggered but has no %s", o.Name, m.Rule.RevisionField)
		}
	}
	return nil
}
