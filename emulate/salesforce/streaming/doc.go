// Package streaming is the Salesforce emulator's Streaming API: an
// in-memory event bus with replay ids and retention, and a Bayeux (CometD)
// long-polling server that speaks to it the way a real org's /cometd/<ver>
// endpoint does, close enough that jsforce, the official cometd client and
// billsync's own salesforce/cometd subscriber work against it unchanged.
//
// It must not authenticate on its own (the emulator passes an
// Authenticator), know about sObjects or decide which changes publish
// events (the emulator's REST side calls Bus.Publish), or start background
// goroutines: all expiry is evaluated lazily against the injected clock, so
// a Server holds no resources beyond the requests it is serving.
package streaming
