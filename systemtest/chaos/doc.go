// Package chaos holds billsync's chaos test (build tag chaos; see
// docs/chaos.md): thousands of random changes on both sides while both
// emulators inject faults and billsync, a child process built from
// cmd/billsync, is SIGKILLed and restarted at random moments; then
// everything must converge with nothing lost and nothing duplicated.
//
//	go test -tags chaos -run 'TestChaos$' -count=1 -timeout 15m -v ./systemtest/chaos/
//
// It is a system test: it runs the real binary as an operator would and
// looks only at what the outside can see (the emulators, the admin API,
// the store's file once billsync has stopped). It must not import package
// main, nor be imported: without the tag this package is this comment.
package chaos
