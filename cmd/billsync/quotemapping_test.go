package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
)

// quoteLine creates, for a linked account, a quote of one
// line whose item carries cf, and waits for that line in Salesforce to
// satisfy cond.
func (h *harness) quoteLine(cf map[string]any, cond func(billsync.SObject) (bool, string)) billsync.SObject {
	h.t.Helper()
	acc := h.linkAccount("Acme Corporation")
	offerings := qOfferings(qline{"map-l1", "PLAT-SUB", "SUBSCRIPTION", "2", "920.00", ""})
	offerings[0].(map[string]any)["items"].([]any)[0].(map[string]any)["customFields"] = cf
	q := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": acc, "description": "Mapped lines", "status": "DRAFT",
		"type": "NEW", "currency": "USD", "offerings": offerings})
	var line billsync.SObject
	h.sfQuote(q.ID(), func(r billsync.SObject) (bool, string) {
		line = h.children("QuoteLineItem", "QuoteId", r.ID())["map-l1"]
		if line == nil {
			return false, "no line yet"
		}
		return cond(line)
	})
	return line
}

// E8 on quote lines, end to end with the built-in mapping: an item's
// customFields.Region reaches the org's own QuoteLineItem.Region__c.
func TestQuoteLineCustomFieldDefaultMapping(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	h.quoteLine(map[string]any{"Region": "EMEA"}, func(l billsync.SObject) (bool, string) {
		return l.Str("Region__c") == "EMEA", fmt.Sprintf("Region__c %q", l.Str("Region__c"))
	})
}

// The same through a mapping file (the `mapping` setting): the file maps
// the item's customFields.territory to Region__c, and its line list
// replaces the built-in one (no offering fields are written).
func TestQuoteLineCustomFieldFromMappingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(path, []byte(`quotes:
  line:
    - {billing: quantity, salesforce: Quantity, kind: number, scale: 2}
    - {billing: unitPrice, salesforce: UnitPrice, kind: money, scale: 2}
    - {billing: customFields.territory, salesforce: Region__c, kind: string}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHarness(t, sandbox.Options{StartApp: func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
		cfg := sandboxConfig(ac)
		cfg.Mapping = path
		app, err := StartApp(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		return app, nil
	}})
	line := h.quoteLine(map[string]any{"territory": "Nordics", "Region": "not this"}, func(l billsync.SObject) (bool, string) {
		return l.Str("Region__c") == "Nordics", fmt.Sprintf("Region__c %q", l.Str("Region__c"))
	})
	if got := line.Str("BillingOfferingName__c"); got != "" {
		t.Errorf("BillingOfferingName__c %q: the file's line list should replace the built-in one", got)
	}
}
