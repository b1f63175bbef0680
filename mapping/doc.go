// Package mapping is the declarative object and field mapping between
// billing entities and Salesforce objects (SPEC §2): which sObject and
// external id field each billing type uses, how a child names its parent,
// and per field the billing path, the Salesforce API name, the value kind
// and the direction it syncs in; and quote sync's objects and field lists
// (QuoteMapping, the file's quotes: section). It converts values both ways and renders
// them in the canonical form the engine compares and stores as the values
// both sides agreed on (B6, D1).
//
// It does no I/O beyond reading a mapping file, and knows nothing of
// queues, stores or HTTP.
package mapping
