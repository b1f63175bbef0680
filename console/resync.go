package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
)

// resyncData is the resync page: the form to start one and, once one is
// named, its report.
type resyncData struct {
	Report *billsync.ResyncReport
}

// RefreshSeconds reloads the page while the resync runs.
func (d resyncData) RefreshSeconds() int {
	if d.Report != nil && d.Report.State == "running" {
		return 2
	}
	return 0
}

// Progress is the share compared so far, as text.
func (d resyncData) Progress() string {
	r := d.Report
	if r == nil || r.Total == 0 {
		return "listing both sides"
	}
	return fmt.Sprintf("%d of %d records compared (%d %%)", r.Compared, r.Total, 100*r.Compared/r.Total)
}

// mappingPage shows the mapping in force, in the mapping file's format.
func (h *handler) mappingPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	m, err := c.Mapping(ctx)
	if err != nil {
		return "", "", nil, err
	}
	return "mapping", "Mapping", m, nil
}

func (h *handler) resyncForm(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	return "resync", "Resync", resyncData{}, nil
}

func (h *handler) resyncPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	rep, err := c.Resync(ctx, r.PathValue("id"))
	if err != nil {
		return "", "", nil, err
	}
	return "resync", "Resync " + rep.ID, resyncData{Report: rep}, nil
}

// startResync starts a resync as the form says; the dry run is the
// form's default, so a click without reading changes nothing.
func (h *handler) startResync(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	req := billsync.ResyncRequest{
		Object:  billsync.ObjectType(r.PostForm.Get("object")),
		Record:  strings.TrimSpace(r.PostForm.Get("record")),
		DryRun:  r.PostForm.Get("dryRun") != "",
		Initial: r.PostForm.Get("initial") != "",
	}
	rep, err := c.StartResync(ctx, req)
	if err != nil {
		return "/console/resync", "", err
	}
	what := "A resync"
	if req.DryRun {
		what = "A dry-run resync (it changes nothing)"
	}
	return "/console/resync/" + url.PathEscape(rep.ID), what + " started.", nil
}
