// Package adminclient calls billsync's admin API (SPEC §5.4) for the CLI:
// settings, sync logs, dead letters, queue figures, conflicts and resyncs.
// Error answers come back as *billsync.Error carrying the server's code,
// so callers branch on billsync.ErrorCode exactly as they would
// in-process.
//
// It must not reach into the store or any server internals: everything it
// knows comes over HTTP, and it never logs or returns the admin token.
package adminclient
