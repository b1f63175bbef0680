// Package sfdx is the Salesforce side of billsync as SFDX source: the
// custom objects and fields, the BillingObjectChange__e platform event, the
// trigger and its Apex handler, the custom permission and the permission set
// that users deploy to their org (force-app/), embedded in the binary and
// parsed into plain Go values by Schema.
//
// The Salesforce emulator loads its custom schema from here and `billsync
// doctor` checks a real org against it, so what is deployed and what tests
// run against cannot drift apart.
//
// It must not talk to Salesforce (the REST client lives elsewhere) and must
// not import the engine or the emulator: it only describes metadata.
package sfdx
