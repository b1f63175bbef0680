package billsync

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Setting keys (SPEC §5.4). The CLI, the admin API and the web UI use these.
const (
	KeySyncEnabled  = "sync.enabled"  // A1 master switch
	KeySyncAccounts = "sync.accounts" // A2
	KeySyncBalances = "sync.balances" // A2: Balance and Balance Transaction
	KeySyncQuotes   = "sync.quotes"   // A2

	KeyQuotesAllowedStatuses       = "quotes.allowedStatuses"       // A3
	KeyQuotesAutoCreateOpportunity = "quotes.autoCreateOpportunity" // A3
	KeyQuotesStageMapping          = "quotes.stageMapping"          // A3
	KeyQuotesPricebook             = "quotes.pricebook"             // A3
	KeyQuotesDisableOppProductSync = "quotes.disableOppProductSync" // A3
	KeyQuotesRenewalPlaceholder    = "quotes.renewalPlaceholderProduct"

	// KeyUnsupportedAction is what becomes of a Salesforce record whose
	// change the billing platform cannot take (SPEC §5.3).
	KeyUnsupportedAction = "unsupported.action"

	PrefixConflicts = "conflicts." // D2: conflicts.<object>
	PrefixDeletes   = "deletes."   // H1: deletes.<object>

	// The mass-change guard's limits, per object: guard.deletes.<object>
	// and guard.overwrites.<object>, each {"percent": P, "count": N}.
	PrefixGuardDeletes    = "guard.deletes."
	PrefixGuardOverwrites = "guard.overwrites."
)

// Conflict policies (D2).
const (
	PolicyLatestWins     = "latest-wins"
	PolicyBillingWins    = "billing-wins"
	PolicySalesforceWins = "salesforce-wins"
	PolicyManual         = "manual"
)

// Unsupported actions (KeyUnsupportedAction). Either way the change is
// never sent to billing, is logged unsupported, and the record's sync
// status says why.
const (
	// UnsupportedRestore writes billing's values back over the edit the
	// platform cannot take, so both sides hold what billing holds.
	UnsupportedRestore = "restore"
	// UnsupportedFlag leaves the edit in Salesforce, marked unsupported,
	// for a person to undo or carry into billing by other means.
	UnsupportedFlag = "flag"
)

// Delete policies (H1).
const (
	DeleteMirror = "mirror"
	DeleteIgnore = "ignore"
	DeleteFlag   = "flag"
)

type settingKind int

const (
	kindBool settingKind = iota
	kindString
	kindStringList
	kindStringMap
	kindEnum
	kindGuard // a GuardLimit
)

type settingDef struct {
	kind    settingKind
	def     string // default, as JSON
	enum    []string
	summary string
}

var settingDefs = map[string]settingDef{
	KeySyncEnabled:  {kindBool, `true`, nil, "master switch for all auto-sync"},
	KeySyncAccounts: {kindBool, `true`, nil, "sync Account records"},
	KeySyncBalances: {kindBool, `true`, nil, "sync Balance and Balance Transaction records"},
	KeySyncQuotes:   {kindBool, `true`, nil, "sync Quotes into Salesforce"},

	KeyQuotesAllowedStatuses:       {kindStringList, `["DRAFT","PENDING_APPROVAL","APPROVED","ACCEPTED"]`, nil, "quote statuses that sync"},
	KeyQuotesAutoCreateOpportunity: {kindBool, `true`, nil, "create an Opportunity for a quote without one"},
	KeyQuotesStageMapping:          {kindStringMap, `{"DRAFT":"Prospecting","PENDING_APPROVAL":"Proposal/Price Quote","APPROVED":"Proposal/Price Quote","PRESENTED":"Proposal/Price Quote","ACCEPTED":"Closed Won","CANCELED":"Closed Lost"}`, nil, "quote status → Opportunity stage"},
	KeyQuotesPricebook:             {kindString, `"Standard Price Book"`, nil, "name of the Pricebook2 quotes use"},
	KeyQuotesDisableOppProductSync: {kindBool, `false`, nil, "leave Opportunity products alone"},
	KeyQuotesRenewalPlaceholder:    {kindString, `"RENEWAL-PLACEHOLDER"`, nil, "ProductCode of the renewal placeholder product"},

	KeyUnsupportedAction: {kindEnum, `"` + UnsupportedRestore + `"`, []string{UnsupportedRestore, UnsupportedFlag},
		"a Salesforce edit the billing platform cannot take: restore billing's values, or flag the record"},
}

// nonEmpty are the string settings an empty value would break: quotes
// need a price book to price their lines.
var nonEmpty = map[string]bool{KeyQuotesPricebook: true}

func init() {
	for _, t := range []ObjectType{ObjectAccount, ObjectBalance, ObjectBalanceTransaction} {
		settingDefs[PrefixConflicts+string(t)] = settingDef{kindEnum, `"` + PolicyLatestWins + `"`,
			[]string{PolicyLatestWins, PolicyBillingWins, PolicySalesforceWins, PolicyManual}, "conflict policy for " + string(t)}
		def, _ := json.Marshal(DefaultGuardLimit)
		settingDefs[PrefixGuardDeletes+string(t)] = settingDef{kindGuard, string(def), nil,
			"a resync deleting more of the " + string(t) + " records than this share or number is held for approval; " +
				"so are live deletes past the number within 10 minutes"}
		settingDefs[PrefixGuardOverwrites+string(t)] = settingDef{kindGuard, string(def), nil,
			"a resync overwriting more of the " + string(t) + " records than this share or number is held for approval; " +
				"so are live overwrites of records at rest past both within 10 minutes"}
	}
	for _, t := range ObjectTypes {
		settingDefs[PrefixDeletes+string(t)] = settingDef{kindEnum, `"` + DeleteIgnore + `"`,
			[]string{DeleteMirror, DeleteIgnore, DeleteFlag}, "what a delete of " + string(t) + " does"}
	}
}

// SettingKeys lists every known key, sorted.
func SettingKeys() []string {
	keys := make([]string, 0, len(settingDefs))
	for k := range settingDefs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SettingSummary is a one-line description of a key.
func SettingSummary(key string) string { return settingDefs[key].summary }

// DefaultSettings returns every key with its default value.
func DefaultSettings() map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(settingDefs))
	for k, d := range settingDefs {
		m[k] = json.RawMessage(d.def)
	}
	return m
}

// ValidateSetting checks a JSON value for key and returns it compacted.
func ValidateSetting(key string, value json.RawMessage) (json.RawMessage, error) {
	d, ok := settingDefs[key]
	if !ok {
		return nil, Errorf(EINVALID, "unknown setting %q", key)
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	var err error
	switch d.kind {
	case kindBool:
		var b bool
		err = dec.Decode(&b)
	case kindString:
		var s string
		if err = dec.Decode(&s); err == nil && nonEmpty[key] && strings.TrimSpace(s) == "" {
			return nil, Errorf(EINVALID, "setting %s: must not be empty", key)
		}
	case kindStringList:
		var l []string
		err = dec.Decode(&l)
	case kindStringMap:
		var m map[string]string
		err = dec.Decode(&m)
	case kindEnum:
		var s string
		if err = dec.Decode(&s); err == nil && !slices.Contains(d.enum, s) {
			return nil, Errorf(EINVALID, "setting %s: %q is not one of %s", key, s, strings.Join(d.enum, ", "))
		}
	case kindGuard:
		var g struct{ Percent, Count *int }
		if err = dec.Decode(&g); err == nil {
			if g.Percent == nil || g.Count == nil || *g.Percent < 0 || *g.Percent > 100 || *g.Count < 0 {
				err = errBadGuard
			}
		}
	}
	if err != nil {
		return nil, Errorf(EINVALID, "setting %s: %s", key, kindHint(d))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, value); err != nil {
		return nil, Errorf(EINVALID, "setting %s: %v", key, err)
	}
	return buf.Bytes(), nil
}

// errBadGuard marks a guard value out of range; kindHint says what is wanted.
var errBadGuard = Errorf(EINVALID, "bad guard limit")

func kindHint(d settingDef) string {
	switch d.kind {
	case kindGuard:
		return `want {"percent": 0 to 100, "count": 0 or more} (on the command line: 10%,500)`
	case kindBool:
		return "want true or false"
	case kindString:
		return "want a string"
	case kindStringList:
		return "want a list of strings"
	case kindStringMap:
		return "want an object of strings"
	}
	return "want one of " + strings.Join(d.enum, ", ")
}

// ParseSettingText turns what a person types on the command line into the
// key's JSON value: on/off/true/false for switches, a comma list for
// lists, KEY=VALUE pairs for maps, a bare word for strings; JSON is
// accepted everywhere.
func ParseSettingText(key, text string) (json.RawMessage, error) {
	d, ok := settingDefs[key]
	if !ok {
		return nil, Errorf(EINVALID, "unknown setting %q", key)
	}
	if json.Valid([]byte(text)) {
		if v, err := ValidateSetting(key, json.RawMessage(text)); err == nil {
			return v, nil
		}
	}
	var v any
	switch d.kind {
	case kindBool:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "on", "true", "yes", "1", "enabled":
			v = true
		case "off", "false", "no", "0", "disabled":
			v = false
		default:
			return nil, Errorf(EINVALID, "setting %s: %q: want on or off", key, text)
		}
	case kindString, kindEnum:
		v = text
	case kindGuard:
		g, err := parseGuardText(text)
		if err != nil {
			return nil, Errorf(EINVALID, "setting %s: %q: %s", key, text, kindHint(d))
		}
		v = g
	case kindStringList:
		l := []string{}
		for _, p := range strings.Split(text, ",") {
			if p = strings.TrimSpace(p); p != "" {
				l = append(l, p)
			}
		}
		v = l
	case kindStringMap:
		m := map[string]string{}
		for _, p := range strings.Split(text, ",") {
			k, val, ok := strings.Cut(p, "=")
			if !ok {
				return nil, Errorf(EINVALID, "setting %s: %q: want KEY=VALUE pairs separated by commas", key, p)
			}
			m[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
		v = m
	}
	b, _ := json.Marshal(v)
	return ValidateSetting(key, b)
}

// Setting is one stored setting.
type Setting struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt time.Time       `json:"updatedAt"`
	UpdatedBy string          `json:"updatedBy"`
}

// AuditEntry records one settings change (A4).
type AuditEntry struct {
	ID    int64           `json:"id"`
	Time  time.Time       `json:"time"`
	Actor string          `json:"actor"` // the admin token's name, "cli", "config"
	Key   string          `json:"key"`
	Old   json.RawMessage `json:"old"`
	New   json.RawMessage `json:"new"`
}

// Settings is a snapshot of all settings with defaults filled in.
type Settings map[string]json.RawMessage

// NewSettings overlays stored values on the defaults.
func NewSettings(stored []Setting) Settings {
	s := Settings(DefaultSettings())
	for _, st := range stored {
		s[st.Key] = st.Value
	}
	return s
}

// Bool reads a switch; an unset or malformed value reads as its default.
func (s Settings) Bool(key string) bool {
	var b bool
	if json.Unmarshal(s.raw(key), &b) != nil {
		_ = json.Unmarshal([]byte(settingDefs[key].def), &b)
	}
	return b
}

// String reads a string or enum setting.
func (s Settings) String(key string) string {
	var v string
	if json.Unmarshal(s.raw(key), &v) != nil {
		_ = json.Unmarshal([]byte(settingDefs[key].def), &v)
	}
	return v
}

// Strings reads a list setting.
func (s Settings) Strings(key string) []string {
	var v []string
	if json.Unmarshal(s.raw(key), &v) != nil {
		_ = json.Unmarshal([]byte(settingDefs[key].def), &v)
	}
	return v
}

// Map reads a map setting.
func (s Settings) Map(key string) map[string]string {
	var v map[string]string
	if json.Unmarshal(s.raw(key), &v) != nil {
		_ = json.Unmarshal([]byte(settingDefs[key].def), &v)
	}
	return v
}

func (s Settings) raw(key string) json.RawMessage {
	if v, ok := s[key]; ok {
		return v
	}
	return json.RawMessage(settingDefs[key].def)
}

// SyncAllowed reports whether t syncs now (A2: master switch and the
// object's own switch both on), and if not, the key that is off.
func (s Settings) SyncAllowed(t ObjectType) (ok bool, offKey string) {
	if !s.Bool(KeySyncEnabled) {
		return false, KeySyncEnabled
	}
	if k := t.SwitchKey(); k != "" && !s.Bool(k) {
		return false, k
	}
	return true, ""
}

// ConflictPolicy for t (D2).
func (s Settings) ConflictPolicy(t ObjectType) string {
	if p := s.String(PrefixConflicts + string(t)); p != "" {
		return p
	}
	return PolicyLatestWins
}

// UnsupportedAction is KeyUnsupportedAction's value.
func (s Settings) UnsupportedAction() string {
	if a := s.String(KeyUnsupportedAction); a != "" {
		return a
	}
	return UnsupportedRestore
}

// DeletePolicy for t (H1).
func (s Settings) DeletePolicy(t ObjectType) string {
	if p := s.String(PrefixDeletes + string(t)); p != "" {
		return p
	}
	return DeleteIgnore
}

// parseGuardText reads "10%,500" (either order): a share and a count.
func parseGuardText(text string) (GuardLimit, error) {
	var g GuardLimit
	var havePct, haveCount bool
	for _, p := range strings.Split(text, ",") {
		p = strings.TrimSpace(p)
		if pct, ok := strings.CutSuffix(p, "%"); ok && !havePct {
			n, err := strconv.Atoi(strings.TrimSpace(pct))
			if err != nil {
				return g, err
			}
			g.Percent, havePct = n, true
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || haveCount {
			return g, errBadGuard
		}
		g.Count, haveCount = n, true
	}
	if !havePct || !haveCount {
		return g, errBadGuard
	}
	return g, nil
}

// GuardLimit reads a guard setting (key guard.deletes.<object> or
// guard.overwrites.<object>); an unset or malformed value reads as
// DefaultGuardLimit.
func (s Settings) GuardLimit(key string) GuardLimit {
	var g GuardLimit
	if _, err := ValidateSetting(key, s.raw(key)); err != nil || json.Unmarshal(s.raw(key), &g) != nil {
		return DefaultGuardLimit
	}
	return g
}

// GuardLimits are t's delete and overwrite limits.
func (s Settings) GuardLimits(t ObjectType) (deletes, overwrites GuardLimit) {
	return s.GuardLimit(PrefixGuardDeletes + string(t)), s.GuardLimit(PrefixGuardOverwrites + string(t))
}
