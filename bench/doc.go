// Package bench measures billsync: it starts the emulators (package
// sandbox) and billsync, drives five workloads (webhook ingest, a burst of
// creates and updates, a steady stream against a slow Salesforce, a
// realistic one — accounts with balances and transactions written and
// updated by clients through the billing API, compared with a per-record
// integration — and queue growth under large backlogs), and reports every
// figure against
// billsync's targets, as a table and as one JSON line. `billsync bench`
// is a thin command over Run, as River's CLI is over riverbench.
//
// It must not import package main (cmd/billsync): how to start billsync,
// as a child `billsync serve` or in this process, comes in as Billsync,
// which the command wires. Targets are printed, never asserted: a run on
// a loaded machine reports a MISS, not an error.
package bench
