// Package httpserver is billsync's HTTP face: it receives billing webhooks
// (verify, validate, enqueue durably, then answer), serves the admin API
// (settings, sync logs, dead letters, queue, conflicts, resync), health and
// readiness probes, and Prometheus metrics on its own registry.
//
// It must not apply changes itself: a webhook is only verified, parsed and
// committed to the queue, and a conflict resolution or a resync is handed
// to the engine (Config.Resolver, Config.Resyncer); the engine does the
// work. It answers 2xx to a webhook only after the queue row is committed,
// never logs request bodies or tokens, and maps error codes to HTTP
// statuses in exactly one place (errorStatus), so internal failure details
// never reach a caller.
package httpserver
