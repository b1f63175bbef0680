package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
)

// deadLettersData is the dead-letter page, or the confirmation of an
// action on every dead letter (Confirm is "retry" or "discard").
type deadLettersData struct {
	List    []billsync.DeadLetter
	Confirm string
}

func (h *handler) deadLettersPage(ctx context.Context, c *adminclient.Client, r *http.Request) (string, string, any, error) {
	list, err := c.DeadLetters(ctx)
	if err != nil {
		return "", "", nil, err
	}
	d := deadLettersData{List: list}
	if a := r.URL.Query().Get("confirm"); a == "retry" || a == "discard" {
		d.Confirm = a
	}
	return "deadletters", "Dead letters", d, nil
}

func (h *handler) retryDeadLetter(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "/console/deadletters", "", err
	}
	if err := c.RetryDeadLetter(ctx, id); err != nil {
		return "/console/deadletters", "", err
	}
	return "/console/deadletters", fmt.Sprintf("Dead letter %d is queued again.", id), nil
}

func (h *handler) discardDeadLetter(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	id, err := pathID(r)
	if err != nil {
		return "/console/deadletters", "", err
	}
	if _, err := c.DiscardDeadLetters(ctx, adminclient.DeadLetterSelection{IDs: []int64{id}}); err != nil {
		return "/console/deadletters", "", err
	}
	return "/console/deadletters", fmt.Sprintf("Dead letter %d discarded; its change will not be applied.", id), nil
}

func (h *handler) retryDeadLetters(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	return h.onDeadLetters(ctx, r, "retry", c.RetryDeadLetters, "queued again")
}

func (h *handler) discardDeadLetters(ctx context.Context, c *adminclient.Client, r *http.Request, _ string) (string, string, error) {
	return h.onDeadLetters(ctx, r, "discard", c.DiscardDeadLetters, "discarded; their changes will not be applied")
}

// onDeadLetters retries or discards the checked dead letters, or every
// one. "Every one" takes two steps: the first shows how many it is and
// asks; only the confirmation's own form (all=confirmed) acts, so a
// stray click never touches hundreds.
func (h *handler) onDeadLetters(ctx context.Context, r *http.Request, action string,
	do func(context.Context, adminclient.DeadLetterSelection) ([]int64, error), done string) (string, string, error) {
	var sel adminclient.DeadLetterSelection
	switch r.PostForm.Get("all") {
	case "confirmed":
		sel.All = true
	case "ask":
		return "/console/deadletters?confirm=" + action, "", nil
	default:
		for _, v := range r.PostForm["id"] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return "/console/deadletters", "", billsync.Errorf(billsync.EINVALID, "dead letter id %q is not a number", v)
			}
			sel.IDs = append(sel.IDs, id)
		}
		if len(sel.IDs) == 0 {
			return "/console/deadletters", "", billsync.Errorf(billsync.EINVALID, "tick the dead letters to %s first", action)
		}
	}
	ids, err := do(ctx, sel)
	if err != nil {
		return "/console/deadletters", "", err
	}
	return "/console/deadletters", fmt.Sprintf("%d dead %s %s.", len(ids), plural(len(ids), "letter", "letters"), done), nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
