// Package doctor checks, before a first sync, that billsync can run
// against a Salesforce org and a billing tenant: the configuration, the
// Salesforce login, every object and field billsync reads and writes (as
// the SFDX source and the mapping define them) with the integration
// user's access to each, that user's assignment to a permission set
// carrying the BillsyncIntegration custom permission, the platform event, the org's API budget, the
// billing tenant and token, and the webhook secret. Each check that fails
// says what is missing and how to fix it. `billsync doctor` is a thin
// command over Run and Print.
//
// It must not import package main (cmd/billsync): the configuration
// comes in as a Target, which the command fills from billsync's own
// configuration. It reads and describes but never writes to either side,
// and never prints a secret.
package doctor
