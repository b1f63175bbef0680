// Package alert watches the conditions an operator must act on (the
// Salesforce event stream down, the oldest pending change too old, dead
// letters rising, the Salesforce API budget nearly spent, conflicts held)
// and tells a webhook once when each starts firing and once when it
// resolves.
//
// It reads billsync's state through small functions and interfaces and
// changes nothing: it must never block or slow the sync, so evaluation
// and delivery run on their own goroutine, and a webhook that is down
// only delays its own messages (they are retried at the next
// evaluation).
package alert
