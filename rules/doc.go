// Package rules holds the quote-sync rules of the MonetizeNow seed
// (seeds/003, SPEC §3 E and F) as pure functions: who owns a new Quote,
// what it is called, whether it and its lines sync, which Opportunity
// products to upsert or delete, the Opportunity stage, the renewal
// placeholder, the PricebookEntry of a line, and the validation that runs
// before any write.
//
// Every function takes plain values the engine has already read and returns
// a decision with a stable reason code the sync log can record. The package
// must not do I/O of any kind — no Salesforce or billing calls, no store, no
// clock, no logging — and must not import any package of this module other
// than the root. Keeping it pure is what lets every seed sentence be a table
// test row; the engine does the reading and writing around it.
package rules
