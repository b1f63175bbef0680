package stripe

import (
	"context"
	"testing"

	stripego "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
)

// TestStripeGo drives the emulator with the official Go client, unchanged
// but for its backend URL, and verifies a delivered event with
// webhook.ConstructEvent.
func TestStripeGo(t *testing.T) {
	rcv := newReceiver(t)
	_, c := serve(t, Options{}, nil)
	url := c.base
	sc := stripego.NewClient(testKey, stripego.WithBackends(stripego.NewBackendsWithConfig(&stripego.BackendConfig{URL: &url, MaxNetworkRetries: stripego.Int64(0)})))
	ctx := context.Background()

	we, err := sc.V1WebhookEndpoints.Create(ctx, &stripego.WebhookEndpointCreateParams{
		URL: stripego.String(rcv.srv.URL), EnabledEvents: []*string{stripego.String("customer.created"), stripego.String("customer.updated")},
		APIVersion: stripego.String(stripego.APIVersion),
	})
	if err != nil {
		t.Fatal(err)
	}
	cus, err := sc.V1Customers.Create(ctx, &stripego.CustomerCreateParams{Name: stripego.String("Acme"), Email: stripego.String("a@acme.test"),
		Metadata: map[string]string{"billsync_code": "ACME"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.V1Customers.Update(ctx, cus.ID, &stripego.CustomerUpdateParams{Name: stripego.String("Acme SA")}); err != nil {
		t.Fatal(err)
	}
	txn, err := sc.V1CustomerBalanceTransactions.Create(ctx, &stripego.CustomerBalanceTransactionCreateParams{
		Customer: stripego.String(cus.ID), Amount: stripego.Int64(-2500), Currency: stripego.String("usd")})
	if err != nil {
		t.Fatal(err)
	}
	if txn.EndingBalance != -2500 || txn.Type != stripego.CustomerBalanceTransactionTypeAdjustment {
		t.Errorf("transaction %+v", txn)
	}
	got, err := sc.V1Customers.Retrieve(ctx, cus.ID, &stripego.CustomerRetrieveParams{Params: stripego.Params{Expand: []*string{stripego.String("invoice_credit_balance")}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Balance != -2500 || got.Currency != "usd" || got.InvoiceCreditBalance["usd"] != 2500 || got.Name != "Acme SA" {
		t.Errorf("customer %+v", got)
	}
	for i := range 12 {
		if _, err := sc.V1Customers.Create(ctx, &stripego.CustomerCreateParams{Name: stripego.String("n"), Description: stripego.String(string(rune('a' + i)))}); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, err := range sc.V1Customers.List(ctx, &stripego.CustomerListParams{ListParams: stripego.ListParams{Limit: stripego.Int64(5)}}).All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 13 {
		t.Errorf("auto-paging listed %d customers, want 13", n)
	}

	prod, err := sc.V1Products.Create(ctx, &stripego.ProductCreateParams{Name: stripego.String("Seat")})
	if err != nil {
		t.Fatal(err)
	}
	price, err := sc.V1Prices.Create(ctx, &stripego.PriceCreateParams{Currency: stripego.String("usd"), Product: stripego.String(prod.ID),
		UnitAmountDecimal: stripego.Float64(1234.5), Recurring: &stripego.PriceCreateRecurringParams{Interval: stripego.String("month")}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sc.V1Quotes.Create(ctx, &stripego.QuoteCreateParams{Customer: stripego.String(cus.ID),
		LineItems: []*stripego.QuoteCreateLineItemParams{{Price: stripego.String(price.ID), Quantity: stripego.Int64(3)}}})
	if err != nil {
		t.Fatal(err)
	}
	if q.AmountTotal != 3704 { // 1234.5 × 3 = 3703.5, rounded
		t.Errorf("quote amount_total %d, want 3704", q.AmountTotal)
	}
	if q, err = sc.V1Quotes.FinalizeQuote(ctx, q.ID, nil); err != nil || q.Status != stripego.QuoteStatusOpen || q.Number == "" {
		t.Fatalf("finalize: %v %+v", err, q)
	}
	if q, err = sc.V1Quotes.Accept(ctx, q.ID, nil); err != nil || q.Status != stripego.QuoteStatusAccepted {
		t.Fatalf("accept: %v %+v", err, q)
	}
	items := sc.V1Quotes.ListLineItems(ctx, &stripego.QuoteListLineItemsParams{Quote: stripego.String(q.ID),
		ListParams: stripego.ListParams{Expand: []*string{stripego.String("data.price.product")}}})
	for it, err := range items.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Price.Product == nil || it.Price.Product.Name != "Seat" || it.AmountTotal != 3704 {
			t.Errorf("line item %+v", it)
		}
	}

	// created, updated (name), updated (balance)
	bodies := rcv.waitFor(t, 3)
	secret := we.Secret
	rcv.mu.Lock()
	sigs := append([]string(nil), rcv.sigs...)
	rcv.mu.Unlock()
	balanceSeen := false
	for i, b := range bodies {
		ev, err := webhook.ConstructEvent(b, sigs[i], secret)
		if err != nil {
			t.Fatalf("ConstructEvent: %v\n%s", err, b)
		}
		if _, ok := ev.Data.PreviousAttributes["balance"]; ok && ev.Type == "customer.updated" {
			balanceSeen = true
		}
	}
	if !balanceSeen {
		t.Errorf("no customer.updated with balance in previous_attributes among %d events", len(bodies))
	}
}
