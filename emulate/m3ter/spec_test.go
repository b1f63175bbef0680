package m3ter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specPath is m3ter's published OpenAPI description, in ../shared beside
// the repository (three levels up from this package).
var specPath = filepath.Join("..", "..", "..", "shared", "specs", "m3ter-openapi.json")

const specHost = "http://m3ter.test"

var spec struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadSpec loads the spec once; without it the test skips, but fails under
// BILLSYNC_CI=1 so a missing spec cannot pass CI silently.
func loadSpec(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	if _, err := os.Stat(specPath); err != nil {
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("m3ter's OpenAPI spec is required when BILLSYNC_CI=1: %v", err)
		}
		t.Skipf("m3ter's OpenAPI spec not found (%v): put ../shared beside the repository", err)
	}
	spec.once.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile(specPath)
		if err != nil {
			spec.err = err
			return
		}
		doc.Servers = openapi3.Servers{{URL: specHost}}
		spec.doc = doc
		spec.router, spec.err = gorillamux.NewRouter(doc)
	})
	if spec.err != nil {
		t.Fatalf("load m3ter's OpenAPI spec: %v", spec.err)
	}
	return spec.doc, spec.router
}

// javaClass is the one Java-only construct in the spec's patterns: the
// union class [^[\p{Cntrl}\s]] ("neither a control character nor
// whitespace"), which Go's regexp spells [^\p{Cc}\s]. The patterns are
// Java's, matched against the whole value (Pattern.matches), so they are
// anchored as a whole.
var javaClass = strings.NewReplacer(
	`[[^[\p{Cntrl}\s]] ]`, `(?:[^\p{Cc}\s]| )`,
	`[^[\p{Cntrl}\s]]`, `[^\p{Cc}\s]`,
)

func compilePattern(expr string) (openapi3.RegexMatcher, error) {
	return regexp.Compile("^(?:" + javaClass.Replace(expr) + ")$")
}

func filterOptions() *openapi3filter.Options {
	return &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true, MultiError: true, RegexCompiler: compilePattern}
}

// validate checks one exchange against the spec: the request (path,
// query, JSON body) and the response body for its status. It returns the
// spec's route (method and path template) it matched.
func validate(router routers.Router, method, path, query, contentType string, body []byte, status int, respBody []byte, checkRequest bool) (string, error) {
	u := specHost + path
	if query != "" {
		u += "?" + query
	}
	req, _ := http.NewRequest(method, u, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	route, pathParams, err := router.FindRoute(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: not in the spec: %v", method, path, err)
	}
	key := method + " " + route.Path
	var errs []error
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: filterOptions()}
	if checkRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			errs = append(errs, fmt.Errorf("request: %v", err))
		}
	}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(respBody)),
		Options: filterOptions()}
	if err := openapi3filter.ValidateResponse(context.Background(), rv); err != nil {
		errs = append(errs, fmt.Errorf("response %d: %v", status, err))
	}
	if len(errs) > 0 {
		return key, fmt.Errorf("%s %s?%s: %w", method, path, query, errors.Join(errs...))
	}
	return key, nil
}

// invalidOnPurpose marks a request a test makes invalid on purpose: only
// the answer is checked.
const invalidOnPurpose = "X-Test-Invalid"

// checker wraps a handler so every exchange is validated (failures are
// test errors) and records the spec routes it saw.
type checker struct {
	t      *testing.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string]int
}

func newChecker(t *testing.T) *checker {
	_, router := loadSpec(t)
	return &checker{t: t, router: router, seen: map[string]int{}}
}

func (ck *checker) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		key, err := validate(ck.router, r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), body,
			rec.Code, rec.Body.Bytes(), r.Header.Get(invalidOnPurpose) == "")
		if err != nil {
			ck.t.Errorf("spec: %v\nresponse: %.600s", err, rec.Body.String())
		}
		ck.mu.Lock()
		ck.seen[key]++
		ck.mu.Unlock()
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// TestSpecScenario drives a whole scenario (token, account create, update
// and conflict, balance, transactions, events paging, notification setup
// and a delivered webhook, then every other route) through the validator,
// and checks that every route the emulator handles was validated.
func TestSpecScenario(t *testing.T) {
	ck := newChecker(t)
	e, c := serve(t, Options{}, ck.wrap)
	rcv := newReceiver(t)

	// Change detection as `billsync m3ter setup` sets it up.
	n, d, cfg := c.setupWebhook("configuration.account.updated", rcv.srv.URL+"/webhooks/m3ter/secret-token")
	c.setupWebhook("billing.balance.updated", rcv.srv.URL+"/webhooks/m3ter/secret-token")

	a := c.ok("POST", "/accounts", obj{"name": "Acme", "code": "acme", "emailAddress": "billing@acme.example",
		"address":      obj{"addressLine1": "1 Main St", "locality": "Springfield", "country": "US"},
		"customFields": obj{"tier": "gold", "seats": 12, "ratio": 0.5}, "currency": "USD",
		"creditApplicationOrder": []string{"BALANCE", "PREPAYMENT"}, "daysBeforeBillDue": 30, "billEpoch": "2026-01-01"})
	id := a["id"].(string)
	c.ok("PUT", "/accounts/"+id, obj{"name": "Acme Inc", "code": "acme", "emailAddress": "billing@acme.example",
		"customFields": obj{"tier": "gold"}, "version": 1})
	if r := c.do("PUT", "/accounts/"+id, obj{"name": "Stale", "code": "acme", "emailAddress": "billing@acme.example", "version": 1}); r.status != http.StatusConflict {
		t.Errorf("stale PUT: %d", r.status)
	}
	c.ok("GET", "/accounts/"+id, nil)
	c.ok("GET", "/accounts"+q("ids", id, "pageSize", "5"), nil)

	b := c.ok("POST", "/balances", obj{"accountId": id, "code": "prepaid", "name": "Prepaid", "description": "credit",
		"currency": "USD", "startDate": "2026-01-01T00:00:00Z", "endDate": "2027-01-01T00:00:00.000Z",
		"lineItemTypes": []string{"USAGE"}, "rolloverAmount": 10, "allowOverdraft": false, "customFields": obj{"k": "v"}})
	bid := b["id"].(string)
	for _, amt := range []string{"250.75", "-20.5", "0.01"} {
		c.ok("POST", "/balances/"+bid+"/transactions", fmt.Sprintf(`{"amount":%s,"description":"top-up","transactionDate":"2026-02-01T10:00:00Z"}`, amt))
	}
	c.ok("GET", "/balances/"+bid+"/transactions"+q("pageSize", "2"), nil)
	got := c.ok("GET", "/balances/"+bid, nil)
	if num(t, got["amount"]) != "230.26" {
		t.Errorf("balance amount = %v", got["amount"])
	}
	put := public(got)
	put["name"] = "Prepaid credit"
	c.ok("PUT", "/balances/"+bid, put)
	c.ok("GET", "/balances"+q("accountId", id), nil)

	// Events, paged newest first.
	var names []string
	next := ""
	for {
		path := "/events" + q("pageSize", "3")
		if next != "" {
			path = "/events" + q("pageSize", "3", "nextToken", next)
		}
		body := c.ok("GET", path, nil)
		for _, ev := range data(t, body) {
			names = append(names, str(ev["eventName"]))
		}
		if next = str(body["nextToken"]); next == "" {
			break
		}
	}
	want := []string{"billing.balance.updated", "billing.balance.updated", "billing.balance.updated", "billing.balance.updated",
		"billing.balance.created", "configuration.account.updated", "configuration.account.created"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("events newest first = %v\nwant %v", names, want)
	}
	evs := data(t, c.ok("GET", "/events"+q("eventName", "configuration.account.updated", "resourceId", id), nil))
	if len(evs) != 1 {
		t.Fatalf("%d account update events", len(evs))
	}
	c.ok("GET", "/events/"+str(evs[0]["id"]), nil)

	// The webhooks: one account update and four balance updates.
	bodies := rcv.waitFor(t, 5)
	doc, _ := loadSpec(t)
	evSchema := doc.Components.Schemas["EventResponse"].Value
	var acctHook map[string]any
	for _, wb := range bodies {
		if err := evSchema.VisitJSON(jsonAny(t, wb)); err != nil {
			t.Errorf("webhook body is not an EventResponse: %v", err)
		}
		if wb["eventName"] == "configuration.account.updated" {
			acctHook = wb
		}
	}
	if acctHook == nil || acctHook["id"] != evs[0]["id"] || newDto(acctHook)["id"] != id || newDto(acctHook)["name"] != "Acme Inc" {
		t.Errorf("account webhook: %v", acctHook)
	}
	eventually(t, "deliveries settled", func() bool { return e.Pending() == 0 })

	// Every other route.
	c.ok("GET", "/users/me", nil)
	if types := c.ok("GET", "/events/types", nil); len(types["events"].([]any)) != len(EventNames) {
		t.Errorf("events/types = %v", types)
	}
	c.ok("GET", "/notifications/configurations"+q("eventName", "configuration.account.updated"), nil)
	nn := c.ok("GET", "/notifications/configurations/"+n, nil)
	nn["description"] = "billsync (renamed)"
	c.ok("PUT", "/notifications/configurations/"+n, nn)
	c.ok("GET", "/integrationdestinations/webhooks", nil)
	dd := c.ok("GET", "/integrationdestinations/webhooks/"+d, nil)
	c.ok("PUT", "/integrationdestinations/webhooks/"+d, obj{"url": dd["url"], "name": "billsync", "description": "billsync webhook",
		"credentials": obj{"type": "M3TER_SIGNED_REQUEST", "apiKey": "billsync", "secret": "rotated"}, "version": 1})
	c.ok("GET", "/integrationconfigs"+q("destinationId", d), nil)
	run := c.ok("GET", "/integrationconfigs/"+cfg, nil)
	if run["status"] != "COMPLETE" {
		t.Errorf("integration run status = %v", run["status"])
	}
	ic := c.ok("PUT", "/integrationconfigs/"+cfg, obj{"entityType": "Notification", "entityId": n, "destination": "Webhook",
		"destinationId": d, "configData": obj{}, "name": "renamed", "version": 1})
	if ic["name"] != "renamed" {
		t.Errorf("integration config after PUT: %v", ic)
	}
	c.ok("DELETE", "/integrationconfigs/"+cfg, nil)
	c.ok("DELETE", "/integrationdestinations/webhooks/"+d, nil)
	c.ok("DELETE", "/notifications/configurations/"+n, nil)
	c.ok("DELETE", "/balances/"+bid, nil)
	c.ok("DELETE", "/accounts/"+id, nil)

	// Errors are answered in the spec's error shape.
	for _, p := range []string{"/accounts/nope", "/balances/nope", "/events/nope", "/integrationconfigs/nope"} {
		if r := c.do("GET", p, nil); r.status != http.StatusNotFound {
			t.Errorf("GET %s: %d", p, r.status)
		}
	}
	if r := c.do("POST", "/accounts", obj{"name": "x"}, invalidOnPurpose, "1"); r.status != http.StatusBadRequest {
		t.Errorf("invalid account: %d", r.status)
	}
	c2 := *c
	c2.bear = "expired"
	if r := c2.do("GET", "/accounts", nil); r.status != http.StatusUnauthorized {
		t.Errorf("bad token: %d", r.status)
	}

	// Every handled route was validated.
	handled := []string{"POST /oauth/token"}
	for _, rt := range e.routes() {
		handled = append(handled, rt.method+" "+orgPrefix+rt.pattern)
	}
	var missed []string
	ck.mu.Lock()
	for _, h := range handled {
		if ck.seen[h] == 0 {
			missed = append(missed, h)
		}
	}
	ck.mu.Unlock()
	sort.Strings(missed)
	if len(missed) > 0 {
		t.Errorf("routes the scenario did not validate: %v", missed)
	}
}

func jsonAny(t *testing.T, m map[string]any) any {
	t.Helper()
	b, _ := json.Marshal(m)
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestValidatorCatches proves the validator can fail: bad responses and
// requests are each reported.
func TestValidatorCatches(t *testing.T) {
	_, router := loadSpec(t)
	good := `{"id":"a1","version":1,"name":"Acme","code":"acme","emailAddress":"a@example.com","dtCreated":"2026-01-01T00:00:00.000Z"}`
	if _, err := validate(router, "GET", "/organizations/o/accounts/a1", "", "", nil, 200, []byte(good), true); err != nil {
		t.Fatalf("a valid exchange was refused: %v", err)
	}
	okReq := `{"name":"Acme","code":"acme","emailAddress":"a@example.com"}`
	if _, err := validate(router, "POST", "/organizations/o/accounts", "", "application/json", []byte(okReq), 200, []byte(good), true); err != nil {
		t.Fatalf("a valid create was refused: %v", err)
	}
	for name, c := range map[string]struct {
		method, path, query, body string
		status                    int
		resp                      string
	}{
		"version as a string":     {"GET", "/organizations/o/accounts/a1", "", "", 200, `{"id":"a1","version":"1"}`},
		"id missing":              {"GET", "/organizations/o/accounts/a1", "", "", 200, `{"version":1}`},
		"amount as a string":      {"GET", "/organizations/o/balances/b1", "", "", 200, `{"id":"b1","amount":"1.5"}`},
		"event without eventTime": {"GET", "/organizations/o/events/e1", "", "", 200, `{"id":"e1","eventName":"x","dtActioned":"2026-01-01T00:00:00Z","m3terEvent":{}}`},
		"list item wrong type":    {"GET", "/organizations/o/accounts", "", "", 200, `{"data":[{"id":1}]}`},
		"pageSize over maximum":   {"GET", "/organizations/o/accounts", "pageSize=500", "", 200, `{"data":[]}`},
		"emailAddress missing":    {"POST", "/organizations/o/accounts", "", `{"name":"Acme","code":"acme"}`, 200, good},
		"code with a newline":     {"POST", "/organizations/o/accounts", "", `{"name":"Acme","code":"ac\nme","emailAddress":"a@example.com"}`, 200, good},
		"bad enum":                {"POST", "/organizations/o/balances", "", `{"accountId":"a","code":"b","name":"b","currency":"USD","startDate":"2026-01-01T00:00:00Z","endDate":"2027-01-01T00:00:00Z","lineItemTypes":["NOPE"]}`, 200, `{"id":"b1"}`},
		"error body wrong type":   {"GET", "/organizations/o/accounts/a1", "", "", 404, `{"message":42}`},
	} {
		if _, err := validate(router, c.method, c.path, c.query, "application/json", []byte(c.body), c.status, []byte(c.resp), true); err == nil {
			t.Errorf("%s: the validator passed it", name)
		}
	}
}
