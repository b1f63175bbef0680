package httpserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// buryN puts n changes, each in a partition of its own, in the dead
// letters and returns their ids.
func (h *harness) buryN(n int) []int64 {
	h.t.Helper()
	ctx := context.Background()
	var ids []int64
	for range n {
		h.seq++
		c := &billsync.Change{Partition: fmt.Sprintf("account:acc_%d", h.seq), Object: billsync.ObjectAccount,
			RecordID: fmt.Sprintf("acc_%d", h.seq), EventID: fmt.Sprintf("webhook:m%d", h.seq)}
		if _, err := h.store.Enqueue(ctx, c); err != nil {
			h.t.Fatal(err)
		}
		claimed, err := h.store.Claim(ctx, 1, time.Minute)
		if err != nil || len(claimed) != 1 || claimed[0].ID != c.ID {
			h.t.Fatalf("claim %v %v", claimed, err)
		}
		if err := h.store.Bury(ctx, c.ID, "REQUIRED_FIELD_MISSING", "Name is required"); err != nil {
			h.t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

func (h *harness) deadIDs() []int64 {
	h.t.Helper()
	dls, err := h.store.DeadLetters(context.Background(), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []int64
	for _, d := range dls {
		ids = append(ids, d.ID)
	}
	return ids
}

type selectionAnswer struct {
	Retried   []int64
	Discarded []int64
}

func TestDeadLettersListAndRetryOne(t *testing.T) {
	h := newHarness(t)
	ids := h.buryN(3)
	var list struct{ DeadLetters []billsync.DeadLetter }
	h.do("GET", "/api/v1/deadletters", readToken, nil, nil).json(t, &list)
	if len(list.DeadLetters) != 3 || list.DeadLetters[0].ErrorCode != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("list: %+v", list.DeadLetters)
	}

	path := fmt.Sprintf("/api/v1/deadletters/%d/retry", ids[1])
	res := h.do("POST", path, opsToken, nil, nil)
	if res.status != 200 {
		t.Fatalf("retry: %d %s", res.status, res.body)
	}
	if q := h.store.Queued(); len(q) != 1 || q[0].Attempt != 0 {
		t.Errorf("after retry the queue holds %+v", q)
	}
	if h.enqueued.Load() != 1 {
		t.Error("retry did not wake the workers")
	}
	if res := h.do("POST", path, opsToken, nil, nil); res.status != 404 {
		t.Errorf("retry of a gone dead letter: %d", res.status)
	}
	if res := h.do("POST", "/api/v1/deadletters/x/retry", opsToken, nil, nil); res.status != 400 {
		t.Errorf("retry of a bad id: %d", res.status)
	}
}

// A body that does not say what to take is refused, never taken to mean
// every dead letter.
func TestDeadLetterSelectionMustBeExplicit(t *testing.T) {
	h := newHarness(t)
	h.buryN(2)
	for _, action := range []string{"retry", "discard"} {
		for name, body := range map[string]string{
			"no body":       ``,
			"empty object":  `{}`,
			"all false":     `{"all": false}`,
			"empty list":    `{"ids": []}`,
			"both":          `{"all": true, "ids": [1]}`,
			"unknown field": `{"id": 1}`,
			"not a number":  `{"ids": ["1"]}`,
			"zero":          `{"ids": [0]}`,
			"too many":      `{"ids": [` + strings.Repeat("1,", maxSelectedIDs) + `1]}`,
		} {
			res := h.do("POST", "/api/v1/deadletters/"+action, opsToken, []byte(body), nil)
			if res.status != http.StatusBadRequest || res.errorOf(t).Code != billsync.EINVALID {
				t.Errorf("%s, %s: %d %s", action, name, res.status, res.body)
			}
		}
	}
	if got := h.deadIDs(); len(got) != 2 || len(h.store.Queued()) != 0 {
		t.Errorf("a refused request moved something: dead %v, queued %d", got, len(h.store.Queued()))
	}
}

func TestDeadLettersByIDAllOrNone(t *testing.T) {
	h := newHarness(t)
	ids := h.buryN(4)

	// An unknown id is a 404 naming it, and nothing is taken.
	for _, action := range []string{"retry", "discard"} {
		body := fmt.Sprintf(`{"ids": [%d, 9999, %d]}`, ids[0], ids[1])
		res := h.do("POST", "/api/v1/deadletters/"+action, opsToken, []byte(body), nil)
		if e := res.errorOf(t); res.status != 404 || e.Code != billsync.ENOTFOUND || !strings.Contains(e.Message, "9999") {
			t.Errorf("%s with an unknown id: %d %s", action, res.status, res.body)
		}
	}
	if got := h.deadIDs(); len(got) != 4 || len(h.store.Queued()) != 0 || h.enqueued.Load() != 0 {
		t.Fatalf("after refused requests: dead %v, queued %d, woken %d", got, len(h.store.Queued()), h.enqueued.Load())
	}

	// Exactly the ids named, and the answer lists them.
	var ans selectionAnswer
	res := h.do("POST", "/api/v1/deadletters/retry", opsToken, fmt.Appendf(nil, `{"ids": [%d, %d, %d]}`, ids[1], ids[0], ids[1]), nil)
	res.json(t, &ans)
	if res.status != 200 || !slices.Equal(ans.Retried, []int64{ids[0], ids[1]}) {
		t.Fatalf("retry two: %d %s", res.status, res.body)
	}
	if q := h.store.Queued(); len(q) != 2 || h.enqueued.Load() != 1 {
		t.Errorf("after retrying two: queued %d, woken %d", len(q), h.enqueued.Load())
	}

	res = h.do("POST", "/api/v1/deadletters/discard", opsToken, fmt.Appendf(nil, `{"ids": [%d]}`, ids[2]), nil)
	res.json(t, &ans)
	if res.status != 200 || !slices.Equal(ans.Discarded, []int64{ids[2]}) {
		t.Fatalf("discard one: %d %s", res.status, res.body)
	}
	if got := h.deadIDs(); !slices.Equal(got, []int64{ids[3]}) || len(h.store.Queued()) != 2 {
		t.Errorf("after discarding one: dead %v, queued %d", got, len(h.store.Queued()))
	}
	// The discard is in the sync log, under the token's name.
	entries, _, err := h.store.Logs(context.Background(), billsync.LogFilter{Outcome: billsync.OutcomeSkipped})
	if err != nil || len(entries) != 1 || entries[0].Reason != billsync.ReasonDiscarded ||
		!strings.Contains(entries[0].Message, "ops") || entries[0].ChangeID != ids[2] {
		t.Errorf("discard log entries %+v %v", entries, err)
	}
}

func TestDeadLettersAll(t *testing.T) {
	h := newHarness(t)
	old := h.buryN(deadLetterBatch + 20) // more than one batch
	// One dies after the request began (the store's clock is ahead): it
	// is not part of "all".
	h.store.Now = func() time.Time { return testNow.Add(time.Second) }
	late := h.buryN(1)
	h.store.Now = func() time.Time { return testNow }

	var ans selectionAnswer
	res := h.do("POST", "/api/v1/deadletters/retry", opsToken, []byte(`{"all": true}`), nil)
	res.json(t, &ans)
	if res.status != 200 || !slices.Equal(ans.Retried, old) {
		t.Fatalf("retry all: %d, %d retried, want %d", res.status, len(ans.Retried), len(old))
	}
	if got := h.deadIDs(); !slices.Equal(got, late) || len(h.store.Queued()) != len(old) {
		t.Errorf("after retry all: dead %v, queued %d", got, len(h.store.Queued()))
	}

	var st billsync.QueueStats
	h.do("GET", "/api/v1/queue", readToken, nil, nil).json(t, &st)
	if st.Pending != int64(len(old)) || st.DeadLetters != 1 {
		t.Errorf("queue stats %+v", st)
	}

	h = newHarness(t)
	dead := h.buryN(3)
	res = h.do("POST", "/api/v1/deadletters/discard", opsToken, []byte(`{"all": true}`), nil)
	res.json(t, &ans)
	if res.status != 200 || !slices.Equal(ans.Discarded, dead) {
		t.Fatalf("discard all: %d %s", res.status, res.body)
	}
	if got := h.deadIDs(); len(got) != 0 || len(h.store.Queued()) != 0 {
		t.Errorf("after discard all: dead %v, queued %d", got, len(h.store.Queued()))
	}
	// Nothing to take is not an error: the answer is an empty list.
	res = h.do("POST", "/api/v1/deadletters/retry", opsToken, []byte(`{"all": true}`), nil)
	if res.status != 200 || !strings.Contains(string(res.body), `"retried":[]`) {
		t.Errorf("retry all of none: %d %s", res.status, res.body)
	}
}
