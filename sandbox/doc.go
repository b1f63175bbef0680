// Package sandbox runs the emulated world in one process: the Salesforce
// emulator and the billing emulator, each behind a fault injector, seeded
// with demo accounts, balances and quotes, and (unless told not to)
// billsync between them. `billsync sandbox` runs it for people trying
// billsync; the bench and the end-to-end tests run it as their stage;
// `billsync emulate` runs one emulator alone (ServeSalesforce,
// ServeBilling).
//
// It must not import package main (cmd/billsync): billsync's own start-up
// comes in as Options.StartApp, which the command wires, and billsync is
// described to it only by AppConfig. Its credentials are fixed and
// public: nothing here may ever face a real org or billing tenant.
package sandbox
