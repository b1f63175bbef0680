package salesforce

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
)

const v = "/services/data/v62.0"

var sfDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$`)

func TestIDs(t *testing.T) {
	id := makeID("001", 12345)
	if len(id) != 18 || id[:3] != "001" {
		t.Fatalf("makeID = %q", id)
	}
	for _, in := range []string{id, id[:15], strings.ToLower(id[:15]) + id[15:]} {
		got, ok := normalizeID(in)
		if !ok || got != id {
			t.Errorf("normalizeID(%q) = %q, %v; want %q", in, got, ok, id)
		}
	}
	// Salesforce's documented example: 001A0000006Vm9r → 001A0000006Vm9rIAC.
	if got := checksum("001A0000006Vm9r"); got != "001A0000006Vm9rIAC" {
		t.Errorf("checksum = %q", got)
	}
	for _, bad := range []string{"", "001", "001A0000006Vm9r!", "001A0000006Vm9rIACX"} {
		if _, ok := normalizeID(bad); ok {
			t.Errorf("normalizeID(%q) accepted", bad)
		}
	}
}

func TestOAuthGrants(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	o := newTestOrg(t, Options{JWTPublicKeyPEM: pub})

	ok := func(r resp) map[string]any {
		t.Helper()
		if r.Status != 200 {
			t.Fatalf("token: %d %s", r.Status, r.Body)
		}
		m := r.obj(t)
		for _, k := range []string{"access_token", "instance_url", "id", "token_type", "issued_at", "signature"} {
			if _, ok := m[k]; !ok {
				t.Errorf("token response lacks %s: %s", k, r.Body)
			}
		}
		if m["instance_url"] != o.srv.URL || !regexp.MustCompile(`^\d{13}$`).MatchString(m["issued_at"].(string)) {
			t.Errorf("token response %s", r.Body)
		}
		return m
	}
	m := ok(o.form("/services/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {"billsync"}, "client_secret": {"billsync"}, "username": {SalesUsername}, "password": {SalesPassword}}))
	if want := o.srv.URL + "/id/" + o.e.OrgID() + "/" + o.e.UserID(SalesUsername); m["id"] != want {
		t.Errorf("id = %v, want %v", m["id"], want)
	}
	m = ok(o.form("/services/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"billsync"}, "client_secret": {"billsync"}}))
	if !strings.HasSuffix(m["id"].(string), o.e.UserID(IntegrationUsername)) {
		t.Errorf("client_credentials runs as %v, want the integration user", m["id"])
	}
	tok := m["access_token"].(string)
	if r := o.do(tok, "GET", v+"/limits", nil); r.Status != 200 {
		t.Errorf("issued token refused: %d %s", r.Status, r.Body)
	}

	assertion := func(aud, sub string, exp time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: "billsync", Subject: sub, Audience: jwt.ClaimStrings{aud}, ExpiresAt: jwt.NewNumericDate(exp)})
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	jwtForm := func(a string) url.Values {
		return url.Values{"grant_type": {jwtBearerGrant}, "assertion": {a}}
	}
	ok(o.form("/services/oauth2/token", jwtForm(assertion(o.srv.URL, IntegrationUsername, time.Now().Add(3*time.Minute)))))

	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: "billsync", Subject: IntegrationUsername, Audience: jwt.ClaimStrings{o.srv.URL}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))}).SignedString(other)

	for name, tc := range map[string]struct {
		form url.Values
		want map[string]any
	}{
		"bad password": {url.Values{"grant_type": {"password"}, "client_id": {"billsync"}, "client_secret": {"billsync"}, "username": {SalesUsername}, "password": {"nope"}},
			map[string]any{"error": "invalid_grant", "error_description": "authentication failure"}},
		"unknown user": {url.Values{"grant_type": {"password"}, "client_id": {"billsync"}, "client_secret": {"billsync"}, "username": {"who@x"}, "password": {"nope"}},
			map[string]any{"error": "invalid_grant", "error_description": "authentication failure"}},
		"bad client": {url.Values{"grant_type": {"password"}, "client_id": {"other"}, "client_secret": {"billsync"}, "username": {SalesUsername}, "password": {SalesPassword}},
			map[string]any{"error": "invalid_client_id", "error_description": "client identifier invalid"}},
		"bad secret": {url.Values{"grant_type": {"client_credentials"}, "client_id": {"billsync"}, "client_secret": {"x"}},
			map[string]any{"error": "invalid_client", "error_description": "invalid client credentials"}},
		"unsupported": {url.Values{"grant_type": {"authorization_code"}},
			map[string]any{"error": "unsupported_grant_type", "error_description": "grant type not supported"}},
		"jwt forged": {jwtForm(forged), map[string]any{"error": "invalid_grant", "error_description": "invalid assertion"}},
		"jwt audience": {jwtForm(assertion("https://evil.example", IntegrationUsername, time.Now().Add(time.Minute))),
			map[string]any{"error": "invalid_grant", "error_description": "audience is invalid"}},
		"jwt expired": {jwtForm(assertion(o.srv.URL, IntegrationUsername, time.Now().Add(-time.Minute))),
			map[string]any{"error": "invalid_grant", "error_description": "expired access/refresh token"}},
	} {
		r := o.form("/services/oauth2/token", tc.form)
		if r.Status != 400 {
			t.Errorf("%s: status %d", name, r.Status)
		}
		if diff := cmp.Diff(tc.want, r.obj(t)); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", name, diff)
		}
	}
	if o.e.Calls()["oauth"] < 10 {
		t.Errorf("oauth calls = %d", o.e.Calls()["oauth"])
	}
}

func TestVersionsAndDescribe(t *testing.T) {
	o := newTestOrg(t, Options{MultiCurrency: true})
	tok := o.token(SalesUsername)
	vs := o.do("", "GET", "/services/data/", nil).arr(t)
	if len(vs) != 43 || vs[len(vs)-1].(map[string]any)["version"] != "62.0" || vs[0].(map[string]any)["label"] != "Winter '11" {
		t.Errorf("versions %v…", vs[len(vs)-1])
	}
	if r := o.do(tok, "GET", "/services/data/v19.0/sobjects", nil); r.Status != 404 {
		t.Errorf("v19.0 answered %d", r.Status)
	}
	g := o.do(tok, "GET", v+"/sobjects", nil).obj(t)
	names := map[string]bool{}
	for _, s := range g["sobjects"].([]any) {
		names[s.(map[string]any)["name"].(string)] = true
	}
	for _, n := range []string{"Account", "Opportunity", "Quote", "QuoteLineItem", "OpportunityLineItem", "Product2", "Pricebook2", "PricebookEntry", "User", "BillingAccount__c", "BillingBalance__c", "BillingBalanceTransaction__c", "BillingObjectChange__e"} {
		if !names[n] {
			t.Errorf("global describe lacks %s", n)
		}
	}
	d := o.do(tok, "GET", v+"/sobjects/BillingBalance__c/describe", nil).obj(t)
	fields := map[string]map[string]any{}
	for _, f := range d["fields"].([]any) {
		m := f.(map[string]any)
		fields[m["name"].(string)] = m
	}
	amt := fields["Amount__c"]
	if amt["type"] != "currency" || amt["precision"] != json.Number("16") || amt["scale"] != json.Number("2") {
		t.Errorf("Amount__c %v", amt)
	}
	ba := fields["BillingAccount__c"]
	if ba["type"] != "reference" || ba["relationshipName"] != "BillingAccount__r" || ba["nillable"] != false || !cmp.Equal(ba["referenceTo"], []any{"BillingAccount__c"}) {
		t.Errorf("BillingAccount__c %v", ba)
	}
	if fields["CurrencyIsoCode"] == nil {
		t.Errorf("multi-currency org lacks CurrencyIsoCode")
	}
	if _, ok := fields["OwnerId"]; ok {
		t.Errorf("master-detail child has OwnerId")
	}
	lst := fields["LastSystemToUpdate__c"]
	if lst["type"] != "picklist" || len(lst["picklistValues"].([]any)) != 2 {
		t.Errorf("LastSystemToUpdate__c %v", lst)
	}
	if r := o.do(tok, "GET", v+"/sobjects/Nope__c/describe", nil); r.Status != 404 || r.arr(t)[0].(map[string]any)["errorCode"] != "NOT_FOUND" {
		t.Errorf("unknown object: %d %s", r.Status, r.Body)
	}
}

func errorOf(t *testing.T, r resp) map[string]any {
	t.Helper()
	a := r.arr(t)
	if len(a) != 1 {
		t.Fatalf("error array %s", r.Body)
	}
	return a[0].(map[string]any)
}

func TestCRUDAndErrors(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)

	r := o.do(tok, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "Acme", "BillingId__c": "acc-1", "Email__c": "a@b.co"})
	if r.Status != 201 {
		t.Fatalf("create %d %s", r.Status, r.Body)
	}
	id := r.obj(t)["id"].(string)
	if !strings.HasPrefix(id, "a0") || len(id) != 18 {
		t.Errorf("id %q", id)
	}
	if !regexp.MustCompile(`^api-usage=\d+/100000$`).MatchString(r.Header.Get("Sforce-Limit-Info")) {
		t.Errorf("Sforce-Limit-Info %q", r.Header.Get("Sforce-Limit-Info"))
	}
	got := o.do(tok, "GET", v+"/sobjects/BillingAccount__c/"+id[:15]+"?fields=Name,BillingId__c", nil).obj(t)
	if diff := cmp.Diff(map[string]any{"attributes": map[string]any{"type": "BillingAccount__c", "url": v + "/sobjects/BillingAccount__c/" + id}, "Name": "Acme", "BillingId__c": "acc-1"}, got); diff != "" {
		t.Errorf("retrieve with fields (-want +got)\n%s", diff)
	}
	full := o.do(tok, "GET", v+"/sobjects/BillingAccount__c/"+id, nil).obj(t)
	if !sfDateTime.MatchString(full["CreatedDate"].(string)) || full["CreatedById"] != o.e.UserID(IntegrationUsername) || full["IsDeletedInBilling__c"] != false {
		t.Errorf("record %v", full)
	}

	cases := []struct {
		name, method, path string
		body               any
		status             int
		code, msg          string
	}{
		{"unknown field", "POST", "/sobjects/BillingAccount__c", map[string]any{"Nope__c": 1}, 400, "INVALID_FIELD", "No such column 'Nope__c' on sobject of type BillingAccount__c"},
		{"unknown object", "POST", "/sobjects/Nope__c", map[string]any{}, 404, "NOT_FOUND", "The requested resource does not exist"},
		{"bad json", "POST", "/sobjects/BillingAccount__c", `{"Name":`, 400, "JSON_PARSER_ERROR", ""},
		{"duplicate ext id", "POST", "/sobjects/BillingAccount__c", map[string]any{"Name": "B", "BillingId__c": "ACC-1"}, 400, "DUPLICATE_VALUE", "duplicate value found: BillingId__c duplicates value on record with id: " + id[:15]},
		{"too long", "POST", "/sobjects/BillingAccount__c", map[string]any{"Name": strings.Repeat("x", 81)}, 400, "STRING_TOO_LONG", "Billing Account Name: data value too large: " + strings.Repeat("x", 81) + " (max length=80)"},
		{"read-only field", "POST", "/sobjects/BillingAccount__c", map[string]any{"Name": "C", "CreatedDate": "2020-01-01T00:00:00.000+0000"}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: CreatedDate. Please check the security settings of this field and verify that it is read/write for your profile or permission set."},
		{"required", "POST", "/sobjects/Opportunity", map[string]any{"Probability": "10"}, 400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name, StageName, CloseDate]"},
		{"missing parent", "POST", "/sobjects/BillingBalance__c", map[string]any{"Name": "B", "BillingAccount__r": map[string]any{"BillingId__c": "nope"}}, 400, "INVALID_FIELD", "Foreign key external ID: nope not found for field BillingId__c in entity BillingAccount__c"},
		{"bad lookup", "POST", "/sobjects/BillingAccount__c", map[string]any{"Name": "D", "Account__c": makeID("001", 999)}, 400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"},
		{"not found", "GET", "/sobjects/BillingAccount__c/" + makeID(id[:3], 999), nil, 404, "NOT_FOUND", "The requested resource does not exist"},
		{"malformed id", "PATCH", "/sobjects/BillingAccount__c/xyz", map[string]any{}, 400, "MALFORMED_ID", "Billing Account ID: id value of incorrect type: xyz"},
		{"bad upsert field", "PATCH", "/sobjects/BillingAccount__c/Name/x", map[string]any{}, 404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: Name"},
		{"bad query", "GET", "/query?q=" + url.QueryEscape("SELECT Nope FROM Account"), nil, 400, "INVALID_FIELD", ""},
		{"bad type", "GET", "/query?q=" + url.QueryEscape("SELECT Id FROM Nope__c"), nil, 400, "INVALID_TYPE", ""},
		{"malformed query", "GET", "/query?q=" + url.QueryEscape("SELECT FROM"), nil, 400, "MALFORMED_QUERY", ""},
	}
	for _, c := range cases {
		r := o.do(tok, c.method, v+c.path, c.body)
		if r.Status != c.status {
			t.Errorf("%s: status %d %s", c.name, r.Status, r.Body)
			continue
		}
		e := errorOf(t, r)
		if e["errorCode"] != c.code || c.msg != "" && e["message"] != c.msg {
			t.Errorf("%s: %s", c.name, r.Body)
		}
	}
	if r := o.do("bogus", "GET", v+"/sobjects", nil); r.Status != 401 || errorOf(t, r)["errorCode"] != "INVALID_SESSION_ID" {
		t.Errorf("bogus token: %d %s", r.Status, r.Body)
	}
	if m := errorOf(t, o.do(tok, "GET", v+"/query?q="+url.QueryEscape("SELECT Nope FROM Account"), nil))["message"].(string); !strings.Contains(m, "No such column 'Nope' on entity 'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name.") {
		t.Errorf("INVALID_FIELD message %q", m)
	}

	if r := o.do(tok, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Code__c": "A1"}); r.Status != 204 || len(r.Body) != 0 {
		t.Errorf("update %d %s", r.Status, r.Body)
	}
	if o.e.Writes(id) != 2 {
		t.Errorf("Writes = %d", o.e.Writes(id))
	}
	if r := o.do(tok, "DELETE", v+"/sobjects/BillingAccount__c/"+id, nil); r.Status != 204 {
		t.Errorf("delete %d %s", r.Status, r.Body)
	}
	if r := o.do(tok, "GET", v+"/sobjects/BillingAccount__c/"+id, nil); r.Status != 404 || errorOf(t, r)["errorCode"] != "ENTITY_IS_DELETED" {
		t.Errorf("get deleted %d %s", r.Status, r.Body)
	}
}

func TestUpsertParentsRoundingCascade(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	r := o.do(tok, "PATCH", v+"/sobjects/BillingAccount__c/BillingId__c/acc-1", map[string]any{"Name": "Acme", "LastSystemToUpdate__c": "billing"})
	if r.Status != 201 || r.obj(t)["created"] != true {
		t.Fatalf("upsert create %d %s", r.Status, r.Body)
	}
	acc := r.obj(t)["id"].(string)
	r = o.do(tok, "PATCH", "/services/data/v45.0/sobjects/BillingAccount__c/BillingId__c/acc-1", map[string]any{"Name": "Acme 2"})
	if r.Status != 204 {
		t.Errorf("pre-46 upsert update %d %s", r.Status, r.Body)
	}
	r = o.do(tok, "PATCH", v+"/composite/sobjects/BillingBalance__c/BillingId__c", map[string]any{"allOrNone": true, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "BillingBalance__c"}, "BillingId__c": "bal-1", "Name": "B1", "Amount__c": json.Number("12.345"), "StartDate__c": "2026-01-31", "BillingAccount__r": map[string]any{"BillingId__c": "acc-1"}},
		map[string]any{"attributes": map[string]any{"type": "BillingBalance__c"}, "BillingId__c": "bal-2", "Name": "B2", "Amount__c": "-0.005", "BillingAccount__r": map[string]any{"BillingId__c": "acc-1"}},
	}})
	res := r.arr(t)
	if r.Status != 200 || len(res) != 2 || res[0].(map[string]any)["created"] != true {
		t.Fatalf("collection upsert %d %s", r.Status, r.Body)
	}
	bal := res[0].(map[string]any)["id"].(string)
	b, _ := o.e.Record("BillingBalance__c", bal)
	if b["Amount__c"] != json.Number("12.35") || b["BillingAccount__c"] != acc || b["StartDate__c"] != "2026-01-31" {
		t.Errorf("balance %v", b)
	}
	b2, _ := o.e.Record("BillingBalance__c", res[1].(map[string]any)["id"].(string))
	if b2["Amount__c"] != json.Number("-0.01") {
		t.Errorf("half away from zero: %v", b2["Amount__c"])
	}
	r = o.do(tok, "POST", v+"/sobjects/BillingBalanceTransaction__c", map[string]any{"BillingId__c": "tx-1", "Amount__c": 5, "BillingBalance__r": map[string]any{"BillingId__c": "bal-1"}})
	if r.Status != 201 {
		t.Fatalf("transaction %d %s", r.Status, r.Body)
	}
	txID := r.obj(t)["id"].(string)
	txRec, _ := o.e.Record("BillingBalanceTransaction__c", txID)
	if txRec["Name"] != "BT-000001" {
		t.Errorf("auto number %v", txRec["Name"])
	}

	// SOQL with relationship fields, ORDER BY and LIMIT.
	q := "SELECT Id, Name, BillingBalance__r.BillingId__c, BillingBalance__r.BillingAccount__r.BillingId__c FROM BillingBalanceTransaction__c WHERE BillingBalance__r.BillingId__c = 'bal-1' ORDER BY Name DESC LIMIT 5"
	qr := o.do(tok, "GET", v+"/query?q="+url.QueryEscape(q), nil).obj(t)
	rec := qr["records"].([]any)[0].(map[string]any)
	parent := rec["BillingBalance__r"].(map[string]any)
	if parent["BillingId__c"] != "bal-1" || parent["BillingAccount__r"].(map[string]any)["BillingId__c"] != "acc-1" || parent["attributes"].(map[string]any)["type"] != "BillingBalance__c" {
		t.Errorf("relationship projection %v", rec)
	}

	// Deleting the account cascades to balances and transactions; queryAll
	// still sees them, undelete brings them back.
	if r := o.do(tok, "DELETE", v+"/composite/sobjects?ids="+acc+"&allOrNone=true", nil); r.Status != 200 || r.arr(t)[0].(map[string]any)["success"] != true {
		t.Fatalf("collection delete %d %s", r.Status, r.Body)
	}
	if _, ok := o.e.Record("BillingBalanceTransaction__c", txID); ok {
		t.Errorf("transaction survived its account")
	}
	all := o.do(tok, "GET", v+"/queryAll?q="+url.QueryEscape("SELECT Id, IsDeleted FROM BillingBalance__c"), nil).obj(t)
	if all["totalSize"] != json.Number("2") || all["records"].([]any)[0].(map[string]any)["IsDeleted"] != true {
		t.Errorf("queryAll %v", all)
	}
	if n := o.do(tok, "GET", v+"/query?q="+url.QueryEscape("SELECT COUNT() FROM BillingBalance__c"), nil).obj(t)["totalSize"]; n != json.Number("0") {
		t.Errorf("count after delete %v", n)
	}
	if err := o.e.Undelete(acc, IntegrationUsername); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.e.Record("BillingBalanceTransaction__c", txID); !ok {
		t.Errorf("undelete did not restore the transaction")
	}
}

func TestCollectionsAllOrNone(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	r := o.do(tok, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "Account"}, "Name": "Good"},
		map[string]any{"attributes": map[string]any{"type": "Opportunity"}, "Name": "Bad", "StageName": "Prospecting"},
	}})
	want := []any{
		map[string]any{"success": false, "errors": []any{map[string]any{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []any{}}}},
		map[string]any{"success": false, "errors": []any{map[string]any{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [CloseDate]", "fields": []any{"CloseDate"}}}},
	}
	if diff := cmp.Diff(want, r.arr(t)); diff != "" {
		t.Errorf("allOrNone (-want +got)\n%s", diff)
	}
	if len(o.e.Records("Account")) != 0 {
		t.Errorf("allOrNone left %d accounts", len(o.e.Records("Account")))
	}
	// Update collection, partial.
	acc := o.do(tok, "POST", v+"/sobjects/Account", map[string]any{"Name": "A"}).obj(t)["id"].(string)
	r = o.do(tok, "PATCH", v+"/composite/sobjects", map[string]any{"records": []any{
		map[string]any{"attributes": map[string]any{"type": "Account"}, "Id": acc, "Name": "A2"},
		map[string]any{"attributes": map[string]any{"type": "Account"}, "Name": "no id"},
	}})
	res := r.arr(t)
	if res[0].(map[string]any)["success"] != true || res[1].(map[string]any)["success"] != false {
		t.Errorf("update collection %s", r.Body)
	}
	if a, _ := o.e.Record("Account", acc); a["Name"] != "A2" {
		t.Errorf("account %v", a)
	}
	if o.e.Calls()["composite"] != 2 {
		t.Errorf("calls %v", o.e.Calls())
	}
	too := make([]any, 201)
	for i := range too {
		too[i] = map[string]any{"attributes": map[string]any{"type": "Account"}, "Name": "x"}
	}
	if r := o.do(tok, "POST", v+"/composite/sobjects", map[string]any{"records": too}); r.Status != 400 {
		t.Errorf("201 records: %d", r.Status)
	}
}

func TestQueryPaging(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	for b := 0; b < 3; b++ {
		var recs []any
		for i := 0; i < 200; i++ {
			recs = append(recs, map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "Name": fmt.Sprintf("P %d-%03d", b, i), "BillingId__c": fmt.Sprintf("p-%d-%03d", b, i)})
		}
		if r := o.do(tok, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": true, "records": recs}); r.Status != 200 {
			t.Fatal(r.Status)
		}
	}
	req := func(path string) map[string]any {
		r := o.do(tok, "GET", path, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		return r.obj(t)
	}
	first := req(v + "/query?q=" + url.QueryEscape("SELECT Id FROM BillingAccount__c WHERE BillingId__c LIKE 'p-%' ORDER BY BillingId__c"))
	if first["done"] != true || len(first["records"].([]any)) != 600 {
		t.Errorf("600 rows should fit one page")
	}
	seen := 0
	// batchSize through the header.
	page := doWithHeader(t, o, tok, v+"/query?q="+url.QueryEscape("SELECT Id FROM BillingAccount__c"), "Sforce-Query-Options", "batchSize=250").obj(t)
	for {
		if page["totalSize"] != json.Number("600") {
			t.Fatalf("totalSize %v", page["totalSize"])
		}
		seen += len(page["records"].([]any))
		if page["done"] == true {
			if _, ok := page["nextRecordsUrl"]; ok {
				t.Errorf("last page carries nextRecordsUrl")
			}
			break
		}
		next := page["nextRecordsUrl"].(string)
		if !regexp.MustCompile(`^/services/data/v62\.0/query/01g[A-Za-z0-9]{15}-\d+$`).MatchString(next) {
			t.Fatalf("nextRecordsUrl %q", next)
		}
		page = req(next)
	}
	if seen != 600 {
		t.Errorf("paged %d rows", seen)
	}
}

func doWithHeader(t *testing.T, o *testOrg, tok, path, k, val string) resp {
	t.Helper()
	req, _ := newRequest("GET", o.srv.URL+path)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(k, val)
	res, err := o.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := readAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

// TestTriggerRule checks SPEC C1: the integration user's writes publish
// nothing and keep LastSystemToUpdate__c; a sales user's writes are stamped
// sfdc and publish BillingObjectChange__e after the write.
func TestTriggerRule(t *testing.T) {
	o := newTestOrg(t, Options{})
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	const ch = "/event/BillingObjectChange__e"

	id := o.do(integ, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "I", "BillingId__c": "i-1", "LastSystemToUpdate__c": "billing"}).obj(t)["id"].(string)
	o.do(integ, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Name": "I2"})
	if n := len(o.e.Bus().Events(ch)); n != 0 {
		t.Fatalf("integration writes published %d events", n)
	}
	if r, _ := o.e.Record("BillingAccount__c", id); r["LastSystemToUpdate__c"] != "billing" {
		t.Errorf("integration write stamped %v", r["LastSystemToUpdate__c"])
	}

	if r := o.do(sales, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Name": "edited", "LastSystemToUpdate__c": "billing"}); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	if r, _ := o.e.Record("BillingAccount__c", id); r["LastSystemToUpdate__c"] != "sfdc" {
		t.Errorf("sales write left %v", r["LastSystemToUpdate__c"])
	}
	o.do(sales, "DELETE", v+"/sobjects/BillingAccount__c/"+id, nil)
	if err := o.e.Undelete(id, SalesUsername); err != nil {
		t.Fatal(err)
	}
	// Accounts are not triggered objects: no event.
	o.do(sales, "POST", v+"/sobjects/Account", map[string]any{"Name": "plain"})
	evs := o.e.Bus().Events(ch)
	var types []string
	for _, ev := range evs {
		p := ev.Payload
		types = append(types, p["ChangeType__c"].(string))
		if p["ObjectType__c"] != "BillingAccount__c" || p["RecordId__c"] != id || p["CreatedById"] != o.e.UserID(SalesUsername) {
			t.Errorf("payload %v", p)
		}
		if !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`).MatchString(p["CreatedDate"].(string)) {
			t.Errorf("CreatedDate %v", p["CreatedDate"])
		}
	}
	if diff := cmp.Diff([]string{"UPDATE", "DELETE", "UNDELETE"}, types); diff != "" {
		t.Errorf("events (-want +got)\n%s", diff)
	}
	// A failed write publishes nothing.
	o.do(sales, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "dup", "BillingId__c": "i-1"})
	if len(o.e.Bus().Events(ch)) != 3 {
		t.Errorf("failed insert published")
	}
	// Publishing the event over REST.
	r := o.do(integ, "POST", v+"/sobjects/BillingObjectChange__e", map[string]any{"ObjectType__c": "BillingAccount__c", "RecordId__c": id, "ChangeType__c": "UPDATE"})
	if r.Status != 201 || !strings.HasPrefix(r.obj(t)["id"].(string), "e00") {
		t.Errorf("publish %d %s", r.Status, r.Body)
	}
	if len(o.e.Bus().Events(ch)) != 4 {
		t.Errorf("REST publish not on the bus")
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	e1, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := e1.IssueToken(SalesUsername)
	t1 := e1.beginLocked(e1.users[SalesUsername])
	e1.mu.Lock()
	id, aerr := t1.insert(e1.schema.object("BillingAccount__c"), map[string]any{"Name": "Keep", "BillingId__c": "k-1"})
	if aerr != nil {
		e1.mu.Unlock()
		t.Fatal(aerr)
	}
	t1.commit()
	e1.mu.Unlock()
	org, user := e1.OrgID(), e1.UserID(IntegrationUsername)
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotFile)); err != nil {
		t.Fatal(err)
	}

	o2 := newTestOrg(t, Options{DataDir: dir})
	if o2.e.OrgID() != org || o2.e.UserID(IntegrationUsername) != user {
		t.Errorf("identity changed across restart")
	}
	r, ok := o2.e.Record("BillingAccount__c", id)
	if !ok || r["Name"] != "Keep" {
		t.Fatalf("record lost: %v", r)
	}
	if n := len(o2.e.Bus().Events("/event/BillingObjectChange__e")); n != 1 {
		t.Errorf("bus lost its event: %d", n)
	}
	if r := o2.do(tok, "GET", v+"/sobjects/BillingAccount__c/"+id, nil); r.Status != 200 {
		t.Errorf("session lost: %d", r.Status)
	}
	// A new insert does not reuse the id.
	id2 := o2.do(tok, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "Next"}).obj(t)["id"].(string)
	if id2 == id {
		t.Errorf("id reused")
	}
	if len(o2.e.Records("Pricebook2")) != 1 {
		t.Errorf("standard price book duplicated")
	}
}

func TestCreateHeadersAndEventPublish(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	r := o.do(tok, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"BillingId__c": "n-1"})
	id := r.obj(t)["id"].(string)
	if r.Header.Get("Location") != v+"/sobjects/BillingAccount__c/"+id {
		t.Errorf("Location %q", r.Header.Get("Location"))
	}
	if rec, _ := o.e.Record("BillingAccount__c", id); rec["Name"] != id[:15] {
		t.Errorf("unnamed record named %v", rec["Name"])
	}
	r = o.do(tok, "POST", v+"/sobjects/BillingObjectChange__e", map[string]any{"ObjectType__c": "BillingAccount__c", "RecordId__c": id, "ChangeType__c": "UPDATE"})
	errs := r.obj(t)["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["statusCode"] != "OPERATION_ENQUEUED" {
		t.Errorf("publish answer %s", r.Body)
	}
	if ev := o.e.Bus().Events("/event/BillingObjectChange__e"); len(ev) != 1 || ev[0].UUID != errs[0].(map[string]any)["message"] {
		t.Errorf("events %v", ev)
	}
	r = o.do(tok, "POST", v+"/sobjects/Opportunity", map[string]any{"Name": "O", "StageName": "Prospecting", "CloseDate": "2030-01-01", "Amount": "10000000", "Probability": "10"})
	opp, _ := o.e.Record("Opportunity", r.obj(t)["id"].(string))
	if opp["Amount"] != json.Number("1.0E7") || opp["Probability"] != json.Number("10.0") {
		t.Errorf("numbers on the wire: %v %v", opp["Amount"], opp["Probability"])
	}
	if r := o.do(tok, "DELETE", v+"/sobjects/Account/"+makeID("001", 4242), nil); r.Status != 404 || errorOf(t, r)["errorCode"] != "INVALID_CROSS_REFERENCE_KEY" {
		t.Errorf("delete missing: %d %s", r.Status, r.Body)
	}
}

func TestTrailingSlashes(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	if r := o.do(tok, "POST", v+"/sobjects/Account/", map[string]any{"Name": "Slash"}); r.Status != 201 {
		t.Errorf("POST with trailing slash: %d %s", r.Status, r.Body)
	}
	if r := o.do(tok, "GET", v+"/query/?q=select+Id%2CName+from+Account", nil); r.Status != 200 || r.obj(t)["totalSize"] != json.Number("1") {
		t.Errorf("query with trailing slash: %d %s", r.Status, r.Body)
	}
}
