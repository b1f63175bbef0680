package bulk

import (
	"context"

	"github.com/billsync/billsync"
)

// CRM is a CRM that also reads whole objects through Bulk query jobs when
// they are large (it offers ReadAll, which the engine's resync looks
// for). Every other call goes to the CRM it wraps, unchanged.
type CRM struct {
	billsync.CRM
	bulk *Client
}

// NewCRM wraps crm (the REST client, or a batcher over it) so that
// whole-object reads go through c.
func NewCRM(crm billsync.CRM, c *Client) *CRM { return &CRM{CRM: crm, bulk: c} }

// ReadAll reads every record soql selects; see Client.ReadAll.
func (m *CRM) ReadAll(ctx context.Context, soql, countSOQL string) ([]billsync.SObject, bool, error) {
	return m.bulk.ReadAll(ctx, soql, countSOQL)
}
