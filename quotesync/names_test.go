package quotesync

// The default mapping's names (mapping.DefaultQuoteObjects), as the tests
// spell them.
const (
	sobjQuote          = "Quote"
	sobjOpportunity    = "Opportunity"
	fieldQuoteExtID    = "BillingQuoteId__c"
	fieldOppQuoteExtID = "BillingQuoteId__c"
	fieldLineExtID     = "BillingQuoteItemId__c"
)
