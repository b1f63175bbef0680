// Package cometd is billsync's Salesforce Streaming API (CometD / Bayeux
// long-polling) subscriber: it implements billsync.ChangeSource for
// platform-event channels (and change-event channels, whose JSON it
// decodes the same way).
//
// It handshakes, subscribes with the replay extension, long-polls, and on
// every new handshake resubscribes from the last event its handler
// accepted, so a dropped session neither skips nor replays handled events.
// It must not persist replay ids (the caller stores the id of each handled
// event in the same transaction as its effect), decide what an event means,
// or fall back silently to -1/-2 when a replay id has expired: that is
// reported as billsync.ErrReplayGap so the engine can resync.
package cometd
