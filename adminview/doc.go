// Package adminview shows what billsync's admin API answers to a person
// at a terminal: tables of sync-log entries, dead letters, settings and
// conflicts, one conflict field by field, and a resync followed to its end
// with a progress bar (or lines, off a terminal) and a summary. The admin
// subcommands of cmd/billsync parse flags, call adminclient and hand the
// answer here.
//
// It must not reach billsync except through adminclient, and must not
// decide anything a flag decides: the command passes the mode (--json,
// --progress) in. Its text names flags and settings, never spec ids.
package adminview
