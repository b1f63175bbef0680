package salesforce

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	"github.com/billsync/billsync/emulate/salesforce/streaming"
	"github.com/billsync/billsync/sfdx"
)

// Default credentials of the emulated org.
const (
	IntegrationUsername = "integration@billsync.test"
	IntegrationPassword = "billsync-integration"
	SalesUsername       = "sales@billsync.test"
	SalesPassword       = "billsync-sales"
	DefaultClientID     = "billsync"
	DefaultClientSecret = "billsync"
	// IntegrationPermissionSet grants the BillsyncIntegration custom
	// permission, which marks a user's writes as billsync's own (SPEC C1).
	IntegrationPermissionSet = "BillsyncIntegration"
	// DefaultDailyAPILimit is the daily API request allowance reported in
	// Sforce-Limit-Info.
	DefaultDailyAPILimit = 100000
	// LatestVersion is the newest REST API version served.
	LatestVersion = "62.0"
)

// User is a user of the emulated org.
type User struct {
	ID             string // 18-character 005 id; assigned when empty
	Username       string
	Password       string
	Name           string
	Email          string
	PermissionSets []string
}

// Options configures an Emulator.
type Options struct {
	// DataDir keeps state across restarts: "" holds everything in memory;
	// otherwise every change is journaled there before it is answered
	// (folded into a snapshot in the background and on New; Close writes
	// the snapshot) and read back by New.
	DataDir string
	// Users of the org; nil means DefaultUsers(). Users found in DataDir
	// are kept, and those named here are added or updated.
	Users []User
	// ClientID and ClientSecret of the connected app; DefaultClientID and
	// DefaultClientSecret when empty.
	ClientID, ClientSecret string
	// JWTPublicKeyPEM enables the JWT-bearer grant, verifying RS256
	// assertions with this key.
	JWTPublicKeyPEM []byte
	// DailyAPILimit is the daily API allowance (DefaultDailyAPILimit when 0).
	DailyAPILimit int
	// MultiCurrency emulates a multi-currency org: every object gains
	// CurrencyIsoCode.
	MultiCurrency bool
	Clock         func() time.Time
	Logger        *slog.Logger
	// Streaming configures the CometD server at /cometd/.
	Streaming streaming.ServerOptions
	// NoTrigger emulates an org where BillingSyncTrigger is not deployed
	// (billsync's salesforce.changeSource cdc): no write publishes
	// BillingObjectChange__e, and nothing stamps LastSystemToUpdate__c or
	// keeps or checks the revision field, though the fields exist. Change
	// Data Capture is unaffected. SetTrigger changes it later.
	NoTrigger bool
}

// DefaultUsers are the integration user, which holds the
// BillsyncIntegration permission set, and a sales user, which does not.
func DefaultUsers() []User {
	return []User{
		{Username: IntegrationUsername, Password: IntegrationPassword, Name: "Billsync Integration", Email: IntegrationUsername, PermissionSets: []string{IntegrationPermissionSet}},
		{Username: SalesUsername, Password: SalesPassword, Name: "Sally Sales", Email: SalesUsername},
	}
}

// Emulator is an in-process Salesforce org: OAuth, the REST data API
// (sObjects, collections, SOQL), the BillingSyncTrigger rule and the
// streaming API, with the schema of the SFDX source.
type Emulator struct {
	opts    Options
	meta    *sfdx.Metadata
	schema  *orgSchema
	log     *slog.Logger
	clock   func() time.Time
	bus     *streaming.Bus
	handler http.Handler
	jwtKey  any
	// stream is the CometD server, set once by routes before New returns.
	stream *streaming.Server

	mu          sync.Mutex
	baseURL     string
	orgID       string
	counters    map[string]int64              // key prefix → last number issued
	autoNumbers map[string]int64              // object → last auto number
	records     map[string]*record            // 18-char id → record
	byObject    map[string]map[string]*record // lower-case object → id → record
	unique      map[string]map[string]string  // "object.field" (lower) → lower-case value → id
	users       map[string]*userRec           // lower-case username → user
	sessions    map[string]string             // access token → user id
	calls       map[string]int
	apiUsage    int
	cursors     map[string]*cursor
	cursorOrder []string

	hooks beforeWrite // SetBeforeWrite
	bulk  bulkState   // Bulk API 2.0 jobs (bulk.go)
	cdc   cdcState    // Change Data Capture selection and test hooks (cdc.go)

	journal   *journal.Journal // nil without DataDir
	unsaved   unsaved          // changes not yet journaled; see journalLocked
	closeOnce sync.Once
	closeErr  error
}

type userRec struct {
	User
	integration bool
}

// record is one stored sObject. Field values are kept in their REST JSON
// form: nil, string, bool or json.Number.
type record struct {
	Object  string         `json:"object"`
	ID      string         `json:"id"`
	Fields  map[string]any `json:"fields"`
	Deleted bool           `json:"deleted,omitempty"`
	// DeletedWith is the id of the record whose delete cascaded to this one;
	// undeleting that record restores this one.
	DeletedWith string `json:"deletedWith,omitempty"`
	Writes      int    `json:"writes"`
}

func (r *record) clone() *record {
	c := *r
	c.Fields = maps.Clone(r.Fields)
	return &c
}

// New builds an emulator, loading state from opts.DataDir when present.
func New(opts Options) (*Emulator, error) {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.DailyAPILimit <= 0 {
		opts.DailyAPILimit = DefaultDailyAPILimit
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Users == nil {
		opts.Users = DefaultUsers()
	}
	meta, err := sfdx.Schema()
	if err != nil {
		return nil, fmt.Errorf("salesforce emulator: %w", err)
	}
	schema, err := buildSchema(meta, opts.MultiCurrency)
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		opts: opts, meta: meta, schema: schema, log: opts.Logger, clock: opts.Clock,

		counters:    map[string]int64{},
		autoNumbers: map[string]int64{},
		records:     map[string]*record{},
		byObject:    map[string]map[string]*record{},
		unique:      map[string]map[string]string{},
		users:       map[string]*userRec{},
		sessions:    map[string]string{},
		calls:       map[string]int{},
		cursors:     map[string]*cursor{},
	}
	e.bus = e.newBus()
	e.cdc.noTrigger = opts.NoTrigger
	if len(opts.JWTPublicKeyPEM) > 0 {
		if e.jwtKey, err = parseRSAPublicKey(opts.JWTPublicKeyPEM); err != nil {
			return nil, err
		}
	}
	if opts.DataDir != "" {
		if err := e.openDataDir(); err != nil {
			return nil, err
		}
		e.declareCDC(e.bus) // a data dir written before CDC lacks its channels
	}
	e.mu.Lock()
	if e.orgID == "" {
		e.orgID = makeID("00D", randomCounter())
		e.unsaved.orgID = true
	}
	err = e.seedLocked(opts.Users)
	e.journalLocked()
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	e.handler = e.routes()
	return e, nil
}

func eventChannel(object string) string { return "/event/" + object }

// newBus is an empty event bus with a channel per platform event object.
func (e *Emulator) newBus() *streaming.Bus {
	b := streaming.NewBus(streaming.BusOptions{Clock: e.clock})
	for _, o := range e.schema.objects {
		if o.Event {
			b.Declare(eventChannel(o.Name))
		}
	}
	e.declareCDC(b)
	return b
}

// randomCounter picks where an org's id counter starts, so two emulated
// orgs do not share an org id.
func randomCounter() int64 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return int64(b[0])<<16 | int64(b[1])<<8 | int64(b[2]) + 1
}

// seedLocked creates the users and the standard price book.
func (e *Emulator) seedLocked(users []User) error {
	now := e.clock()
	for _, u := range users {
		if u.Username == "" {
			return billsync.Errorf(billsync.EINVALID, "salesforce emulator: a user needs a username")
		}
		key := strings.ToLower(u.Username)
		if old := e.users[key]; old != nil && u.ID == "" {
			u.ID = old.ID
		}
		if u.ID == "" {
			u.ID = e.nextIDLocked("005")
		} else if id, ok := normalizeID(u.ID); ok && strings.HasPrefix(id, "005") {
			u.ID = id
		} else {
			return billsync.Errorf(billsync.EINVALID, "salesforce emulator: user %s: %q is not a User id", u.Username, u.ID)
		}
		if u.Name == "" {
			u.Name = u.Username
		}
		if u.Email == "" {
			u.Email = u.Username
		}
		e.users[key] = &userRec{User: u}
		first, last, _ := strings.Cut(u.Name, " ")
		if last == "" {
			first, last = "", u.Name
		}
		alias := strings.ToLower(strings.Split(u.Username, "@")[0])
		if len(alias) > 8 {
			alias = alias[:8]
		}
		fields := map[string]any{
			"Username": u.Username, "Name": u.Name, "FirstName": nilIfEmpty(first), "LastName": last, "Email": u.Email,
			"Alias": alias, "IsActive": true, "TimeZoneSidKey": "GMT",
		}
		r := e.records[u.ID]
		if r == nil {
			r = &record{Object: "User", ID: u.ID, Fields: map[string]any{}}
			e.stampCreateLocked(r, u.ID, now)
		}
		maps.Copy(r.Fields, fields)
		e.putLocked(r)
	}
	for _, u := range e.users {
		u.integration = e.grantsIntegration(u.PermissionSets)
	}
	e.seedSetupLocked(now)
	e.unsaved.users = true
	if len(e.byObject["pricebook2"]) == 0 {
		owner := e.anyUserIDLocked()
		r := &record{Object: "Pricebook2", ID: e.nextIDLocked("01s"), Fields: map[string]any{
			"Name": "Standard Price Book", "IsActive": true, "IsStandard": true, "Description": nil,
		}}
		e.stampCreateLocked(r, owner, now)
		e.putLocked(r)
	}
	return nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// grantsIntegration reports whether any of the permission sets grants the
// BillsyncIntegration custom permission, as FeatureManagement.checkPermission
// would.
func (e *Emulator) grantsIntegration(sets []string) bool {
	for _, name := range sets {
		if ps := e.meta.PermissionSet(name); ps != nil && slices.Contains(ps.CustomPermissions, IntegrationPermissionSet) {
			return true
		}
	}
	return false
}

func (e *Emulator) anyUserIDLocked() string {
	ids := make([]string, 0, len(e.users))
	for _, u := range e.users {
		ids = append(ids, u.ID)
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

func (e *Emulator) nextIDLocked(prefix string) string {
	e.counters[prefix]++
	e.unsaved.counters = true
	return makeID(prefix, e.counters[prefix])
}

// nextAutoNumberLocked issues the next number of an auto-number sequence.
func (e *Emulator) nextAutoNumberLocked(key string) int64 {
	e.autoNumbers[key]++
	e.unsaved.autoNumbers = true
	return e.autoNumbers[key]
}

// stampCreateLocked sets the system fields of a new record.
func (e *Emulator) stampCreateLocked(r *record, userID string, now time.Time) {
	ts := formatDateTime(now)
	r.Fields["Id"] = r.ID
	r.Fields["IsDeleted"] = false
	r.Fields["CreatedDate"] = ts
	r.Fields["CreatedById"] = userID
	r.Fields["LastModifiedDate"] = ts
	r.Fields["LastModifiedById"] = userID
	r.Fields["SystemModstamp"] = ts
}

// formatDateTime is the REST API's datetime form.
func formatDateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

// putLocked stores r and indexes its unique fields.
func (e *Emulator) putLocked(r *record) {
	if old := e.records[r.ID]; old != nil {
		e.unindexLocked(old)
	}
	e.records[r.ID] = r
	e.touchedLocked(r.ID)
	key := strings.ToLower(r.Object)
	if e.byObject[key] == nil {
		e.byObject[key] = map[string]*record{}
	}
	e.byObject[key][r.ID] = r
	e.indexLocked(r)
}

func (e *Emulator) removeLocked(id string) {
	r := e.records[id]
	if r == nil {
		return
	}
	e.unindexLocked(r)
	delete(e.records, id)
	e.touchedLocked(id)
	delete(e.byObject[strings.ToLower(r.Object)], id)
}

func uniqueKey(object, field string) string { return strings.ToLower(object + "." + field) }

func (e *Emulator) indexLocked(r *record) {
	if r.Deleted {
		return
	}
	o := e.schema.object(r.Object)
	if o == nil {
		return
	}
	for _, f := range o.Fields {
		if !f.Unique {
			continue
		}
		s, ok := r.Fields[f.Name].(string)
		if !ok || s == "" {
			continue
		}
		k := uniqueKey(o.Name, f.Name)
		if e.unique[k] == nil {
			e.unique[k] = map[string]string{}
		}
		e.unique[k][uniqueValue(f, s)] = r.ID
	}
}

func (e *Emulator) unindexLocked(r *record) {
	o := e.schema.object(r.Object)
	if o == nil {
		return
	}
	for _, f := range o.Fields {
		if !f.Unique {
			continue
		}
		s, ok := r.Fields[f.Name].(string)
		if !ok {
			continue
		}
		k := uniqueKey(o.Name, f.Name)
		if e.unique[k][uniqueValue(f, s)] == r.ID {
			delete(e.unique[k], uniqueValue(f, s))
		}
	}
}

func uniqueValue(f *fieldDef, s string) string {
	if f.CaseSensitive {
		return s
	}
	return strings.ToLower(s)
}

// Handler serves everything: /services/oauth2/token, /services/data/…,
// /id/…, and the streaming API at /cometd/.
func (e *Emulator) Handler() http.Handler { return e.handler }

// SetBaseURL sets the address the token endpoint answers as instance_url
// and uses in identity URLs (the emulator cannot know its own address).
// Without it the request's Host is used.
func (e *Emulator) SetBaseURL(u string) {
	e.mu.Lock()
	e.baseURL = strings.TrimRight(u, "/")
	e.mu.Unlock()
}

// OrgID is the 18-character org id.
func (e *Emulator) OrgID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.orgID
}

// UserID returns the id of the named user, or "" when there is none.
func (e *Emulator) UserID(username string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u := e.users[strings.ToLower(username)]; u != nil {
		return u.ID
	}
	return ""
}

// IssueToken starts a session for a user without going through OAuth.
func (e *Emulator) IssueToken(username string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users[strings.ToLower(username)]
	if u == nil {
		return "", billsync.Errorf(billsync.ENOTFOUND, "salesforce emulator: no user %q", username)
	}
	tok := e.newTokenLocked(u.ID)
	e.journalLocked()
	return tok, nil
}

// Record is a snapshot of one record as GET /sobjects/{object}/{id} returns
// it; deleted records are not found.
func (e *Emulator) Record(object, id string) (billsync.SObject, bool) {
	id, ok := normalizeID(id)
	if !ok {
		return nil, false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.records[id]
	if r == nil || r.Deleted || !strings.EqualFold(r.Object, object) {
		return nil, false
	}
	return e.renderLocked(r, nil, LatestVersion), true
}

// Records lists the live records of an object in creation order.
func (e *Emulator) Records(object string) []billsync.SObject {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []billsync.SObject
	for _, r := range e.sortedLocked(object, false) {
		out = append(out, e.renderLocked(r, nil, LatestVersion))
	}
	return out
}

// Writes is how many inserts and updates a record has had.
func (e *Emulator) Writes(id string) int {
	id, ok := normalizeID(id)
	if !ok {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.records[id]; r != nil {
		return r.Writes
	}
	return 0
}

// Calls counts requests per endpoint kind: oauth, versions, resources,
// describe, sobjects, composite, query, limits, identity, cometd.
func (e *Emulator) Calls() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.calls)
}

// APIUsage is the number of API requests counted against the daily limit.
func (e *Emulator) APIUsage() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.apiUsage
}

// Bus is the platform-event bus, for tests that publish or inspect events.
func (e *Emulator) Bus() *streaming.Bus { return e.bus }

// Close stops journaling and writes the org as the snapshot, which then
// holds the whole journal. A fold already under way ends before Close
// returns, so a caller may remove DataDir next. Changes after Close are
// not kept.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		if e.journal == nil {
			return
		}
		upTo, err := e.journal.Close()
		if serr := e.saveSnapshot(upTo); err == nil {
			err = serr
		}
		e.closeErr = err
	})
	return e.closeErr
}

// sortedLocked lists an object's records in id (creation) order.
func (e *Emulator) sortedLocked(object string, withDeleted bool) []*record {
	m := e.byObject[strings.ToLower(object)]
	out := make([]*record, 0, len(m))
	for _, r := range m {
		if r.Deleted && !withDeleted {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
