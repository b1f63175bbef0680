package stripeapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

const quoteJSON = `{"id":"qt_1","object":"quote","customer":"cus_1","description":"Deal","status":"open","number":"QT-1","currency":"usd",
 "expires_at":1780272000,"created":1777636800,"amount_total":123450,"subscription_data":{"effective_date":1780272000},
 "metadata":{"billsync_crm_opportunity_id":"006X","owner":"kim"}}`

func lineItems(after string) string {
	if after == "" {
		return `{"object":"list","has_more":true,"data":[
		 {"id":"li_1","object":"item","description":"Seats","quantity":3,"amount_total":3000,"currency":"usd",
		  "price":{"id":"price_1","type":"recurring","currency":"usd","unit_amount_decimal":"1000","recurring":{"usage_type":"licensed"},
		   "product":{"id":"prod_1","name":"Seat","metadata":{"billsync_code":"SEAT"}}}},
		 {"id":"li_2","object":"item","description":"API calls","quantity":1,"amount_total":0,"currency":"usd",
		  "price":{"id":"price_2","type":"recurring","currency":"usd","unit_amount_decimal":"0.125","recurring":{"usage_type":"metered"},
		   "product":{"id":"prod_2","name":"Calls","metadata":{}}}}]}`
	}
	return `{"object":"list","has_more":false,"data":[
	 {"id":"li_3","object":"item","description":"Setup","quantity":1,"amount_total":120450,"currency":"usd",
	  "price":{"id":"price_3","type":"one_time","currency":"usd","unit_amount_decimal":"120450","product":"prod_3"}}]}`
}

func TestQuoteGet(t *testing.T) {
	t.Parallel()
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		switch r.URL.Path {
		case "/v1/quotes/qt_1":
			write(w, 200, quoteJSON)
		case "/v1/quotes/qt_1/line_items":
			write(w, 200, lineItems(r.URL.Query().Get("starting_after")))
		default:
			write(w, 404, `{"error":{"code":"resource_missing","message":"No such quote"}}`)
		}
	})
	c := clientFor(t, fk, nil)
	q, err := c.Get(t.Context(), billsync.ObjectQuote, "qt_1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": "qt_1", "accountId": "cus_1", "description": "Deal", "status": "PRESENTED", "type": "NEW", "number": "QT-1",
		"currency": "USD", "crmOpportunityId": "006X", "startDate": "2026-06-01", "expiresAt": "2026-06-01T00:00:00Z", "customFields.owner": "kim"}
	for k, v := range want {
		if q.PathStr(k) != v {
			t.Errorf("%s = %q, want %q", k, q.PathStr(k), v)
		}
	}
	items, _ := q[billsync.QuoteItemsField].([]any)
	if len(items) != 3 {
		t.Fatalf("items %v", q[billsync.QuoteItemsField])
	}
	wantItems := []string{
		"li_1 SEAT Seat SUBSCRIPTION 3 10 30.00",
		"li_2 prod_2 Calls USAGE 1 0.00125 0.00",
		"li_3 prod_3  ONE_TIME 1 1204.5 1204.50",
	}
	for i, it := range items {
		m := billsync.Entity(it.(map[string]any))
		got := fmt.Sprintf("%s %s %s %s %s %s %s", m.Str("id"), m.Str("productCode"), m.Str("productName"), m.Str("productType"),
			m.Str("quantity"), m.Str("unitPrice"), m.Str("amount"))
		if got != wantItems[i] {
			t.Errorf("item %d: %q, want %q", i, got, wantItems[i])
		}
	}
	for _, r := range fk.requests() {
		if r.Path == "/v1/quotes/qt_1/line_items" && r.Query.Get("expand[]") != "data.price.product" {
			t.Errorf("line items without the product expanded: %v", r.Query)
		}
	}
	if _, err := c.Get(t.Context(), billsync.ObjectQuote, "qt_x"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("missing quote: %v", err)
	}
	// The link already held is no write; another link on an open quote is
	// refused: Stripe lets only a draft change.
	if _, err := c.Update(t.Context(), billsync.ObjectQuote, q); err != nil || len(fk.posts()) != 0 {
		t.Errorf("same link: %v, posts %v", err, fk.posts())
	}
	relinked := q.Clone()
	relinked["crmOpportunityId"] = "006Y"
	for _, err := range []error{
		func() error { _, err := c.Update(t.Context(), billsync.ObjectQuote, relinked); return err }(),
		func() error { _, err := c.Create(t.Context(), billsync.ObjectQuote, q, ""); return err }(),
		c.Delete(t.Context(), billsync.ObjectQuote, "qt_1"),
	} {
		if billsync.IsTransient(err) || billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("quote write: %v", err)
		}
	}
}

func TestMinorDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range [][3]string{
		{"1000", "usd", "10"}, {"0.125", "usd", "0.00125"}, {"5", "usd", "0.05"}, {"500", "jpy", "500"},
		{"1234.5", "bhd", "1.2345"}, {"123456789012.123456789012", "usd", "1234567890.12123456789012"}, {"0", "usd", "0"}, {"-0.00", "usd", "0"}, {"007.50", "jpy", "7.5"},
	} {
		got, err := minorDecimal(tc[0], tc[1])
		if err != nil || got != tc[2] {
			t.Errorf("%s %s: %q %v, want %q", tc[0], tc[1], got, err, tc[2])
		}
	}
	for _, bad := range []string{"", "1e3", "1.2.3", "abc", "."} {
		if _, err := minorDecimal(bad, "usd"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestListTransactionsWalksCustomers(t *testing.T) {
	t.Parallel()
	customers := []string{"cus_3", "cus_2", "cus_1"} // newest first
	txns := map[string][]string{"cus_3": {"cbtxn_a", "cbtxn_b", "cbtxn_c"}, "cus_2": nil, "cus_1": {"cbtxn_d"}}
	page := func(ids []string, after string, limit int, mk func(string) string) string {
		start := 0
		for i, id := range ids {
			if id == after {
				start = i + 1
			}
		}
		end := min(start+limit, len(ids))
		var data []string
		for _, id := range ids[start:end] {
			data = append(data, mk(id))
		}
		return fmt.Sprintf(`{"object":"list","has_more":%v,"data":[%s]}`, end < len(ids), strings.Join(data, ","))
	}
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		q := r.URL.Query()
		limit := 10
		fmt.Sscan(q.Get("limit"), &limit)
		if r.URL.Path == "/v1/customers" {
			write(w, 200, page(customers, q.Get("starting_after"), limit, func(id string) string { return `{"id":"` + id + `"}` }))
			return
		}
		cus := strings.Split(r.URL.Path, "/")[3]
		write(w, 200, page(txns[cus], q.Get("starting_after"), limit, func(id string) string {
			return `{"id":"` + id + `","amount":-100,"currency":"eur","customer":"` + cus + `","created":1777636800}`
		}))
	})
	c := clientFor(t, fk, nil)
	var got []string
	cursor := ""
	for i := 0; i < 20; i++ {
		p, next, err := c.List(t.Context(), billsync.ObjectBalanceTransaction, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p {
			got = append(got, e.ID()+"="+e.Str("amount"))
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := "cus_3.cbtxn_a=1.00 cus_3.cbtxn_b=1.00 cus_3.cbtxn_c=1.00 cus_1.cbtxn_d=1.00"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v\nwant %s", got, want)
	}
	recent, next, err := c.RecentTransactions(t.Context(), "cus_3.eur", "", 2)
	if err != nil || len(recent) != 2 || next != "cbtxn_b" || recent[0].ID() != "cus_3.cbtxn_a" {
		t.Errorf("recent %v %q %v", recent, next, err)
	}
	if recent, _, _ := c.RecentTransactions(t.Context(), "cus_3.usd", "", 2); len(recent) != 0 {
		t.Errorf("another currency's transactions: %v", recent)
	}
}

// A draft quote takes billsync's Opportunity link in its metadata, and
// nothing else of the entity billsync hands it.
func TestQuoteLinkOnDraft(t *testing.T) {
	t.Parallel()
	draft := strings.Replace(strings.Replace(quoteJSON, `"status":"open"`, `"status":"draft"`, 1), `"billsync_crm_opportunity_id":"006X",`, "", 1)
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, f url.Values) {
		switch {
		case r.URL.Path == "/v1/quotes/qt_1" && r.Method == http.MethodPost:
			write(w, 200, strings.Replace(draft, `"owner":"kim"`, `"owner":"kim","billsync_crm_opportunity_id":"`+f.Get("metadata[billsync_crm_opportunity_id]")+`"`, 1))
		case r.URL.Path == "/v1/quotes/qt_1":
			write(w, 200, draft)
		case r.URL.Path == "/v1/quotes/qt_1/line_items":
			write(w, 200, `{"object":"list","has_more":false,"data":[]}`)
		default:
			write(w, 404, `{"error":{"code":"resource_missing","message":"No such quote"}}`)
		}
	})
	c := clientFor(t, fk, nil)
	q, err := c.Get(t.Context(), billsync.ObjectQuote, "qt_1")
	if err != nil {
		t.Fatal(err)
	}
	q["crmOpportunityId"] = "006Z"
	q["description"] = "not billsync's to change"
	got, err := c.Update(t.Context(), billsync.ObjectQuote, q)
	if err != nil || got.Str("crmOpportunityId") != "006Z" {
		t.Fatalf("link: %v %v", got, err)
	}
	posts := fk.posts()
	if len(posts) != 1 || len(posts[0].Form) != 1 || posts[0].Form.Get("metadata[billsync_crm_opportunity_id]") != "006Z" {
		t.Errorf("posted %+v, want only the link", posts)
	}
}
