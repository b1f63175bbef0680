package stripe

import (
	"net/http"
	"testing"
)

// TestScenarioAgainstSpec drives every endpoint through the spec
// validator: each request and each response (errors included) must be
// what Stripe's OpenAPI description allows.
func TestScenarioAgainstSpec(t *testing.T) {
	before := checkedCount.Load()
	rcv := newReceiver(t)
	_, c := serve(t, Options{}, func(h http.Handler) http.Handler { return checked(t, h) })

	c.ok("GET", "/v1/account", "")
	we := c.ok("POST", "/v1/webhook_endpoints", "url="+rcv.srv.URL+"&enabled_events[]=*&api_version=2026-03-25.dahlia&description=sync&metadata[env]=test")
	weID := we["id"].(string)
	if s, _ := we["secret"].(string); len(s) < 10 {
		t.Fatalf("create answered no secret: %v", we)
	}
	if got := c.ok("GET", "/v1/webhook_endpoints/"+weID, ""); got["secret"] != nil {
		t.Errorf("GET shows the secret: %v", got)
	}
	c.ok("POST", "/v1/webhook_endpoints/"+weID, "description=billsync&enabled_events[0]=customer.created&enabled_events[1]=*")
	c.ok("GET", "/v1/webhook_endpoints", "limit=5")

	cus := c.ok("POST", "/v1/customers", "name=Acme&email=billing%40acme.test&metadata[billsync_code]=ACME&address[city]=Lyon&preferred_locales[]=fr")
	id := cus["id"].(string)
	c.ok("POST", "/v1/customers", "name=Other&balance=250")
	c.ok("GET", "/v1/customers/"+id, "expand[]=invoice_credit_balance")
	c.ok("POST", "/v1/customers/"+id, "name=Acme+SA&metadata[billsync_code]=&phone=123")
	c.ok("GET", "/v1/customers", "limit=1&email=billing%40acme.test")
	c.ok("GET", "/v1/customers", "created[gte]=0&limit=100")

	txn := c.ok("POST", "/v1/customers/"+id+"/balance_transactions", "amount=-5000&currency=usd&description=credit&metadata[k]=v")
	c.ok("POST", "/v1/customers/"+id+"/balance_transactions", "amount=1200&currency=eur")
	c.ok("GET", "/v1/customers/"+id+"/balance_transactions/"+txn["id"].(string), "expand[]=customer")
	c.ok("POST", "/v1/customers/"+id+"/balance_transactions/"+txn["id"].(string), "description=credit+note&metadata[k]=")
	c.ok("GET", "/v1/customers/"+id+"/balance_transactions", "limit=1")
	c.ok("POST", "/v1/customers/"+id, "balance=-4000")

	prod := c.ok("POST", "/v1/products", "name=Seat&description=A+seat&metadata[sku]=S1")
	c.ok("POST", "/v1/products/"+prod["id"].(string), "name=Seat+licence")
	c.ok("GET", "/v1/products/"+prod["id"].(string), "")
	c.ok("GET", "/v1/products", "active=true")
	monthly := c.ok("POST", "/v1/prices", "currency=usd&product="+prod["id"].(string)+"&unit_amount_decimal=1999.5&recurring[interval]=month&recurring[usage_type]=licensed")
	once := c.ok("POST", "/v1/prices", "currency=usd&product_data[name]=Setup&unit_amount=10000&nickname=setup")
	c.ok("POST", "/v1/prices/"+once["id"].(string), "metadata[a]=b")
	c.ok("GET", "/v1/prices/"+monthly["id"].(string), "expand[]=product")
	c.ok("GET", "/v1/prices", "type=recurring&currency=usd&limit=3")

	q := c.ok("POST", "/v1/quotes", "customer="+id+"&line_items[0][price]="+monthly["id"].(string)+"&line_items[0][quantity]=3&line_items[1][price]="+once["id"].(string)+"&description=Deal&metadata[opp]=006x&subscription_data[effective_date]=current_period_end&expand[]=line_items")
	qid := q["id"].(string)
	c.ok("POST", "/v1/quotes/"+qid, "description=Deal+v2&expand[0]=customer")
	c.ok("GET", "/v1/quotes/"+qid+"/line_items", "expand[]=data.price.product")
	c.ok("GET", "/v1/quotes/"+qid, "expand[]=customer&expand[]=line_items.data.price.product")
	c.ok("POST", "/v1/quotes/"+qid+"/finalize", "")
	c.ok("POST", "/v1/quotes/"+qid+"/accept", "")
	q2 := c.ok("POST", "/v1/quotes", "customer="+id+"&line_items[0][price]="+once["id"].(string))
	c.ok("POST", "/v1/quotes/"+q2["id"].(string)+"/cancel", "")
	c.ok("GET", "/v1/quotes", "status=accepted&customer="+id)

	// Errors must match the spec's error schema too.
	for _, e := range []struct{ method, path, form string }{
		{"GET", "/v1/customers/cus_missing", ""},
		{"POST", "/v1/customers/" + id + "/balance_transactions/" + txn["id"].(string), "amount=5"},
		{"POST", "/v1/quotes/" + qid, "description=late"},
		{"POST", "/v1/customers", "currency=usd"},
	} {
		if r := c.do(e.method, e.path, e.form, invalidOnPurpose, "1"); r.status < 400 {
			t.Errorf("%s %s %s: %d, want an error", e.method, e.path, e.form, r.status)
		}
	}

	evs := c.ok("GET", "/v1/events", "limit=100")
	c.ok("GET", "/v1/events", "types[]=customer.updated&types[]=quote.accepted&created[gt]=0")
	c.ok("GET", "/v1/events", "type=customer.*")
	first := evs["data"].([]any)[0].(map[string]any)
	c.ok("GET", "/v1/events/"+first["id"].(string), "")

	rcv.waitFor(t, len(evs["data"].([]any)))
	c.ok("DELETE", "/v1/customers/"+id, "")
	c.ok("GET", "/v1/customers/"+id, "")
	c.ok("DELETE", "/v1/webhook_endpoints/"+weID, "")
	if n := checkedCount.Load() - before; n < 40 {
		t.Fatalf("only %d exchanges validated", n)
	}
}
