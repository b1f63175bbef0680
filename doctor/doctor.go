package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sfdx"
)

// deployHint is how to put billsync's metadata into the org.
const deployHint = "deploy sfdx/ with `sf project deploy start`"

// permsetHint is how to give the integration user access.
const permsetHint = "assign the BillsyncIntegration permission set to the integration user: `sf org assign permset --name BillsyncIntegration --on-behalf-of <username>`"

// Target is what the doctor checks: billsync's configuration, as the
// command loaded it.
type Target struct {
	// ConfigErr is the configuration's validation error, nil when it is
	// complete; the doctor reports it and checks what it can regardless.
	ConfigErr error
	// Mapping is the YAML mapping file; empty means the built-in mapping.
	Mapping    string
	Salesforce Salesforce
	Billing    Billing
	// APIBudgetShare is the share of the org's daily API allocation
	// above which billsync slows down; outside (0, 1] means 0.9.
	APIBudgetShare float64
}

// Salesforce says how billsync reaches the org (config key salesforce.*).
type Salesforce struct {
	LoginURL       string
	Grant          string // password | client_credentials | jwt
	ClientID       string
	ClientSecret   string
	Username       string
	Password       string
	PrivateKeyFile string
	APIVersion     string
	ChangeSource   string // trigger | cdc: cdc checks the objects' CDC selection
}

// Billing says how billsync reaches the billing platform (config key
// billing.*).
type Billing struct {
	URL           string
	Token         string
	WebhookSecret string
	// Checks, when set, are a billing platform's own checks (billing.platform
	// other than the contract), run in place of the contract's.
	Checks func(ctx context.Context) []Check
	// QuoteChecks, when set, are the checks of the quote source beside
	// the billing platform (billing.quotes), run after its checks.
	QuoteChecks func(ctx context.Context) []Check
}

// Check is one check's outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Print writes the checks, one line each or as JSON, and returns how
// many failed.
func Print(w io.Writer, checks []Check, asJSON bool) int {
	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			OK     bool    `json:"ok"`
			Failed int     `json:"failed"`
			Checks []Check `json:"checks"`
		}{failed == 0, failed, checks})
		return failed
	}
	for _, c := range checks {
		switch {
		case !c.OK:
			fmt.Fprintf(w, "FAIL %s: %s\n", c.Name, c.Detail)
		case c.Detail != "":
			fmt.Fprintf(w, "ok   %s: %s\n", c.Name, c.Detail)
		default:
			fmt.Fprintf(w, "ok   %s\n", c.Name)
		}
	}
	return failed
}

// doctorRun collects checks.
type doctorRun struct{ checks []Check }

func (r *doctorRun) ok(name, detail string) {
	r.checks = append(r.checks, Check{Name: name, OK: true, Detail: detail})
}

func (r *doctorRun) fail(name, detail string) {
	r.checks = append(r.checks, Check{Name: name, Detail: detail})
}

// fieldNeed says what billsync does with a Salesforce field.
type fieldNeed struct {
	create, update bool // billsync writes it on create / on update
	// mappedOnly: the mapping file names it and billsync's SFDX source does
	// not, so deploying sfdx/ will not bring it.
	mappedOnly bool
}

// objectNeed is what billsync needs of one Salesforce object.
type objectNeed struct {
	name     string
	kind     string // sfdx.KindCustom, KindStandard, KindEvent
	fields   map[string]fieldNeed
	order    []string
	standard bool // a standard object (Quote…): missing means a feature is off
}

func (o *objectNeed) need(field string, n fieldNeed) {
	key := strings.ToLower(field)
	if _, seen := o.fields[key]; !seen {
		o.order = append(o.order, field)
	}
	old, seen := o.fields[key]
	o.fields[key] = fieldNeed{create: old.create || n.create, update: old.update || n.update,
		mappedOnly: (!seen || old.mappedOnly) && n.mappedOnly}
}

// readOnlyFields are fields of the source billsync reads but never writes:
// a person sets them.
var readOnlyFields = map[string]bool{
	"quotelineitem.overrideopportunitysync__c": true,
}

// doctorNeeds lists the objects and fields billsync uses: every object and
// field of the SFDX source, the custom objects' Name fields, the mapping's
// fields and the quote mapping's required fields.
func doctorNeeds(md *sfdx.Metadata, m *mapping.Mapping) []*objectNeed {
	byName := map[string]*objectNeed{}
	var out []*objectNeed
	obj := func(name, kind string) *objectNeed {
		if o, ok := byName[strings.ToLower(name)]; ok {
			return o
		}
		o := &objectNeed{name: name, kind: kind, fields: map[string]fieldNeed{}, standard: kind == sfdx.KindStandard}
		byName[strings.ToLower(name)] = o
		out = append(out, o)
		return o
	}
	write := fieldNeed{create: true, update: true}
	for _, so := range md.Objects {
		o := obj(so.Name, so.Kind)
		if so.NameField != nil && so.NameField.Type != "AutoNumber" {
			o.need("Name", write)
		}
		for _, f := range so.Fields {
			switch {
			case so.Kind == sfdx.KindEvent || readOnlyFields[strings.ToLower(so.Name+"."+f.Name)]:
				o.need(f.Name, fieldNeed{})
			case f.Type == "AutoNumber":
				o.need(f.Name, fieldNeed{})
			case f.Type == "MasterDetail":
				// Set when the child is created; not reparentable.
				o.need(f.Name, fieldNeed{create: true})
			default:
				o.need(f.Name, write)
			}
		}
	}
	if m != nil {
		for _, mo := range m.Objects {
			o := obj(mo.SObject, sfdx.KindCustom)
			o.need(mo.ExternalID, write)
			if mo.Parent != nil {
				o.need(mo.Parent.LookupField, fieldNeed{create: true})
			}
			for _, f := range mo.Fields {
				n := fieldNeed{}
				if f.ToSF() {
					n = write
				}
				n.mappedOnly = md.Object(mo.SObject) == nil || md.Object(mo.SObject).Field(f.Salesforce) == nil
				o.need(f.Salesforce, n)
			}
		}
	}
	// The quote part as the mapping file says (its objects may be
	// renamed), else the built-in one.
	q := m.Quote()
	for _, part := range []struct {
		object mapping.QuoteObject
		fields []mapping.QuoteField
	}{{q.Objects.Quote, q.Quote}, {q.Objects.Line, q.Line}, {q.Objects.Opportunity, q.Opportunity}, {q.Objects.OppProduct, q.OppProduct}} {
		o := obj(part.object.SObject, sfdx.KindStandard)
		for _, f := range part.fields {
			if f.Optional || strings.Contains(f.Salesforce, mapping.Wildcard) {
				continue
			}
			// A custom field the source does not deploy is the mapping
			// file's own (standard fields are the org's).
			so := md.Object(part.object.SObject)
			custom := strings.HasSuffix(strings.ToLower(f.Salesforce), "__c")
			o.need(f.Salesforce, fieldNeed{create: true, update: true, mappedOnly: custom && (so == nil || so.Field(f.Salesforce) == nil)})
		}
	}
	return out
}

// Run runs every check against cfg. The remote checks stop when ctx ends.
func Run(ctx context.Context, cfg Target, log *slog.Logger) []Check {
	r := &doctorRun{}

	// Configuration.
	if err := cfg.ConfigErr; err != nil {
		r.fail("config", err.Error()+" (set them in --config, BILLSYNC_* variables or flags)")
	} else {
		r.ok("config", "")
	}
	m := mapping.Default()
	if cfg.Mapping != "" {
		mm, err := mapping.Load(cfg.Mapping)
		if err != nil {
			r.fail("mapping", err.Error())
			m = nil
		} else {
			m = mm
			r.ok("mapping", cfg.Mapping)
		}
	}

	checkSalesforce(ctx, r, cfg, m, log)
	if cfg.Billing.Checks != nil {
		r.checks = append(r.checks, cfg.Billing.Checks(ctx)...)
	} else {
		checkBilling(ctx, r, cfg)
		if _, err := billingapi.NewVerifier(cfg.Billing.WebhookSecret, nil); err != nil {
			r.fail("billing webhook secret", err.Error()+`: set billing.webhookSecret (BILLSYNC_BILLING_WEBHOOK_SECRET) to the endpoint's signing secret, "whsec_" + base64`)
		} else {
			r.ok("billing webhook secret", "")
		}
	}
	if cfg.Billing.QuoteChecks != nil {
		r.checks = append(r.checks, cfg.Billing.QuoteChecks(ctx)...)
	}
	return r.checks
}

func checkSalesforce(ctx context.Context, r *doctorRun, cfg Target, m *mapping.Mapping, log *slog.Logger) {
	const login = "Salesforce login"
	var key []byte
	if cfg.Salesforce.PrivateKeyFile != "" {
		var err error
		if key, err = os.ReadFile(cfg.Salesforce.PrivateKeyFile); err != nil {
			r.fail(login, fmt.Sprintf("salesforce.privateKeyFile: %v", err))
			return
		}
	}
	sf, err := rest.New(rest.Config{
		LoginURL: cfg.Salesforce.LoginURL, Grant: cfg.Salesforce.Grant,
		ClientID: cfg.Salesforce.ClientID, ClientSecret: cfg.Salesforce.ClientSecret,
		Username: cfg.Salesforce.Username, Password: cfg.Salesforce.Password,
		PrivateKeyPEM: key, APIVersion: cfg.Salesforce.APIVersion, Logger: log,
	})
	if err != nil {
		r.fail(login, err.Error())
		return
	}
	userID, orgID, err := sf.Identity(ctx)
	if err != nil {
		r.fail(login, loginHint(err, cfg))
		return
	}
	user, username := userID, ""
	if rec, err := sf.Retrieve(ctx, "User", userID, []string{"Username"}); err == nil {
		if username, _ = rec["Username"].(string); username != "" {
			user = username + " (" + userID + ")"
		}
	}
	r.ok(login, fmt.Sprintf("org %s, user %s, %s grant at %s", orgID, user, cfg.Salesforce.Grant, cfg.Salesforce.LoginURL))
	checkIntegrationPermission(ctx, r, sf, userID, username)
	if cfg.Salesforce.ChangeSource == changeSourceCDC {
		checkCDCSelection(ctx, r, sf, m)
	}

	md, err := sfdx.Schema()
	if err != nil {
		r.fail("Salesforce schema", "the built-in SFDX source does not parse: "+err.Error())
		return
	}
	for _, o := range doctorNeeds(md, m) {
		checkObject(ctx, r, sf, o)
	}

	const budget = "Salesforce API budget"
	used, max, ok := sf.Limits()
	share := cfg.APIBudgetShare
	if share <= 0 || share > 1 {
		share = 0.9
	}
	switch {
	case !ok || max <= 0:
		r.ok(budget, "the org reported no Sforce-Limit-Info; cannot tell")
	case float64(used) > share*float64(max):
		r.fail(budget, fmt.Sprintf("%d of %d daily API requests used (%.1f %%), above %.0f %%: billsync would throttle itself; wait for the 24-hour window to roll or raise the org's allocation",
			used, max, 100*float64(used)/float64(max), 100*share))
	default:
		r.ok(budget, fmt.Sprintf("%d of %d daily API requests used (%.1f %%)", used, max, 100*float64(used)/float64(max)))
	}
}

// loginHint explains a failed login.
func loginHint(err error, cfg Target) string {
	msg := err.Error()
	var re *billsync.RemoteError
	if !errors.As(err, &re) {
		return msg + fmt.Sprintf(": check that salesforce.loginUrl (%s) is reachable", cfg.Salesforce.LoginURL)
	}
	switch re.Code {
	case "invalid_grant":
		switch cfg.Salesforce.Grant {
		case "jwt":
			return msg + ": check salesforce.username, that salesforce.privateKeyFile matches the connected app's certificate, and that the user is pre-authorized for the app"
		case "client_credentials":
			return msg + ": check the connected app's client credentials flow and its run-as user"
		default:
			return msg + fmt.Sprintf(": check salesforce.username (%s) and salesforce.password (BILLSYNC_SALESFORCE_PASSWORD; append the security token when the org requires one), and that the user is active and may log in through the connected app", cfg.Salesforce.Username)
		}
	case "invalid_client_id", "invalid_client":
		return msg + ": check salesforce.clientId and salesforce.clientSecret (the connected app's consumer key and secret)"
	}
	if re.StatusCode >= 500 || re.Transient {
		return msg + ": the login endpoint failed; try again"
	}
	return msg
}

// checkObject describes one object and checks its fields.
func checkObject(ctx context.Context, r *doctorRun, sf *rest.Client, o *objectNeed) {
	name := "Salesforce object " + o.name
	if o.kind == sfdx.KindEvent {
		name = "Salesforce platform event " + o.name
	}
	d, err := sf.Describe(ctx, o.name)
	if err != nil {
		var re *billsync.RemoteError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.Code == "NOT_FOUND") {
			switch {
			case o.standard && !strings.HasSuffix(o.name, "__c"):
				r.fail(name, fmt.Sprintf("%s missing: enable it in Setup (Quote Settings → Enable Quotes for Quote and QuoteLineItem), then %s", o.name, permsetHint))
			default:
				r.fail(name, fmt.Sprintf("%s missing: %s, then %s", o.name, deployHint, permsetHint))
			}
			return
		}
		r.fail(name, fmt.Sprintf("describe %s: %v", o.name, err))
		return
	}
	var problems []string
	var missing, mappedMissing, notCreate, notUpdate []string
	for _, f := range o.order {
		need := o.fields[strings.ToLower(f)]
		fd, ok := d.Field(f)
		switch {
		case !ok && need.mappedOnly:
			mappedMissing = append(mappedMissing, o.name+"."+f)
		case !ok:
			missing = append(missing, o.name+"."+f)
		default:
			if need.create && !fd.Createable {
				notCreate = append(notCreate, o.name+"."+f)
			}
			if need.update && !fd.Updateable {
				notUpdate = append(notUpdate, o.name+"."+f)
			}
		}
	}
	sort.Strings(missing)
	sort.Strings(mappedMissing)
	for _, f := range mappedMissing {
		problems = append(problems, f+" missing: the mapping file (mapping: or --mapping) maps it and the org has no such field: create it (Setup → Object Manager, or in your SFDX source and `sf project deploy start`) and give the integration user read and edit access to it, or take it out of the mapping file")
	}
	for _, f := range missing {
		problems = append(problems, f+" missing: "+deployHint+"; if it is deployed, the integration user cannot see it: "+permsetHint)
	}
	if len(notCreate) > 0 {
		problems = append(problems, strings.Join(notCreate, ", ")+" not createable by the integration user, who needs edit access: "+permsetHint)
	}
	if len(notUpdate) > 0 {
		problems = append(problems, strings.Join(notUpdate, ", ")+" not updateable by the integration user, who needs edit access: "+permsetHint)
	}
	if len(problems) > 0 {
		r.fail(name, strings.Join(problems, "; "))
		return
	}
	detail := fmt.Sprintf("%d field%s present and writable where billsync writes", len(o.order), doctorPlural(len(o.order)))
	if o.kind == sfdx.KindEvent {
		detail = fmt.Sprintf("%d field%s present; the integration user can describe it (publish and subscribe)", len(o.order), doctorPlural(len(o.order)))
	}
	r.ok(name, detail)
}

func checkBilling(ctx context.Context, r *doctorRun, cfg Target) {
	const tenant = "billing tenant"
	if strings.TrimSpace(cfg.Billing.URL) == "" {
		r.fail(tenant, "billing.url is not set (BILLSYNC_BILLING_URL or --billing-url)")
		return
	}
	bill := billingapi.New(cfg.Billing.URL, cfg.Billing.Token, nil)
	id, err := bill.Tenant(ctx)
	if err != nil {
		r.fail(tenant, billingHint(err, cfg))
		return
	}
	r.ok(tenant, fmt.Sprintf("%s at %s", id, cfg.Billing.URL))
	const list = "billing list accounts"
	page, _, err := bill.List(ctx, billsync.ObjectAccount, "", 1)
	if err != nil {
		r.fail(list, billingHint(err, cfg))
		return
	}
	r.ok(list, fmt.Sprintf("the token can read accounts (%d returned with limit 1)", len(page)))
}

// billingHint explains a failed billing call.
func billingHint(err error, cfg Target) string {
	msg := err.Error()
	var re *billsync.RemoteError
	if !errors.As(err, &re) {
		return msg + fmt.Sprintf(": check that billing.url (%s) is reachable", cfg.Billing.URL)
	}
	switch re.StatusCode {
	case http.StatusUnauthorized:
		return msg + ": the billing token was rejected; set billing.token (BILLSYNC_BILLING_TOKEN) to a valid API token of the tenant"
	case http.StatusForbidden:
		return msg + ": the billing token lacks a permission billsync needs (read and write accounts, balances, transactions and quotes)"
	case http.StatusNotFound:
		return msg + fmt.Sprintf(": billing.url (%s) does not look like the billing API's base URL", cfg.Billing.URL)
	}
	return msg
}

func doctorPlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
