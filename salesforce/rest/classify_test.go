package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/billsync/billsync"
)

// Per-record failures in a collections result carry Salesforce's code
// only; the client reads it, so the engine sees flags (H3).
func TestRecordErrorsAreClassified(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.Write([]byte(`[
			{"success":false,"errors":[{"statusCode":"UNABLE_TO_LOCK_ROW","message":"unable to obtain exclusive access to this record","fields":[]}]},
			{"success":false,"errors":[{"statusCode":"REQUEST_LIMIT_EXCEEDED","message":"TotalRequests Limit exceeded.","fields":[]}]},
			{"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING","message":"Required fields are missing: [Name]","fields":["Name"]}]},
			{"id":"003RM0000068xVCYAY","success":true,"errors":[]}
		]`))
	})
	res, err := f.client().Update(context.Background(), "Account", []billsync.SObject{
		{"Id": "001RM000003oLnnYAE"}, {"Id": "001RM000003oLnoYAE"}, {"Id": "001RM000003oLnpYAE"}, {"Id": "003RM0000068xVCYAY"},
	})
	if err != nil || len(res) != 4 {
		t.Fatalf("Update = %+v, %v", res, err)
	}
	for i, want := range []struct {
		code               string
		transient, limited bool
	}{
		{"UNABLE_TO_LOCK_ROW", true, false},
		{"REQUEST_LIMIT_EXCEEDED", true, true},
		{"REQUIRED_FIELD_MISSING", false, false},
	} {
		err := res[i].Err()
		if billsync.RemoteCode(err) != want.code || billsync.IsTransient(err) != want.transient || billsync.IsRateLimited(err) != want.limited {
			t.Errorf("record %d: %#v, want %s transient=%v rate-limited=%v", i, err, want.code, want.transient, want.limited)
		}
	}
	if res[3].Err() != nil {
		t.Errorf("record 3: %v", res[3].Err())
	}
}

// A chunk refused as a whole after earlier chunks were applied fails its
// records with the call's code and flags.
func TestLaterChunkRateLimitedKeepsFlags(t *testing.T) {
	calls := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		calls++
		if calls == 2 {
			reply(t, w, 403, "error_request_limit_exceeded.json")
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
	recs := make([]billsync.SObject, 201)
	for i := range recs {
		recs[i] = billsync.SObject{"Name": "x"}
	}
	res, err := f.client().Create(context.Background(), "Account", recs)
	if err != nil || len(res) != 201 {
		t.Fatalf("Create: %d results, %v", len(res), err)
	}
	last := res[200].Err()
	if billsync.RemoteCode(last) != "REQUEST_LIMIT_EXCEEDED" || !billsync.IsRateLimited(last) || !billsync.IsTransient(last) {
		t.Errorf("record 200: %#v", last)
	}
}

func TestCodeClassification(t *testing.T) {
	for code, want := range map[string][2]bool{
		"UNABLE_TO_LOCK_ROW":       {true, false},
		"REQUEST_LIMIT_EXCEEDED":   {true, true},
		"SERVER_UNAVAILABLE":       {true, false},
		"QUERY_TIMEOUT":            {true, false},
		"REQUIRED_FIELD_MISSING":   {false, false},
		"ENTITY_IS_DELETED":        {false, false},
		"":                         {false, false},
		"unable_to_lock_row_lower": {false, false},
	} {
		if got := [2]bool{TransientCode(code), RateLimitedCode(code)}; got != want {
			t.Errorf("%q: transient, rate-limited = %v, want %v", code, got, want)
		}
	}
}
