package billing_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/billing"
)

const (
	testToken  = "tok_test"
	testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func newEmulator(t *testing.T, mod func(*billing.Options)) (*billing.Emulator, *httptest.Server) {
	t.Helper()
	opts := billing.Options{Token: testToken, TenantID: "ten_test", WebhookSecret: testSecret}
	if mod != nil {
		mod(&opts)
	}
	em, err := billing.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := em.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return em, srv
}

type resp struct {
	status int
	body   map[string]any
}

func (r resp) errCode() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r resp) errField() string {
	e, _ := r.body["error"].(map[string]any)
	s, _ := e["field"].(string)
	return s
}

func (r resp) str(k string) string { return billsync.Entity(r.body).Str(k) }

func call(t *testing.T, srv *httptest.Server, method, path, body string) resp {
	t.Helper()
	return callAuth(t, srv, method, path, body, "Bearer "+testToken)
}

func callAuth(t *testing.T, srv *httptest.Server, method, path, body, auth string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode}
	if len(b) > 0 {
		e, err := billsync.DecodeEntity(b)
		if err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object", method, path, b)
		}
		out.body = e
	}
	return out
}

func mustStatus(t *testing.T, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %v", r.status, status, r.body)
	}
}

func mustError(t *testing.T, r resp, status int, code, field string) {
	t.Helper()
	mustStatus(t, r, status)
	if r.errCode() != code {
		t.Fatalf("error code %q, want %q; body %v", r.errCode(), code, r.body)
	}
	if field != "" && r.errField() != field {
		t.Fatalf("error field %q, want %q; body %v", r.errField(), field, r.body)
	}
	if e, _ := r.body["error"].(map[string]any); e["message"] == "" || e["message"] == nil {
		t.Fatalf("error without message: %v", r.body)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	_, srv := newEmulator(t, nil)
	for _, auth := range []string{"", "Bearer wrong", testToken, "Basic " + testToken} {
		r := callAuth(t, srv, "GET", "/api/v1/accounts", "", auth)
		mustError(t, r, 401, "unauthorized", "")
	}
	r := call(t, srv, "GET", "/api/v1/tenant", "")
	mustStatus(t, r, 200)
	if r.str("id") != "ten_test" {
		t.Fatalf("tenant %v", r.body)
	}
	mustStatus(t, callAuth(t, srv, "GET", "/healthz", "", ""), 200)
}

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	em, srv := newEmulator(t, nil)
	r := call(t, srv, "POST", "/api/v1/accounts", `{"name":"Acme","code":"ACME","currency":"USD","customFields":{"tier":"gold","seats":12}}`)
	mustStatus(t, r, 201)
	id := r.str("id")
	if !strings.HasPrefix(id, "acc_") || r.str("version") != "1" {
		t.Fatalf("created %v", r.body)
	}
	for _, f := range []string{"createdAt", "updatedAt"} {
		ts, err := time.Parse(time.RFC3339Nano, r.str(f))
		if err != nil || !strings.HasSuffix(r.str(f), "Z") || ts.IsZero() {
			t.Fatalf("%s = %q, want RFC 3339 UTC", f, r.str(f))
		}
	}
	if v, _ := billsync.Entity(r.body).Path("customFields.seats"); v != json.Number("12") {
		t.Fatalf("custom number %v (%T)", v, v)
	}

	g := call(t, srv, "GET", "/api/v1/accounts/"+id, "")
	mustStatus(t, g, 200)
	if g.str("name") != "Acme" {
		t.Fatalf("get %v", g.body)
	}
	mustError(t, call(t, srv, "GET", "/api/v1/accounts/acc_nope", ""), 404, "not_found", "")
	mustError(t, call(t, srv, "GET", "/api/v1/invoices", ""), 404, "not_found", "")

	// Update: stale, missing, then current version.
	mustError(t, call(t, srv, "PUT", "/api/v1/accounts/"+id, `{"name":"Acme 2","code":"ACME","version":7}`), 409, "version_conflict", "")
	mustError(t, call(t, srv, "PUT", "/api/v1/accounts/"+id, `{"name":"Acme 2","code":"ACME"}`), 409, "version_conflict", "")
	mustError(t, call(t, srv, "PUT", "/api/v1/accounts/acc_nope", `{"name":"x","code":"y","version":1}`), 404, "not_found", "")
	mustError(t, call(t, srv, "PUT", "/api/v1/accounts/"+id, `{"id":"acc_other","name":"x","code":"y","version":1}`), 400, "invalid", "id")
	body := g.body
	body["name"] = "Acme 2"
	body["crmAccountId"] = "001000000000001AAA"
	b, _ := json.Marshal(body)
	u := call(t, srv, "PUT", "/api/v1/accounts/"+id, string(b))
	mustStatus(t, u, 200)
	if u.str("version") != "2" || u.str("name") != "Acme 2" || u.str("crmAccountId") != "001000000000001AAA" || u.str("createdAt") != g.str("createdAt") {
		t.Fatalf("updated %v", u.body)
	}
	// The same body again is now stale.
	mustError(t, call(t, srv, "PUT", "/api/v1/accounts/"+id, string(b)), 409, "version_conflict", "")

	r = call(t, srv, "DELETE", "/api/v1/accounts/"+id, "")
	mustStatus(t, r, 204)
	mustError(t, call(t, srv, "DELETE", "/api/v1/accounts/"+id, ""), 404, "not_found", "")
	if n := em.Writes(id); n != 3 {
		t.Fatalf("writes = %d, want 3", n)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	_, srv := newEmulator(t, nil)
	acc := call(t, srv, "POST", "/api/v1/accounts", `{"name":"Acme","code":"ACME"}`).str("id")
	bal := call(t, srv, "POST", "/api/v1/balances", `{"accountId":"`+acc+`","name":"Prepaid","amount":"100.00","currency":"USD"}`)
	mustStatus(t, bal, 201)
	if bal.str("amount") != "100.00" || !strings.HasPrefix(bal.str("id"), "bal_") {
		t.Fatalf("balance %v", bal.body)
	}
	balID := bal.str("id")
	for _, tc := range []struct {
		name, path, body, field string
	}{
		{"malformed", "/api/v1/accounts", `{"name":`, ""},
		{"array", "/api/v1/accounts", `[]`, ""},
		{"null", "/api/v1/accounts", `null`, ""},
		{"trailing", "/api/v1/accounts", `{"name":"A","code":"A"} {}`, ""},
		{"account no code", "/api/v1/accounts", `{"name":"A"}`, "code"},
		{"account no name", "/api/v1/accounts", `{"code":"A"}`, "name"},
		{"unknown field", "/api/v1/accounts", `{"name":"A","code":"A","colour":"red"}`, "colour"},
		{"wrong type", "/api/v1/accounts", `{"name":7,"code":"A"}`, "name"},
		{"client id", "/api/v1/accounts", `{"id":"acc_mine","name":"A","code":"A"}`, "id"},
		{"balance number amount", "/api/v1/balances", `{"accountId":"` + acc + `","name":"B","amount":12.5,"currency":"USD"}`, "amount"},
		{"balance bad amount", "/api/v1/balances", `{"accountId":"` + acc + `","name":"B","amount":"1e3","currency":"USD"}`, "amount"},
		{"balance no currency", "/api/v1/balances", `{"accountId":"` + acc + `","name":"B","amount":"1"}`, "currency"},
		{"balance bad account", "/api/v1/balances", `{"accountId":"acc_nope","name":"B","amount":"1","currency":"USD"}`, "accountId"},
		{"balance bad date", "/api/v1/balances", `{"accountId":"` + acc + `","name":"B","amount":"1","currency":"USD","startDate":"01/02/2026"}`, "startDate"},
		{"txn no balance", "/api/v1/balance-transactions", `{"amount":"1"}`, "balanceId"},
		{"txn unknown balance", "/api/v1/balance-transactions", `{"balanceId":"bal_nope","amount":"1"}`, "balanceId"},
		{"txn no amount", "/api/v1/balance-transactions", `{"balanceId":"` + balID + `"}`, "amount"},
		{"txn wrong account", "/api/v1/balance-transactions", `{"balanceId":"` + balID + `","accountId":"acc_other","amount":"1"}`, "accountId"},
		{"quote no status", "/api/v1/quotes", `{"accountId":"` + acc + `","type":"NEW"}`, "status"},
		{"quote bad type", "/api/v1/quotes", `{"accountId":"` + acc + `","status":"DRAFT","type":"UPSELL"}`, "type"},
		{"amendment no original", "/api/v1/quotes", `{"accountId":"` + acc + `","status":"DRAFT","type":"AMENDMENT"}`, "originalQuoteId"},
		{"renewal unknown original", "/api/v1/quotes", `{"accountId":"` + acc + `","status":"DRAFT","type":"RENEWAL","originalQuoteId":"quo_nope"}`, "originalQuoteId"},
		{"item number price", "/api/v1/quotes", `{"accountId":"` + acc + `","status":"DRAFT","type":"NEW","offerings":[{"name":"O","items":[{"productCode":"P","quantity":"1","unitPrice":9.99}]}]}`, "offerings[0].items[0].unitPrice"},
		{"item unknown field", "/api/v1/quotes", `{"accountId":"` + acc + `","status":"DRAFT","type":"NEW","offerings":[{"name":"O","items":[{"productCode":"P","quantity":"1","unitPrice":"1","colour":"x"}]}]}`, "offerings[0].items[0].colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustError(t, call(t, srv, "POST", tc.path, tc.body), 400, "invalid", tc.field)
		})
	}
	// Number amounts on update are refused as well.
	mustError(t, call(t, srv, "PUT", "/api/v1/balances/"+balID, `{"accountId":"`+acc+`","name":"B","amount":1,"currency":"USD","version":1}`), 400, "invalid", "amount")
}

func TestChildrenAndQuotes(t *testing.T) {
	t.Parallel()
	em, srv := newEmulator(t, nil)
	acc := call(t, srv, "POST", "/api/v1/accounts", `{"name":"Acme","code":"ACME"}`).str("id")
	acc2 := call(t, srv, "POST", "/api/v1/accounts", `{"name":"Other","code":"OTH"}`).str("id")
	bal := call(t, srv, "POST", "/api/v1/balances", `{"accountId":"`+acc+`","name":"Prepaid","amount":"100.00","currency":"USD","startDate":"2026-01-01"}`).str("id")
	tx := call(t, srv, "POST", "/api/v1/balance-transactions", `{"balanceId":"`+bal+`","amount":"-12.50","appliedDate":"2026-02-03"}`)
	mustStatus(t, tx, 201)
	if tx.str("accountId") != acc || tx.str("amount") != "-12.50" || tx.str("appliedDate") != "2026-02-03" || !strings.HasPrefix(tx.str("id"), "btx_") {
		t.Fatalf("txn %v", tx.body)
	}
	txID := tx.str("id")
	// Re-parenting is refused.
	mustError(t, call(t, srv, "PUT", "/api/v1/balances/"+bal, `{"accountId":"`+acc2+`","name":"P","amount":"1","currency":"USD","version":1}`), 400, "invalid", "accountId")

	q := call(t, srv, "POST", "/api/v1/quotes", `{"accountId":"`+acc+`","status":"DRAFT","type":"NEW","description":"Acme expansion","manualRenewal":true,
		"offerings":[{"name":"Platform","items":[{"productCode":"PLAT","productType":"SUBSCRIPTION","quantity":"10","unitPrice":"99.90","amendmentStatus":"ADDED"},{"id":"qit_mine","productCode":"USG","productType":"USAGE","quantity":"0","unitPrice":"0.015"}]}]}`)
	mustStatus(t, q, 201)
	offs, _ := q.body["offerings"].([]any)
	if len(offs) != 1 || !strings.HasPrefix(q.str("id"), "quo_") {
		t.Fatalf("quote %v", q.body)
	}
	off := offs[0].(map[string]any)
	items := off["items"].([]any)
	if !strings.HasPrefix(off["id"].(string), "qof_") || !strings.HasPrefix(items[0].(map[string]any)["id"].(string), "qit_") ||
		items[1].(map[string]any)["id"] != "qit_mine" || items[0].(map[string]any)["unitPrice"] != "99.90" {
		t.Fatalf("offerings %v", offs)
	}
	am := call(t, srv, "POST", "/api/v1/quotes", `{"accountId":"`+acc+`","status":"DRAFT","type":"AMENDMENT","originalQuoteId":"`+q.str("id")+`"}`)
	mustStatus(t, am, 201)
	if o, ok := am.body["offerings"].([]any); !ok || len(o) != 0 {
		t.Fatalf("offerings should default to [] %v", am.body)
	}

	// An account with balances or quotes cannot be deleted.
	mustError(t, call(t, srv, "DELETE", "/api/v1/accounts/"+acc, ""), 409, "has_dependents", "")
	// Deleting a balance deletes its transactions.
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/balances/"+bal, ""), 204)
	mustError(t, call(t, srv, "GET", "/api/v1/balance-transactions/"+txID, ""), 404, "not_found", "")
	if _, ok := em.Get(billsync.ObjectBalanceTransaction, txID); ok {
		t.Fatal("transaction survived its balance")
	}
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/quotes/"+am.str("id"), ""), 204)
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/quotes/"+q.str("id"), ""), 204)
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/accounts/"+acc, ""), 204)
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	_, srv := newEmulator(t, nil)
	var ids []string
	for i := range 7 {
		r := call(t, srv, "POST", "/api/v1/accounts", `{"name":"A","code":"C`+string(rune('0'+i))+`"}`)
		ids = append(ids, r.str("id"))
	}
	page := func(cursor string, limit string) ([]string, any) {
		path := "/api/v1/accounts?limit=" + limit
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := call(t, srv, "GET", path, "")
		mustStatus(t, r, 200)
		var got []string
		for _, d := range r.body["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		return got, r.body["nextCursor"]
	}
	p1, c1 := page("", "3")
	if len(p1) != 3 || p1[0] != ids[0] || c1 == nil {
		t.Fatalf("page 1 %v %v", p1, c1)
	}
	// Deleting a record already seen and one not yet seen leaves the cursor valid.
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/accounts/"+ids[2], ""), 204)
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/accounts/"+ids[4], ""), 204)
	p2, c2 := page(c1.(string), "3")
	if want := []string{ids[3], ids[5], ids[6]}; strings.Join(p2, ",") != strings.Join(want, ",") {
		t.Fatalf("page 2 %v, want %v", p2, want)
	}
	if c2 != nil {
		p3, c3 := page(c2.(string), "3")
		if len(p3) != 0 || c3 != nil {
			t.Fatalf("page 3 %v %v", p3, c3)
		}
	}
	all := call(t, srv, "GET", "/api/v1/accounts", "")
	if n := len(all.body["data"].([]any)); n != 5 || all.body["nextCursor"] != nil {
		t.Fatalf("default list %d %v", n, all.body["nextCursor"])
	}
	mustError(t, call(t, srv, "GET", "/api/v1/accounts?cursor=garbage!", ""), 400, "invalid", "cursor")
	mustError(t, call(t, srv, "GET", "/api/v1/accounts?limit=0", ""), 400, "invalid", "limit")
	mustStatus(t, call(t, srv, "GET", "/api/v1/accounts?limit=100000", ""), 200)
}

func TestCreateHelper(t *testing.T) {
	t.Parallel()
	em, _ := newEmulator(t, nil)
	acc, err := em.Create(billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = em.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "B", "amount": 12.5, "currency": "USD"})
	if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), "amount") {
		t.Fatalf("float amount: %v", err)
	}
	bal, err := em.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "B", "amount": billsync.MustMoney("12.50"), "currency": "USD"})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := em.Get(billsync.ObjectBalance, bal.ID()); !ok || got.Str("amount") != "12.50" {
		t.Fatalf("get %v %v", got, ok)
	}
	if em.Writes(bal.ID()) != 1 || em.Pending() != 2 {
		t.Fatalf("writes %d pending %d", em.Writes(bal.ID()), em.Pending())
	}
	if _, err := em.Create("invoice", billsync.Entity{}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("unknown type: %v", err)
	}
}
