package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/runner"
	"github.com/billsync/billsync/salesforce/rest"
)

// changeSourceCDC is salesforce.changeSource's Change Data Capture mode.
const changeSourceCDC = "cdc"

// cdcSelectHint is how an admin selects objects for Change Data Capture.
const cdcSelectHint = "select them in Setup → Change Data Capture (or deploy a PlatformEventChannelMember on the ChangeEvents channel for each)"

// checkCDCSelection asks the Tooling API which entities are selected on
// the standard ChangeEvents channel (PlatformEventChannelMember's
// SelectedEntity): with salesforce.changeSource cdc, an unselected synced
// object publishes no change events, so its edits would never reach
// billing.
func checkCDCSelection(ctx context.Context, r *doctorRun, sf *rest.Client, m *mapping.Mapping) {
	const name = "Salesforce Change Data Capture selection"
	q := "SELECT SelectedEntity FROM PlatformEventChannelMember WHERE EventChannel = 'ChangeEvents'"
	var page struct {
		Records []struct {
			SelectedEntity string `json:"SelectedEntity"`
		} `json:"records"`
	}
	if err := sf.Do(ctx, http.MethodGet, "/tooling/query?q="+url.QueryEscape(q), nil, &page); err != nil {
		r.fail(name, fmt.Sprintf("cannot read the objects selected for Change Data Capture: %v; the integration user needs View Setup and Configuration for this check, or confirm in Setup → Change Data Capture that the synced objects are selected", err))
		return
	}
	selected := map[string]bool{}
	for _, rec := range page.Records {
		selected[strings.ToLower(rec.SelectedEntity)] = true
	}
	if m == nil {
		m = mapping.Default()
	}
	var have, missing []string
	for _, o := range m.Objects {
		ent := runner.CDCEntity(o.SObject)
		if selected[strings.ToLower(ent)] {
			have = append(have, o.SObject)
		} else {
			missing = append(missing, o.SObject)
		}
	}
	if len(missing) > 0 {
		r.fail(name, fmt.Sprintf("salesforce.changeSource is cdc but %s %s not selected for Change Data Capture, so edits there never reach billing: %s",
			strings.Join(missing, ", "), pluralVerb(len(missing)), cdcSelectHint))
		return
	}
	r.ok(name, "selected: "+strings.Join(have, ", "))
}

func pluralVerb(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
