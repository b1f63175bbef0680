// Package quotesync copies billing quotes into Salesforce: the standard
// Quote and its QuoteLineItems, the quote's Opportunity (found or
// created) and its OpportunityLineItems, the stage and the renewal
// placeholder (SPEC §3 E and F). Its Syncer is the engine's QuoteSyncer:
// the engine hands it one attempt at one quote change, after the switches,
// and it records the outcome in that attempt.
//
// One sync reads everything first (read.go, in a few stages each chosen by
// a pure function of what came before), decides with pure functions
// (prepare.go, plan.go, products.go, diff.go), and only then applies one
// plan of writes (write.go). Only records that differ from what Salesforce
// holds are written, and the calls a quote costs do not grow with its
// lines: a 20-line quote on an existing Opportunity costs at most eight.
//
// It must not import engine (only engine/attempt), build SOQL other than
// through salesforce/soql, write quotes back to billing beyond
// crmOpportunityId, or hold money in anything but decimals.
package quotesync
