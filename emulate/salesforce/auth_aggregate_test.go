package salesforce

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// The REST API keeps to the two documented schemes; only the Streaming API
// takes a bare session id (EMP-Connector's form).
func TestBareTokenOnlyOnStreaming(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	for _, tc := range []struct {
		auth string
		want int
	}{
		{tok, 401}, {"Basic " + tok, 401},
		// The two schemes, in any case.
		{"bearer " + tok, 200}, {"OAUTH " + tok, 200},
	} {
		req, _ := http.NewRequest("GET", o.srv.URL+"/services/data/v62.0/limits", nil)
		req.Header.Set("Authorization", tc.auth)
		res, err := o.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("REST with Authorization %.12q…: %d, want %d", tc.auth, res.StatusCode, tc.want)
		}
	}
}

// Aggregates run over what the endpoint sees: queryAll counts the
// recycle bin, query does not; GROUP BY with LIMIT and OFFSET pages
// groups, not records.
func TestAggregateQueriesOverDeletedAndPagedGroups(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	v := "/services/data/v62.0"
	var ids []string
	for _, ind := range []string{"Energy", "Energy", "Banking", "Technology"} {
		r := o.do(tok, "POST", v+"/sobjects/Account", map[string]any{"Name": "A " + ind, "Industry": ind})
		ids = append(ids, r.obj(t)["id"].(string))
	}
	if r := o.do(tok, "DELETE", v+"/sobjects/Account/"+ids[0], nil); r.Status != 204 {
		t.Fatal(r.Status)
	}
	count := func(endpoint string) any {
		r := o.do(tok, "GET", v+"/"+endpoint+"?q="+url.QueryEscape("SELECT COUNT(Id) n FROM Account"), nil)
		return r.obj(t)["records"].([]any)[0].(map[string]any)["n"]
	}
	if got := count("query"); got != jsonNumber("3") {
		t.Errorf("query COUNT(Id) = %v, want 3", got)
	}
	if got := count("queryAll"); got != jsonNumber("4") {
		t.Errorf("queryAll COUNT(Id) = %v, want 4", got)
	}
	r := o.do(tok, "GET", v+"/query?q="+url.QueryEscape("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry ORDER BY Industry LIMIT 1 OFFSET 1"), nil).obj(t)
	recs := r["records"].([]any)
	if r["totalSize"] != jsonNumber("1") || len(recs) != 1 || recs[0].(map[string]any)["Industry"] != "Energy" {
		t.Errorf("second group = %v, want the Energy group alone", r)
	}
	// A checkbox cannot be aggregated.
	bad := o.do(tok, "GET", v+"/query?q="+url.QueryEscape("SELECT MAX(IsDeleted) FROM Account"), nil)
	if bad.Status != 400 || errorOf(t, bad)["errorCode"] != "MALFORMED_QUERY" {
		t.Errorf("MAX(IsDeleted): %d %s", bad.Status, bad.Body)
	}
}

func jsonNumber(s string) any { return json.Number(s) }
