package engine

import (
	"context"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/salesforce/soql"
)

// BulkReader is a CRM that can read a whole object in the fewest calls:
// through a Bulk API 2.0 query job when countSOQL counts more records than
// its threshold, through REST query pages otherwise (usedBulk says which).
// A resync's snapshot read uses it when the engine's CRM offers it; other
// CRMs (the in-memory fakes of unit tests) are read with Query.
type BulkReader interface {
	ReadAll(ctx context.Context, soql, countSOQL string) (recs []billsync.SObject, usedBulk bool, err error)
}

// readSnapshot reads every Salesforce record of a resync's object.
func (e *Engine) readSnapshot(ctx context.Context, om *mapping.Object) ([]billsync.SObject, error) {
	q := soql.Select(om.SalesforceFields()...).From(om.SObject).String()
	br, ok := e.cfg.CRM.(BulkReader)
	if !ok {
		rows, err := e.cfg.CRM.Query(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("querying Salesforce %s: %w", om.SObject, err)
		}
		return rows, nil
	}
	rows, usedBulk, err := br.ReadAll(ctx, q, "SELECT COUNT() FROM "+om.SObject)
	if err != nil {
		return nil, fmt.Errorf("reading Salesforce %s: %w", om.SObject, err)
	}
	if usedBulk {
		e.log.Info("resync read Salesforce through a Bulk API 2.0 query job", "object", om.SObject, "records", len(rows))
	}
	return rows, nil
}
