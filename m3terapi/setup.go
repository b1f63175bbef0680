package m3terapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/billsync/billsync"
)

// Names billsync gives the objects it sets up in m3ter, so that a second
// setup finds them.
const (
	setupName        = "billsync"
	destinationCode  = "billsync"
	notificationPref = "billsync_"
	// integrationDestination is the integration config's destination for
	// a webhook destination.
	integrationDestination = "WEBHOOK"
	integrationEntity      = "Notification"
)

// notificationCode is the code of billsync's notification rule for an
// event name ("billsync_configuration_account_updated").
func notificationCode(eventName string) string {
	return notificationPref + strings.ReplaceAll(eventName, ".", "_")
}

// notification is a notification configuration (a rule).
type notification struct {
	ID              string `json:"id,omitempty"`
	Version         int64  `json:"version,omitempty"`
	Code            string `json:"code"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	EventName       string `json:"eventName"`
	Calculation     string `json:"calculation,omitempty"`
	Active          bool   `json:"active"`
	AlwaysFireEvent bool   `json:"alwaysFireEvent"`
}

// destination is a webhook destination.
type destination struct {
	ID     string `json:"id"`
	URL    string `json:"url"`
	Code   string `json:"code"`
	Active *bool  `json:"active"`
}

// integrationConfig links a notification rule to a destination.
type integrationConfig struct {
	ID            string `json:"id"`
	EntityType    string `json:"entityType"`
	EntityID      string `json:"entityId"`
	Destination   string `json:"destination"`
	DestinationID string `json:"destinationId"`
	Enabled       *bool  `json:"enabled"`
}

// listAll pages through a list with m3ter's cap of most per page.
func listAll[T any](ctx context.Context, c *Client, path string, q url.Values, most int) ([]T, error) {
	var all []T
	token := ""
	for {
		qq := pageQuery(token, most, most)
		for k, v := range q {
			qq[k] = v
		}
		var p page[T]
		if err := c.get(ctx, path, qq, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Data...)
		if token = p.next(); token == "" || len(p.Data) == 0 {
			return all, nil
		}
	}
}

// SetupResult is what EnsureNotifications did.
type SetupResult struct {
	DestinationID string
	// Changes says what was created or corrected, one line each; none
	// when everything was in place already.
	Changes []string
}

// EnsureNotifications makes m3ter deliver the events billsync watches to
// destinationURL ({public base}/webhooks/m3ter/{token}): one webhook
// destination for the URL, one active, always-firing notification rule
// per watched event name, and an integration config linking each rule to
// the destination. It creates what is missing and corrects what differs;
// a second run changes nothing.
//
// The destination's M3TER_SIGNED_REQUEST credentials are required by
// m3ter but not used by billsync (their signature scheme is not
// confirmed): a random pair is set; the token in the URL is the secret.
func (c *Client) EnsureNotifications(ctx context.Context, destinationURL string) (SetupResult, error) {
	u, err := url.Parse(destinationURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return SetupResult{}, billsync.Errorf(billsync.EINVALID, "webhook URL %q: want the absolute http(s) URL m3ter should call", destinationURL)
	}
	var res SetupResult
	dest, err := c.findDestination(ctx, destinationURL)
	if err != nil {
		return res, err
	}
	if dest == nil {
		key, secret := randomHex(16), randomHex(32)
		body := map[string]any{"name": setupName, "description": "billsync: change notifications (a hint; billsync reads the record back)",
			"code": destinationCode, "url": destinationURL, "active": true,
			"credentials": map[string]any{"type": "M3TER_SIGNED_REQUEST", "apiKey": key, "secret": secret}}
		var created destination
		if err := c.post(ctx, c.orgPath("integrationdestinations", "webhooks"), body, &created); err != nil {
			return res, err
		}
		if created.ID == "" {
			return res, &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "POST integrationdestinations/webhooks answered no id"}
		}
		dest = &created
		res.Changes = append(res.Changes, "created webhook destination "+created.ID+" for "+destinationURL)
	}
	res.DestinationID = dest.ID
	if dest.Active != nil && !*dest.Active {
		var out destination
		if err := c.put(ctx, c.orgPath("integrationdestinations", "webhooks", dest.ID, "active")+"?active=true", nil, &out); err != nil {
			return res, err
		}
		res.Changes = append(res.Changes, "switched webhook destination "+dest.ID+" on")
	}
	configs, err := listAll[integrationConfig](ctx, c, c.orgPath("integrationconfigs"), url.Values{"destinationId": {dest.ID}}, 200)
	if err != nil {
		return res, err
	}
	for _, name := range WatchedEvents() {
		n, change, err := c.ensureNotification(ctx, name)
		if err != nil {
			return res, err
		}
		if change != "" {
			res.Changes = append(res.Changes, change)
		}
		if linked(configs, n.ID, dest.ID) {
			continue
		}
		if off := disabledLink(configs, n.ID, dest.ID); off != nil {
			var ic integrationConfig
			if err := c.post(ctx, c.orgPath("integrationconfigs", off.ID, "enable"), nil, &ic); err != nil {
				return res, err
			}
			on := true
			off.Enabled = &on
			res.Changes = append(res.Changes, fmt.Sprintf("enabled the integration config linking notification %s (%s) to the webhook destination", n.Code, name))
			continue
		}
		body := map[string]any{"entityType": integrationEntity, "entityId": n.ID, "destination": integrationDestination,
			"destinationId": dest.ID, "name": setupName + " " + name, "configData": map[string]any{}}
		var ic integrationConfig
		if err := c.post(ctx, c.orgPath("integrationconfigs"), body, &ic); err != nil {
			return res, err
		}
		configs = append(configs, ic)
		res.Changes = append(res.Changes, fmt.Sprintf("linked notification %s (%s) to the webhook destination", n.Code, name))
	}
	return res, nil
}

func linked(configs []integrationConfig, notificationID, destID string) bool {
	for _, ic := range configs {
		if strings.EqualFold(ic.EntityType, integrationEntity) && ic.EntityID == notificationID && ic.DestinationID == destID &&
			(ic.Enabled == nil || *ic.Enabled) {
			return true
		}
	}
	return false
}

// disabledLink is the switched-off integration config linking a rule to
// the destination, nil when there is none.
func disabledLink(configs []integrationConfig, notificationID, destID string) *integrationConfig {
	for i, ic := range configs {
		if strings.EqualFold(ic.EntityType, integrationEntity) && ic.EntityID == notificationID && ic.DestinationID == destID &&
			ic.Enabled != nil && !*ic.Enabled {
			return &configs[i]
		}
	}
	return nil
}

func (c *Client) findDestination(ctx context.Context, destinationURL string) (*destination, error) {
	ds, err := listAll[destination](ctx, c, c.orgPath("integrationdestinations", "webhooks"), nil, 200)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		if ds[i].URL == destinationURL {
			return &ds[i], nil
		}
	}
	return nil, nil
}

// findNotification is billsync's rule for an event name, nil when none.
func (c *Client) findNotification(ctx context.Context, eventName string) (*notification, error) {
	ns, err := listAll[notification](ctx, c, c.orgPath("notifications", "configurations"), url.Values{"eventName": {eventName}}, 100)
	if err != nil {
		return nil, err
	}
	code := notificationCode(eventName)
	for i := range ns {
		if ns[i].Code == code {
			return &ns[i], nil
		}
	}
	return nil, nil
}

// ensureNotification is billsync's rule for an event name, created or
// corrected (active, always fired, no calculation); change says what was
// done, "" when nothing.
func (c *Client) ensureNotification(ctx context.Context, eventName string) (*notification, string, error) {
	n, err := c.findNotification(ctx, eventName)
	if err != nil {
		return nil, "", err
	}
	want := notification{Code: notificationCode(eventName), Name: setupName + " " + eventName,
		Description: "billsync: notify on " + eventName, EventName: eventName, Active: true, AlwaysFireEvent: true}
	if n == nil {
		var out notification
		if err := c.post(ctx, c.orgPath("notifications", "configurations"), want, &out); err != nil {
			return nil, "", err
		}
		if out.ID == "" {
			return nil, "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 200, Message: "POST notifications/configurations answered no id"}
		}
		return &out, "created notification " + want.Code + " for " + eventName, nil
	}
	if n.Active && n.AlwaysFireEvent && n.EventName == eventName && n.Calculation == "" {
		return n, "", nil
	}
	want.Version = n.Version
	if n.Name != "" {
		want.Name = n.Name
	}
	if n.Description != "" {
		want.Description = n.Description
	}
	var out notification
	if err := c.put(ctx, c.orgPath("notifications", "configurations", n.ID), want, &out); err != nil {
		return nil, "", err
	}
	if out.ID == "" {
		out = *n
	}
	return &out, "corrected notification " + want.Code + " (active, always fired) for " + eventName, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CheckResult is one line of billsync doctor's m3ter checks.
type CheckResult struct {
	Name   string
	OK     bool
	Detail string
}

// Check says whether the credentials reach the organization, every
// object billsync syncs can be listed, and the notifications billsync
// needs are in place. It writes nothing.
func (c *Client) Check(ctx context.Context) []CheckResult {
	var out []CheckResult
	add := func(name string, err error, ok string) bool {
		if err != nil {
			out = append(out, CheckResult{Name: name, Detail: billsync.ErrorMessage(err)})
			return false
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: ok})
		return true
	}
	_, err := c.accessToken(ctx)
	if !add("credentials", err, "billing.token gets an access token") {
		return out
	}
	org, err := c.Tenant(ctx)
	detail := "organization " + org
	if su := c.ServiceUser(); su != "" {
		detail += "; billsync writes as " + su
	}
	if !add("organization", err, detail) {
		return out
	}
	_, _, err = c.listAccounts(ctx, "", 1)
	add("list accounts", err, "ok")
	bals, _, err := c.listBalances(ctx, "", 1)
	add("list balances", err, "ok")
	switch {
	case err != nil:
	case len(bals) == 0:
		out = append(out, CheckResult{Name: "list balance transactions", OK: true, Detail: "no balance yet to list them from"})
	default:
		_, err := c.listTxns(ctx, bals[0].ID(), "", 1)
		add("list balance transactions", err, "ok")
	}
	var evs page[event]
	add("list events", c.get(ctx, c.orgPath("events"), pageQuery("", 1, 100), &evs), "ok")
	out = append(out, c.checkNotifications(ctx))
	return out
}

// checkNotifications says whether every watched event name has an
// active, always-fired rule of billsync's linked to a webhook
// destination.
func (c *Client) checkNotifications(ctx context.Context) CheckResult {
	const name = "notifications"
	configs, err := listAll[integrationConfig](ctx, c, c.orgPath("integrationconfigs"), nil, 200)
	if err != nil {
		return CheckResult{Name: name, Detail: billsync.ErrorMessage(err)}
	}
	ds, err := listAll[destination](ctx, c, c.orgPath("integrationdestinations", "webhooks"), nil, 200)
	if err != nil {
		return CheckResult{Name: name, Detail: billsync.ErrorMessage(err)}
	}
	dests := map[string]destination{}
	for _, d := range ds {
		dests[d.ID] = d
	}
	var missing []string
	urls := map[string]bool{}
	for _, ev := range WatchedEvents() {
		n, err := c.findNotification(ctx, ev)
		if err != nil {
			return CheckResult{Name: name, Detail: billsync.ErrorMessage(err)}
		}
		if n == nil || !n.Active || !n.AlwaysFireEvent {
			missing = append(missing, ev)
			continue
		}
		found := false
		for _, ic := range configs {
			d, ok := dests[ic.DestinationID]
			if ok && linked([]integrationConfig{ic}, n.ID, d.ID) && (d.Active == nil || *d.Active) {
				found = true
				urls[redactToken(d.URL)] = true
			}
		}
		if !found {
			missing = append(missing, ev)
		}
	}
	if len(missing) > 0 {
		return CheckResult{Name: name, Detail: "not delivered to billsync: " + strings.Join(missing, ", ") + "; run billsync m3ter setup"}
	}
	var us []string
	for u := range urls {
		us = append(us, u)
	}
	return CheckResult{Name: name, OK: true, Detail: "every watched event is delivered to " + strings.Join(sortedStrings(us), ", ")}
}

// redactToken hides the secret last segment of a delivery URL in what
// doctor prints.
func redactToken(u string) string {
	i := strings.LastIndexByte(strings.TrimRight(u, "/"), '/')
	if i < 0 || !strings.Contains(u, "/webhooks/m3ter/") {
		return u
	}
	return u[:i+1] + "…"
}
