package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
)

const v = "/services/data/v62.0"

func TestCreateSendsCollectionWithMoneyAsNumbers(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 200, "collections_create_ok.json", "Sforce-Limit-Info", "api-usage=133/15000")
	})
	c := f.client()
	res, err := c.Create(context.Background(), "Account", []billsync.SObject{{
		"Name":        "Sitwell-Bluth",
		"Balance__c":  billsync.MustMoney("12.50"),
		"Count__c":    json.Number("3"),
		"Big__c":      billsync.MustMoney("12345678901234567.89"),
		"attributes":  map[string]any{"type": "Account", "url": "/services/data/v62.0/sobjects/Account/x"},
		"Parent__r":   map[string]any{"BillingId__c": "acc-1"},
		"Optional__c": nil,
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []billsync.SaveResult{{ID: "0017e00001W4GYRAA3", Success: true, Errors: []billsync.FieldError{}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != v+"/composite/sobjects" {
		t.Fatalf("requests = %+v", reqs)
	}
	if reqs[0].Auth != "Bearer "+f.token(0) || !strings.HasPrefix(reqs[0].ContentType, "application/json") {
		t.Errorf("auth %q, content type %q", reqs[0].Auth, reqs[0].ContentType)
	}
	body := string(reqs[0].Body)
	for _, s := range []string{`"allOrNone":false`, `"Balance__c":12.50`, `"Count__c":3`, `"Big__c":12345678901234567.89`,
		`"attributes":{"type":"Account"}`, `"Parent__r":{"BillingId__c":"acc-1"}`, `"Optional__c":null`} {
		if !strings.Contains(body, s) {
			t.Errorf("body lacks %s:\n%s", s, body)
		}
	}
	if used, max, ok := c.Limits(); !ok || used != 133 || max != 15000 {
		t.Errorf("Limits = %d/%d %v", used, max, ok)
	}
}

func TestUpsertCollectionCreatedFlags(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 200, "collections_upsert.json")
	})
	recs := []billsync.SObject{
		{"Email": "Michael.Bluth@example.com", "FirstName": "Nichael"},
		{"Email": "GOB.Bluth@example.com"},
		{"Email": "lindsay.bluth@example.com"},
		{"Email": "annyong.bluth@example.com"},
	}
	res, err := f.client().Upsert(context.Background(), "Contact", "Email", recs)
	if err != nil {
		t.Fatal(err)
	}
	gotCreated := []bool{}
	for _, r := range res {
		if !r.Success {
			t.Errorf("result %+v not a success", r)
		}
		gotCreated = append(gotCreated, r.Created)
	}
	if diff := cmp.Diff([]bool{false, false, false, true}, gotCreated); diff != "" {
		t.Errorf("created flags (-want +got):\n%s", diff)
	}
	if res[3].ID != "0037e00001WZ316AAD" {
		t.Errorf("last id = %q", res[3].ID)
	}
	req := f.requests()[0]
	if req.Method != "PATCH" || req.Path != v+"/composite/sobjects/Contact/Email" {
		t.Errorf("sent %s %s", req.Method, req.Path)
	}
	var sent struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if err := json.Unmarshal(req.Body, &sent); err != nil || sent.AllOrNone || len(sent.Records) != 4 {
		t.Fatalf("sent %s (%v)", req.Body, err)
	}
	if sent.Records[0]["attributes"].(map[string]any)["type"] != "Contact" {
		t.Errorf("record 0 = %v", sent.Records[0])
	}
	if _, ok := recs[0]["attributes"]; ok {
		t.Error("Upsert changed the caller's record")
	}
}

func TestUpdatePartialFailureUsesStatusCode(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 200, "collections_partial_failure.json")
	})
	res, err := f.client().Update(context.Background(), "Account", []billsync.SObject{
		{"Id": "001RM000003oLnnYAE", "Name": "example.com"},
		{"Id": "003RM0000068xVCYAY", "Name": "Johnson"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Success || !res[1].Success || res[1].ID != "003RM0000068xVCYAY" {
		t.Fatalf("results = %+v", res)
	}
	var re *billsync.RemoteError
	if !errors.As(res[0].Err(), &re) || re.Code != "DUPLICATES_DETECTED" || re.Message != "Use one of these records?" || re.Transient {
		t.Errorf("record 0 error = %+v", re)
	}
	if r := f.requests()[0]; r.Method != "PATCH" || r.Path != v+"/composite/sobjects" {
		t.Errorf("sent %s %s", r.Method, r.Path)
	}
}

func TestWritesChunkBy200InOrder(t *testing.T) {
	var mu sync.Mutex
	sizes := []int{}
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		var in struct{ Records []map[string]any }
		json.Unmarshal(body, &in)
		mu.Lock()
		sizes = append(sizes, len(in.Records))
		mu.Unlock()
		// One result per record, in order, shaped as in the recorded
		// collections answers; the id echoes the record's Name.
		out := make([]map[string]any, len(in.Records))
		for i, rec := range in.Records {
			out[i] = map[string]any{"id": rec["Name"], "success": true, "errors": []any{}}
		}
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		json.NewEncoder(w).Encode(out)
	})
	recs := make([]billsync.SObject, 450)
	for i := range recs {
		recs[i] = billsync.SObject{"Name": fmt.Sprintf("r%03d", i)}
	}
	res, err := f.client().Create(context.Background(), "Account", recs)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{200, 200, 50}, sizes); diff != "" {
		t.Errorf("chunk sizes (-want +got):\n%s", diff)
	}
	for i, r := range res {
		if r.ID != fmt.Sprintf("r%03d", i) {
			t.Fatalf("result %d has id %q: order lost", i, r.ID)
		}
	}
}

func TestWholeCallFailureReturnsError(t *testing.T) {
	for _, tc := range []struct {
		file   string
		status int
		code   string
		app    string
	}{
		{"error_composite_object.json", 400, "INVALID_FIELD", billsync.EINVALID},
		{"error_not_found.json", 404, "NOT_FOUND", billsync.ENOTFOUND},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { reply(t, w, tc.status, tc.file) })
			res, err := f.client().Create(context.Background(), "Nope__c", []billsync.SObject{{"Name": "x"}})
			if res != nil {
				t.Errorf("results = %+v, want none", res)
			}
			var re *billsync.RemoteError
			if !errors.As(err, &re) || re.StatusCode != tc.status || re.Code != tc.code || billsync.ErrorCode(err) != tc.app {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestLaterChunkFailureKeepsEarlierResults(t *testing.T) {
	calls := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		calls++
		if calls == 2 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			w.Write([]byte("<html>Service Unavailable</html>"))
			return
		}
		var in struct{ Records []map[string]any }
		json.Unmarshal(body, &in)
		out := make([]map[string]any, len(in.Records))
		for i := range out {
			out[i] = map[string]any{"id": "0017e00001W4GYRAA3", "success": true, "errors": []any{}}
		}
		json.NewEncoder(w).Encode(out)
	})
	recs := make([]billsync.SObject, 250)
	for i := range recs {
		recs[i] = billsync.SObject{"Name": "x"}
	}
	res, err := f.client().Create(context.Background(), "Account", recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 250 || !res[199].Success || res[200].Success {
		t.Fatalf("got %d results; [199]=%+v [200]=%+v", len(res), res[199], res[200])
	}
	if !billsync.IsTransient(res[249].Err()) {
		t.Errorf("a 503 chunk's records should fail transiently: %v", res[249].Err())
	}
}

func TestDeleteCollection(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 200, "collections_delete_ok.json")
	})
	res, err := f.client().Delete(context.Background(), []string{"001RM000003oLnnYAE"})
	if err != nil || len(res) != 1 || !res[0].Success {
		t.Fatalf("Delete = %+v, %v", res, err)
	}
	r := f.requests()[0]
	if r.Method != "DELETE" || r.Path != v+"/composite/sobjects" || r.RawQuery != "ids=001RM000003oLnnYAE&allOrNone=false" || len(r.Body) != 0 {
		t.Errorf("sent %s %s?%s body %q", r.Method, r.Path, r.RawQuery, r.Body)
	}
	if _, err := f.client().Delete(context.Background(), []string{"001,002"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad id: err = %v", err)
	}
	if res, err := f.client().Delete(context.Background(), nil); err != nil || len(res) != 0 {
		t.Errorf("empty delete = %v, %v", res, err)
	}
}

func TestDeleteBadRequest(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 400, "error_collections_delete_bad_request.json")
	})
	_, err := f.client().Delete(context.Background(), []string{"001RM000003oLnnYAE"})
	if billsync.RemoteCode(err) != "REQUIRED_FIELD_MISSING" || billsync.IsTransient(err) {
		t.Errorf("err = %v", err)
	}
}

func TestRetrieve(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/001D000000INjVeIAL"):
			// The record of the REST guide's Limit Info example, with a
			// currency field added to check numbers stay exact.
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
			w.Write([]byte(`{"attributes":{"type":"Account","url":"/services/data/v62.0/sobjects/Account/001D000000INjVeIAL"},"Id":"001D000000INjVeIAL","Name":"Phone Case","AnnualRevenue":12345678901234567.89,"CreatedDate":"2013-05-20T20:49:32.000+0000"}`))
		case strings.HasSuffix(r.URL.Path, "/001D000000INjVfIAL"):
			reply(t, w, 404, "error_entity_is_deleted.json")
		default:
			reply(t, w, 404, "error_not_found.json")
		}
	})
	c := f.client()
	rec, err := c.Retrieve(context.Background(), "Account", "001D000000INjVeIAL", []string{"Id", "Name", "AnnualRevenue"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID() != "001D000000INjVeIAL" || rec["AnnualRevenue"] != json.Number("12345678901234567.89") {
		t.Errorf("record = %#v", rec)
	}
	r := f.requests()[0]
	if r.Path != v+"/sobjects/Account/001D000000INjVeIAL" || r.RawQuery != "fields=Id,Name,AnnualRevenue" {
		t.Errorf("sent %s?%s", r.Path, r.RawQuery)
	}
	for _, id := range []string{"001D000000INjVfIAL", "001D000000INjVgIAL"} {
		_, err := c.Retrieve(context.Background(), "Account", id, nil)
		if billsync.ErrorCode(err) != billsync.ENOTFOUND {
			t.Errorf("%s: err = %v, want ENOTFOUND", id, err)
		}
	}
}

func TestQueryFollowsNextRecordsURL(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case v + "/query":
			reply(t, w, 200, "query_page1.json", "Sforce-Limit-Info", "api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)")
		case "/services/data/v38.0/query/01gD":
			reply(t, w, 200, "query_page2.json", "Sforce-Limit-Info", "api-usage=26/5000")
		default:
			reply(t, w, 404, "error_not_found.json")
		}
	})
	c := f.client()
	recs, err := c.Query(context.Background(), "SELECT Text_Label FROM Whizbang WHERE Name = 'a b'")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Str("Text_Label") != "First Page" || recs[1].Str("Text_Label") != "Last Page" {
		t.Errorf("records = %v", recs)
	}
	if q := f.requests()[0].RawQuery; q != "q=SELECT+Text_Label+FROM+Whizbang+WHERE+Name+%3D+%27a+b%27" {
		t.Errorf("query string = %s", q)
	}
	if used, max, _ := c.Limits(); used != 26 || max != 5000 {
		t.Errorf("Limits = %d/%d, want the last page's 26/5000", used, max)
	}
}

func TestQueryRelationshipAndCount(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if strings.Contains(r.URL.RawQuery, "count") {
			reply(t, w, 200, "query_count.json")
			return
		}
		reply(t, w, 200, "query_relationship.json")
	})
	c := f.client()
	recs, err := c.Query(context.Background(), "SELECT Text_Label, ParentWhizbang__r.Name FROM Whizbang")
	if err != nil || len(recs) != 1 {
		t.Fatalf("Query = %v, %v", recs, err)
	}
	if got := recs[0].Str("ParentWhizbang__r.Name"); got != "Parent Whizbang" {
		t.Errorf("parent name = %q", got)
	}
	n, err := c.QueryCount(context.Background(), "select count() from Account")
	if err != nil || n != 17 {
		t.Errorf("QueryCount = %d, %v", n, err)
	}
	if recs, err := c.Query(context.Background(), "select count() from Account"); err != nil || recs == nil || len(recs) != 0 {
		t.Errorf("count() through Query = %#v, %v", recs, err)
	}
}

func TestQueryStopsOnRepeatedLocator(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 200, "query_page1.json")
	})
	_, err := f.client().Query(context.Background(), "SELECT Id FROM Whizbang")
	if err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Errorf("err = %v", err)
	}
}

func TestQueryError(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 400, "error_malformed_query.json")
	})
	_, err := f.client().Query(context.Background(), "invalid")
	var re *billsync.RemoteError
	if !errors.As(err, &re) || re.Code != "MALFORMED_QUERY" || re.Message != "unexpected token: 'invalid'" || re.Fields != nil {
		t.Errorf("err = %#v", re)
	}
}

func TestRetryOnceAfter401WithNewSession(t *testing.T) {
	var f *fakeSF
	f = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if bearer(r) != f.token(1) {
			reply(t, w, 401, "error_invalid_session.json")
			return
		}
		reply(t, w, 201, "create_201.json", "Sforce-Limit-Info", "api-usage=133/15000")
	})
	c := f.client()
	var out billsync.SaveResult
	if err := c.Do(context.Background(), "POST", "/sobjects/Contact", billsync.SObject{"LastName": "Somebody"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID != "0031a000005hwVQAAY" || !out.Success {
		t.Errorf("out = %+v", out)
	}
	reqs := f.requests()
	if f.loginCount() != 2 || len(reqs) != 2 {
		t.Fatalf("logins %d, requests %d; want 2 and 2", f.loginCount(), len(reqs))
	}
	if string(reqs[0].Body) != string(reqs[1].Body) || len(reqs[1].Body) == 0 {
		t.Errorf("retry body %q differs from %q", reqs[1].Body, reqs[0].Body)
	}
}

func TestNoLoopWhenRetryAlso401(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 401, "error_invalid_session.json")
	})
	_, err := f.client().Query(context.Background(), "SELECT Id FROM Account")
	var re *billsync.RemoteError
	if !errors.As(err, &re) || re.StatusCode != 401 || re.Code != "INVALID_SESSION_ID" || billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
		t.Fatalf("err = %v", err)
	}
	if f.loginCount() != 2 || len(f.requests()) != 2 {
		t.Errorf("logins %d, requests %d; want 2 and 2", f.loginCount(), len(f.requests()))
	}
}

func TestConcurrent401sShareOneRefresh(t *testing.T) {
	var f *fakeSF
	f = newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if bearer(r) != f.token(1) {
			reply(t, w, 401, "error_invalid_session.json")
			return
		}
		reply(t, w, 200, "query_count.json")
	})
	c := f.client()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.QueryCount(context.Background(), "select count() from Account")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.loginCount() != 2 {
		t.Errorf("logins = %d, want 2 (first login, one shared refresh)", f.loginCount())
	}
}

func TestDoSingleRecordShapes(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.Method == "PATCH" && strings.HasSuffix(r.URL.Path, "/BillingId__c/new-1"):
			reply(t, w, 201, "upsert_201.json")
		case r.Method == "PATCH" && strings.HasSuffix(r.URL.Path, "/BillingId__c/old-1"):
			reply(t, w, 200, "upsert_200.json")
		case r.Method == "PATCH" && strings.HasSuffix(r.URL.Path, "/BillingId__c/dup"):
			reply(t, w, 300, "upsert_300.json")
		case r.Method == "PATCH":
			reply(t, w, 204, "", "Sforce-Limit-Info", "api-usage=126/15000")
		default:
			reply(t, w, 400, "error_required_field_missing.json")
		}
	})
	c := f.client()
	ctx := context.Background()
	var res billsync.SaveResult
	if err := c.Do(ctx, "PATCH", "/sobjects/BillingAccount__c/BillingId__c/new-1", billsync.SObject{"Name": "n"}, &res); err != nil || !res.Created {
		t.Errorf("upsert create = %+v, %v", res, err)
	}
	res = billsync.SaveResult{}
	if err := c.Do(ctx, "PATCH", "/sobjects/BillingAccount__c/BillingId__c/old-1", billsync.SObject{"Name": "n"}, &res); err != nil || res.Created || res.ID != "00190000001pPvHAAU" {
		t.Errorf("upsert update = %+v, %v", res, err)
	}
	err := c.Do(ctx, "PATCH", "/sobjects/BillingAccount__c/BillingId__c/dup", billsync.SObject{}, &res)
	if billsync.RemoteCode(err) != "MULTIPLE_CHOICES" || !strings.Contains(err.Error(), "/services/data/v23.0/sobjects/Whizbang/bar") {
		t.Errorf("300 err = %v", err)
	}
	if err := c.Do(ctx, "PATCH", "/sobjects/Account/001D000000INjVeIAL", map[string]any{"Name": "x"}, &res); err != nil {
		t.Errorf("update 204: %v", err)
	}
	if used, _, _ := c.Limits(); used != 126 {
		t.Errorf("a 204's Sforce-Limit-Info was not read: used = %d", used)
	}
	err = c.Do(ctx, "POST", "/sobjects/Opportunity", map[string]any{"Probability": "10"}, nil)
	var re *billsync.RemoteError
	if !errors.As(err, &re) || re.Code != "REQUIRED_FIELD_MISSING" || !cmp.Equal(re.Fields, []string{"Name", "StageName", "CloseDate"}) {
		t.Errorf("required field err = %#v", re)
	}
}

func TestDoRefusesForeignHost(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { reply(t, w, 200, "query_count.json") })
	err := f.client().Do(context.Background(), "GET", "https://evil.example.com/services/data/v62.0/query", nil, nil)
	if billsync.ErrorCode(err) != billsync.EINVALID || len(f.requests()) != 0 {
		t.Errorf("err = %v, requests %d", err, len(f.requests()))
	}
}

func TestDescribeIsCached(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 200, "describe_whizbang_trimmed.json")
	})
	c := f.client()
	ctx := context.Background()
	d, err := c.Describe(ctx, "Whizbang")
	if err != nil {
		t.Fatal(err)
	}
	fd, ok := d.Field("currency_field")
	if d.Name != "Whizbang" || !ok || fd.Type != "currency" || fd.Precision != 18 || fd.Scale != 0 || !fd.Nillable {
		t.Errorf("describe = %+v / %+v", d, fd)
	}
	if owner, _ := d.Field("OwnerId"); !cmp.Equal(owner.ReferenceTo, []string{"Group", "User"}) || owner.RelationshipName != "Owner" {
		t.Errorf("OwnerId = %+v", owner)
	}
	c.Describe(ctx, "whizbang")
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1 (cached)", n)
	}
	c.InvalidateDescribe("Whizbang")
	c.Describe(ctx, "Whizbang")
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2 after invalidation", n)
	}
	if p := f.requests()[0].Path; p != v+"/sobjects/Whizbang/describe" {
		t.Errorf("path = %s", p)
	}
}

func TestPublish(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		reply(t, w, 201, "create_201.json")
	})
	err := f.client().Publish(context.Background(), "BillingObjectChange__e", billsync.SObject{"ChangeType__c": "UPDATE", "Amount__c": billsync.MustMoney("1.10")})
	if err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.Method != "POST" || r.Path != v+"/sobjects/BillingObjectChange__e" || !strings.Contains(string(r.Body), `"Amount__c":1.10`) {
		t.Errorf("sent %s %s %s", r.Method, r.Path, r.Body)
	}
	if err := f.client().Publish(context.Background(), "Bad/../x", nil); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad name: %v", err)
	}
}

func TestTransientClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		file      string
		code      string
		transient bool
	}{
		{"limit exceeded on 403", 403, "error_request_limit_exceeded.json", "REQUEST_LIMIT_EXCEEDED", true},
		{"required field", 400, "error_required_field_missing.json", "REQUIRED_FIELD_MISSING", false},
		{"string too long", 400, "error_string_too_long.json", "STRING_TOO_LONG", false},
		{"429", 429, "", "", true},
		{"500", 500, "", "", true},
		{"503", 503, "", "", true},
		{"404", 404, "error_not_found.json", "NOT_FOUND", false},
		{"deleted", 404, "error_entity_is_deleted.json", "ENTITY_IS_DELETED", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { reply(t, w, tc.status, tc.file) })
			err := f.client().Do(context.Background(), "GET", "/limits", nil, nil)
			var re *billsync.RemoteError
			if !errors.As(err, &re) || re.StatusCode != tc.status || re.Code != tc.code || re.Transient != tc.transient {
				t.Errorf("err = %#v", re)
			}
		})
	}
}

func TestTimeoutIsTransientAndCancelIsNot(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	c := f.client(func(cfg *Config) { cfg.Timeout = 300 * time.Millisecond })
	if _, _, err := c.Session(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := c.Do(context.Background(), "GET", "/limits", nil, nil)
	var re *billsync.RemoteError
	if !errors.As(err, &re) || !re.Transient || re.StatusCode != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout err = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	c2 := f.client()
	c2.Session(ctx)
	done := make(chan error, 1)
	go func() { done <- c2.Do(ctx, "GET", "/limits", nil, nil) }()
	waitFor(t, "the request to arrive", func() bool { return len(f.requests()) >= 2 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || billsync.IsTransient(err) {
			t.Errorf("cancel err = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Do ignored cancellation")
	}
}

func TestParseLimitInfo(t *testing.T) {
	for _, tc := range []struct {
		in        []string
		used, max int
		ok        bool
	}{
		{[]string{"api-usage=133/15000"}, 133, 15000, true},
		{[]string{"api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)"}, 25, 5000, true},
		{[]string{"api-usage=10018/100000; api-bursts=1/750"}, 10018, 100000, true},
		{[]string{"api-usage=110018/100000; api-bursts=1/750"}, 110018, 100000, true},
		{[]string{"per-app-api-usage=17/250(appName=x)"}, 0, 0, false},
		{[]string{"api-usage=abc/5000"}, 0, 0, false},
		{nil, 0, 0, false},
	} {
		used, max, ok := parseLimitInfo(tc.in)
		if used != tc.used || max != tc.max || ok != tc.ok {
			t.Errorf("parseLimitInfo(%q) = %d, %d, %v", tc.in, used, max, ok)
		}
	}
}

func TestDecodeErrorNonJSON(t *testing.T) {
	re := decodeError(502, []byte("<html><body>Bad Gateway</body></html>"))
	if !re.Transient || re.Code != "" || !strings.HasPrefix(re.Message, "Bad Gateway: <html>") {
		t.Errorf("got %+v", re)
	}
}
