package sandbox

import (
	"cmp"
	"strconv"
)

// Env is the environment of a `billsync serve` process configured for
// this sandbox's emulators, for tools that run billsync as a child (bench,
// the browser tests). It clears the file settings a caller's environment
// may carry (config file, database, mapping), so the child runs on the
// emulators alone; the caller appends what it sets besides.
func (c AppConfig) Env() []string {
	return []string{
		"BILLSYNC_CONFIG=",
		"BILLSYNC_DATABASE=",
		"BILLSYNC_MAPPING=",
		"BILLSYNC_ADDR=" + c.Addr,
		"BILLSYNC_DATA=" + c.Data,
		"BILLSYNC_SALESFORCE_LOGIN_URL=" + c.SalesforceURL,
		"BILLSYNC_SALESFORCE_GRANT=" + c.Grant,
		"BILLSYNC_SALESFORCE_CLIENT_ID=" + c.ClientID,
		"BILLSYNC_SALESFORCE_CLIENT_SECRET=" + c.ClientSecret,
		"BILLSYNC_SALESFORCE_USERNAME=" + c.Username,
		"BILLSYNC_SALESFORCE_PASSWORD=" + c.Password,
		"BILLSYNC_SALESFORCE_API_VERSION=" + c.APIVersion,
		// serve's default for real orgs is pubsub; the sandbox's is cometd.
		"BILLSYNC_SALESFORCE_STREAM=" + cmp.Or(c.Stream, StreamCometD),
		"BILLSYNC_SALESFORCE_PUBSUB_ADDR=" + c.PubSubAddr,
		"BILLSYNC_SALESFORCE_PUBSUB_INSECURE=" + strconv.FormatBool(c.PubSubAddr != ""),
		"BILLSYNC_SALESFORCE_CHANGE_SOURCE=" + cmp.Or(c.ChangeSource, "trigger"),
		"BILLSYNC_BILLING_PLATFORM=" + c.BillingPlatform,
		"BILLSYNC_BILLING_URL=" + c.BillingURL,
		"BILLSYNC_BILLING_TOKEN=" + c.BillingToken,
		"BILLSYNC_BILLING_WEBHOOK_SECRET=" + c.WebhookSecret,
		"BILLSYNC_ADMIN_TOKENS=" + c.AdminName + "=" + c.AdminToken,
	}
}
