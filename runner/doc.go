// Package runner runs billsync's two long-lived loops around the queue.
// The Runner claims queued changes and has a Processor (the engine) apply
// them, one change per partition at a time and up to Workers partitions
// in parallel, recording each outcome (done, retry, dead letter) in the
// queue and renewing the claim lease of runs at work; it holds back while Salesforce calls are paused and slows down
// above the API budget share. The Listener moves Salesforce stream events
// into the queue, each with its replay checkpoint, as a singleton across
// replicas when given leases; its Status (connected, standby, or why
// neither) is what readiness and the stream metrics both report.
//
// It decides nothing about records: what a change means and what to write
// are the Processor's business, and the Listener only maps an event to
// the change it names. It must not import engine or any concrete store,
// client or emulator.
package runner
