package salesforce

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Demo sales reps: ordinary users (no BillsyncIntegration permission set),
// so their writes are the org's own.
const (
	RitaUsername = "rita@billsync.test"
	RitaPassword = "billsync-rita"
	SamUsername  = "sam@billsync.test"
	SamPassword  = "billsync-sam"
	// DemoPricebookName is the demo's custom price book.
	DemoPricebookName = "Enterprise"
)

// Demo is the demo data SeedDemo leaves in the org.
type Demo struct {
	SalesReps           []string          // User ids of Rita Rep and Sam Seller, in that order
	Accounts            map[string]string // Account Name → Id
	Products            map[string]string // ProductCode → Product2 Id
	StandardPricebookID string
	CustomPricebookID   string            // the "Enterprise" price book, active
	Entries             map[string]string // "<pricebookId>/<ProductCode>/<currency>" → PricebookEntry Id
}

// EntryKey is the key of Demo.Entries.
func EntryKey(pricebookID, productCode, currency string) string {
	return pricebookID + "/" + productCode + "/" + currency
}

type demoProduct struct {
	code, name string
	// list prices: standard and Enterprise book, per currency
	std, custom map[string]string
}

var demoProducts = []demoProduct{
	{"PLAT-SUB", "Platform subscription", map[string]string{"USD": "1200", "EUR": "1100"}, map[string]string{"USD": "1000", "EUR": "920"}},
	{"SUPPORT", "Premium support", map[string]string{"USD": "300", "EUR": "275"}, map[string]string{"USD": "250", "EUR": "230"}},
	{"API-USAGE", "API usage", map[string]string{"USD": "0.05", "EUR": "0.04"}, map[string]string{"USD": "0.04", "EUR": "0.03"}},
	{"ONBOARD", "Onboarding", map[string]string{"USD": "2500", "EUR": "2300"}, map[string]string{"USD": "2000", "EUR": "1850"}},
	{"RENEWAL-PLACEHOLDER", "Renewal placeholder", map[string]string{"USD": "0", "EUR": "0"}, map[string]string{"USD": "0", "EUR": "0"}},
}

var demoAccounts = []struct{ name, owner string }{
	{"Acme Corporation", RitaUsername}, {"Globex", SamUsername}, {"Initech", RitaUsername},
}

// SeedDemo fills the org with a small sales catalogue for the sandbox and
// tests: two sales reps, three accounts, five active products priced in the
// standard and an "Enterprise" price book, in USD and (in a multi-currency
// org) EUR. It is idempotent: records found by their natural keys (account
// name, product code, book name, book/product/currency) are reused, so a
// second call returns the same ids.
func (e *Emulator) SeedDemo() (*Demo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.seedLocked([]User{
		{Username: RitaUsername, Password: RitaPassword, Name: "Rita Rep", Email: RitaUsername},
		{Username: SamUsername, Password: SamPassword, Name: "Sam Seller", Email: SamUsername},
	})
	if err != nil {
		return nil, fmt.Errorf("salesforce emulator: seed demo users: %w", err)
	}
	rita, sam := e.users[RitaUsername], e.users[SamUsername]
	d := &Demo{SalesReps: []string{rita.ID, sam.ID}, Accounts: map[string]string{}, Products: map[string]string{}, Entries: map[string]string{}}
	t := e.beginLocked(rita)
	if err := e.seedDemoLocked(t, d); err != nil {
		t.rollback()
		return nil, fmt.Errorf("salesforce emulator: seed demo: %w", err)
	}
	t.commit()
	return d, nil
}

func (e *Emulator) seedDemoLocked(t *tx, d *Demo) error {
	find := func(object, field, value string, extra func(*record) bool) *record {
		for _, r := range e.sortedLocked(object, false) {
			if str(r.Fields[field]) == value && (extra == nil || extra(r)) {
				return r
			}
		}
		return nil
	}
	create := func(object string, body map[string]any) (string, error) {
		id, aerr := t.insert(e.schema.object(object), body)
		if aerr != nil {
			return "", fmt.Errorf("%s %v: %w", object, body["Name"], aerr)
		}
		return id, nil
	}
	for _, a := range demoAccounts {
		if r := find("Account", "Name", a.name, nil); r != nil {
			d.Accounts[a.name] = r.ID
			continue
		}
		id, err := create("Account", map[string]any{"Name": a.name, "OwnerId": e.users[a.owner].ID, "Type": "Customer - Direct"})
		if err != nil {
			return err
		}
		d.Accounts[a.name] = id
	}
	for _, p := range demoProducts {
		if r := find("Product2", "ProductCode", p.code, nil); r != nil {
			d.Products[p.code] = r.ID
			continue
		}
		id, err := create("Product2", map[string]any{"Name": p.name, "ProductCode": p.code, "IsActive": true})
		if err != nil {
			return err
		}
		d.Products[p.code] = id
	}
	std := e.standardPricebookLocked()
	if std == nil {
		return fmt.Errorf("the org has no standard price book")
	}
	d.StandardPricebookID = std.ID
	if r := find("Pricebook2", "Name", DemoPricebookName, func(r *record) bool { return r.Fields["IsStandard"] != true }); r != nil {
		d.CustomPricebookID = r.ID
	} else {
		id, err := create("Pricebook2", map[string]any{"Name": DemoPricebookName, "IsActive": true, "Description": "Negotiated prices for enterprise customers"})
		if err != nil {
			return err
		}
		d.CustomPricebookID = id
	}
	currencies := []string{CorporateCurrency}
	if e.opts.MultiCurrency {
		currencies = append(currencies, "EUR")
	}
	for _, p := range demoProducts {
		for _, cur := range currencies {
			// The standard entry first: a custom book's entry needs it.
			for _, book := range []struct {
				id     string
				prices map[string]string
			}{{d.StandardPricebookID, p.std}, {d.CustomPricebookID, p.custom}} {
				key := ""
				if e.opts.MultiCurrency {
					key = cur
				}
				if r := e.entryLocked(book.id, d.Products[p.code], key); r != nil {
					d.Entries[EntryKey(book.id, p.code, cur)] = r.ID
					continue
				}
				body := map[string]any{"Pricebook2Id": book.id, "Product2Id": d.Products[p.code],
					"UnitPrice": json.Number(book.prices[cur]), "IsActive": true}
				if e.opts.MultiCurrency {
					body["CurrencyIsoCode"] = cur
				}
				id, err := create("PricebookEntry", body)
				if err != nil {
					return fmt.Errorf("%s in %s: %w", p.code, strings.ToLower(cur), err)
				}
				d.Entries[EntryKey(book.id, p.code, cur)] = id
			}
		}
	}
	return nil
}
