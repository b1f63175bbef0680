package monetizenow

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// clone deep-copies a record through its JSON form, numbers exact, so
// what is answered or journaled never shares maps with the live state.
func clone[T any](v *T) *T {
	b, _ := json.Marshal(v)
	var out T
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&out)
	return &out
}

// assignIDs gives every offering and item without an id a new one.
func assignIDs(q *Quote) *apiError {
	seen := map[string]bool{}
	for i := range q.QuoteOfferings {
		o := &q.QuoteOfferings[i]
		if o.ID == "" {
			o.ID = newID("quoff_")
		}
		if o.Items == nil {
			o.Items = []QuoteItem{}
		}
		for j := range o.Items {
			it := &o.Items[j]
			if it.ID == "" {
				it.ID = newID("qtitm_")
			}
			if seen[it.ID] {
				return badRequest("quote item id %s appears twice", it.ID)
			}
			seen[it.ID] = true
		}
	}
	return nil
}

// CreateQuote creates a quote as a user in MonetizeNow would: a DRAFT.
func (e *Emulator) CreateQuote(q Quote) (*Quote, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out, ae := e.createQuoteLocked(&q)
	if ae != nil {
		return nil, ae
	}
	return out, nil
}

func (e *Emulator) createQuoteLocked(q *Quote) (*Quote, *apiError) {
	defer e.saveLocked()
	q = clone(q)
	if q.ID == "" {
		q.ID = newID("quote_")
	} else if e.quotes[q.ID] != nil {
		return nil, &apiError{status: http.StatusConflict, message: "Quote " + q.ID + " already exists"}
	}
	q.Status = "DRAFT"
	if q.Type == "" {
		q.Type = "NEW"
	}
	acc := e.accounts[q.AccountID]
	if acc == nil {
		return nil, notFound("Account", q.AccountID)
	}
	q.AccountName = acc.AccountName
	if q.Currency == "" {
		q.Currency = acc.DefaultCurrency
	}
	if ae := assignIDs(q); ae != nil {
		return nil, ae
	}
	if q.QuoteOfferings == nil {
		q.QuoteOfferings = []QuoteOffering{}
	}
	if errs := checkQuote(q); len(errs) > 0 {
		return nil, invalid(errs)
	}
	now := e.now()
	q.CreatedBy, q.CreateDate, q.LastModifiedBy, q.ModifyDate = userID, now, userID, now
	if q.Owner == "" {
		q.Owner = userID
	}
	e.putQuoteLocked(q)
	e.eventLocked("quote.created", q)
	return clone(q), nil
}

func (e *Emulator) createQuote(_ *http.Request, body []byte) (int, any, *apiError) {
	var q Quote
	if ae := decodeBody(body, &q); ae != nil {
		return 0, nil, ae
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out, ae := e.createQuoteLocked(&q)
	return http.StatusCreated, out, ae
}

// Quote is the quote as MonetizeNow holds it now; nil when there is none.
func (e *Emulator) Quote(id string) *Quote {
	e.mu.Lock()
	defer e.mu.Unlock()
	if q := e.quotes[id]; q != nil {
		return clone(q)
	}
	return nil
}

func (e *Emulator) getQuote(r *http.Request, _ []byte) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.quotes[r.PathValue("quoteId")]
	if q == nil {
		return 0, nil, notFound("Quote", r.PathValue("quoteId"))
	}
	return http.StatusOK, clone(q), nil
}

func (e *Emulator) listQuotes(r *http.Request, _ []byte) (int, any, *apiError) {
	return e.listQuotesOf(r, "")
}

// listQuotesOf lists the quotes, of account acc when it is not "".
func (e *Emulator) listQuotesOf(r *http.Request, acc string) (int, any, *apiError) {
	n, size, ae := pageParams(r)
	if ae != nil {
		return 0, nil, ae
	}
	qv := r.URL.Query()
	e.mu.Lock()
	defer e.mu.Unlock()
	if acc != "" && e.accounts[acc] == nil {
		return 0, nil, notFound("Account", acc)
	}
	var all []*Quote
	for _, id := range e.quoteOrder {
		q := e.quotes[id]
		switch {
		case acc != "" && q.AccountID != acc:
		case qv.Get("status") != "" && q.Status != qv.Get("status"):
		case qv.Get("type") != "" && q.Type != qv.Get("type"):
		case qv.Get("contractId") != "" && q.ContractID != qv.Get("contractId"):
		default:
			all = append(all, clone(q))
		}
	}
	return http.StatusOK, pageOf(all, n, size), nil
}

// UpdateQuote changes a DRAFT quote with f, as a user editing it in
// MonetizeNow would; the id, status, type and account stay.
func (e *Emulator) UpdateQuote(id string, f func(*Quote)) (*Quote, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.quotes[id]
	if cur == nil {
		return nil, notFound("Quote", id)
	}
	next := clone(cur)
	f(next)
	out, ae := e.replaceQuoteLocked(cur, next, "quote.updated")
	if ae != nil {
		return nil, ae
	}
	return out, nil
}

// replaceQuoteLocked stores next in place of cur (a draft), keeping what
// an edit cannot change.
func (e *Emulator) replaceQuoteLocked(cur, next *Quote, event string) (*Quote, *apiError) {
	defer e.saveLocked()
	if cur.Status != "DRAFT" {
		return nil, badRequest("Quote %s is %s; only a DRAFT quote can be edited", cur.ID, cur.Status)
	}
	next.ID, next.Status, next.Type, next.AccountID, next.AccountName = cur.ID, cur.Status, cur.Type, cur.AccountID, cur.AccountName
	next.CreatedBy, next.CreateDate, next.Owner = cur.CreatedBy, cur.CreateDate, cur.Owner
	if next.QuoteOfferings == nil {
		next.QuoteOfferings = []QuoteOffering{}
	}
	if ae := assignIDs(next); ae != nil {
		return nil, ae
	}
	if errs := checkQuote(next); len(errs) > 0 {
		return nil, invalid(errs)
	}
	next.LastModifiedBy, next.ModifyDate = userID, e.now()
	e.putQuoteLocked(next)
	e.eventLocked(event, next)
	if event != "quote.updated" {
		e.eventLocked("quote.updated", next)
	}
	return clone(next), nil
}

func (e *Emulator) putQuote(r *http.Request, body []byte) (int, any, *apiError) {
	var in Quote
	if ae := decodeBody(body, &in); ae != nil {
		return 0, nil, ae
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.quotes[r.PathValue("quoteId")]
	if cur == nil {
		return 0, nil, notFound("Quote", r.PathValue("quoteId"))
	}
	next := clone(cur)
	// What a PUT may change; offerings only when it names them.
	next.Description, next.Currency, next.ExpirationDate = in.Description, in.Currency, in.ExpirationDate
	next.ContractStartDate, next.ContractEndDate = in.ContractStartDate, in.ContractEndDate
	next.ContractRenewalTerms, next.Opportunity, next.CustomFields, next.CustomID = in.ContractRenewalTerms, in.Opportunity, in.CustomFields, in.CustomID
	if next.Currency == "" {
		next.Currency = cur.Currency
	}
	if in.QuoteOfferings != nil {
		next.QuoteOfferings = in.QuoteOfferings
	}
	out, ae := e.replaceQuoteLocked(cur, next, "quote.updated")
	return http.StatusOK, out, ae
}

func (e *Emulator) putOffering(r *http.Request, body []byte) (int, any, *apiError) {
	var in QuoteOffering
	if ae := decodeBody(body, &in); ae != nil {
		return 0, nil, ae
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.quotes[r.PathValue("quoteId")]
	if cur == nil {
		return 0, nil, notFound("Quote", r.PathValue("quoteId"))
	}
	next := clone(cur)
	i := slices.IndexFunc(next.QuoteOfferings, func(o QuoteOffering) bool { return o.ID == r.PathValue("quoteOfferingId") })
	if i < 0 {
		return 0, nil, notFound("QuoteOffering", r.PathValue("quoteOfferingId"))
	}
	in.ID = next.QuoteOfferings[i].ID
	if in.Items == nil {
		in.Items = next.QuoteOfferings[i].Items
	}
	next.QuoteOfferings[i] = in
	out, ae := e.replaceQuoteLocked(cur, next, "quote.offering.updated")
	if ae != nil {
		return 0, nil, ae
	}
	return http.StatusOK, out.QuoteOfferings[i], nil
}

func (e *Emulator) deleteQuote(r *http.Request, _ []byte) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.saveLocked()
	id := r.PathValue("quoteId")
	q := e.quotes[id]
	if q == nil {
		return 0, nil, notFound("Quote", id)
	}
	if q.Status != "DRAFT" {
		return 0, nil, badRequest("Quote %s is %s; only a DRAFT quote can be deleted", id, q.Status)
	}
	e.removeQuoteLocked(id)
	return http.StatusOK, map[string]any{"status": http.StatusOK, "message": "Quote deleted"}, nil
}

// transitions: for each step, the statuses it starts from. There are no
// approval rules, so a quote in REVIEW may be sent (see the package
// comment).
var transitions = map[string][]string{
	"review":  {"DRAFT"},
	"send":    {"DRAFT", "REVIEW", "APPROVED"},
	"accept":  {"SENT"},
	"retract": {"REVIEW", "APPROVED", "SENT"},
}

func (e *Emulator) transition(step string) func(*http.Request, []byte) (int, any, *apiError) {
	return func(r *http.Request, body []byte) (int, any, *apiError) {
		to := map[string]string{"review": "REVIEW", "send": "SENT", "retract": "DRAFT"}[step]
		if step == "accept" {
			var in struct {
				Mode string `json:"mode"`
			}
			if len(bytes.TrimSpace(body)) > 0 {
				if ae := decodeBody(body, &in); ae != nil {
					return 0, nil, ae
				}
			}
			switch in.Mode {
			case "", "PROCESS_AUTOMATICALLY":
				to = "PROCESSED"
			case "PAUSE_AT_ACCEPTED":
				to = "ACCEPTED"
			default:
				return 0, nil, badRequest("mode must be PROCESS_AUTOMATICALLY or PAUSE_AT_ACCEPTED")
			}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		q := e.quotes[r.PathValue("quoteId")]
		if q == nil {
			return 0, nil, notFound("Quote", r.PathValue("quoteId"))
		}
		if !slices.Contains(transitions[step], q.Status) {
			return 0, nil, badRequest("Quote %s is %s; %s needs %s", q.ID, q.Status, step, strings.Join(transitions[step], " or "))
		}
		return http.StatusOK, e.setStatusLocked(q, to), nil
	}
}

// SetStatus sets a quote's status as MonetizeNow's UI or its own jobs
// would (approval, denial, cancellation, expiry), with its events.
func (e *Emulator) SetStatus(id, status string) (*Quote, error) {
	if !slices.Contains(quoteStatuses, status) {
		return nil, badRequest("status must be one of %s", strings.Join(quoteStatuses, ", "))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.quotes[id]
	if q == nil {
		return nil, notFound("Quote", id)
	}
	return e.setStatusLocked(q, status), nil
}

func (e *Emulator) setStatusLocked(cur *Quote, status string) *Quote {
	defer e.saveLocked()
	q := clone(cur)
	now := e.now()
	q.Status, q.LastModifiedBy, q.ModifyDate = status, userID, now
	switch status {
	case "SENT":
		q.SentDate = now
	case "ACCEPTED", "ACCEPTED_ADMIN_EDITABLE":
		q.AcceptedAt = now
	case "PROCESSED":
		if q.AcceptedAt == "" {
			q.AcceptedAt = now
		}
		q.ProcessedAt = now
		if q.ContractID == "" {
			q.ContractID = newID("ctrct_")
		}
	case "CANCELED":
		if q.CancellationReason == "" {
			q.CancellationReason = "BY_USER"
		}
	}
	e.putQuoteLocked(q)
	e.eventLocked("quote.updated", q)
	switch status {
	case "ACCEPTED", "ACCEPTED_ADMIN_EDITABLE":
		e.eventLocked("quote.accepted", q)
	case "PROCESSED":
		e.eventLocked("quote.accepted", q)
		e.eventLocked("quote.processed", q)
	case "CANCELED":
		e.eventLocked("quote.cancelled", q)
	}
	return clone(q)
}

// CreateAccount creates an account.
func (e *Emulator) CreateAccount(a Account) (*Account, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out, ae := e.createAccountLocked(&a)
	if ae != nil {
		return nil, ae
	}
	return out, nil
}

func (e *Emulator) createAccountLocked(a *Account) (*Account, *apiError) {
	defer e.saveLocked()
	a = clone(a)
	a.ID = newID("acct_")
	if errs := checkAccount(a); len(errs) > 0 {
		return nil, invalid(errs)
	}
	if a.CustomID != "" {
		for _, o := range e.accounts {
			if o.CustomID == a.CustomID {
				return nil, &apiError{status: http.StatusConflict, message: "Custom Id already exists"}
			}
		}
	}
	now := e.now()
	a.CreatedBy, a.CreateDate, a.LastModifiedBy, a.ModifyDate = userID, now, userID, now
	e.putAccountLocked(a)
	e.eventLocked("account.created", a)
	return clone(a), nil
}

func (e *Emulator) createAccount(_ *http.Request, body []byte) (int, any, *apiError) {
	var a Account
	if ae := decodeBody(body, &a); ae != nil {
		return 0, nil, ae
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out, ae := e.createAccountLocked(&a)
	return http.StatusCreated, out, ae
}

func (e *Emulator) getAccount(r *http.Request, _ []byte) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.accounts[r.PathValue("accountId")]
	if a == nil {
		return 0, nil, notFound("Account", r.PathValue("accountId"))
	}
	return http.StatusOK, clone(a), nil
}

func (e *Emulator) getAccountByCustomID(customID string) (int, any, *apiError) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range e.accountOrder {
		if a := e.accounts[id]; a.CustomID == customID {
			return http.StatusOK, clone(a), nil
		}
	}
	return 0, nil, notFound("Account", customID)
}

func (e *Emulator) listAccounts(r *http.Request, _ []byte) (int, any, *apiError) {
	n, size, ae := pageParams(r)
	if ae != nil {
		return 0, nil, ae
	}
	qv := r.URL.Query()
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []*Account
	for _, id := range e.accountOrder {
		a := e.accounts[id]
		if (qv.Get("customId") == "" || a.CustomID == qv.Get("customId")) && (qv.Get("accountName") == "" || a.AccountName == qv.Get("accountName")) {
			all = append(all, clone(a))
		}
	}
	return http.StatusOK, pageOf(all, n, size), nil
}

// Accounts are the accounts, oldest first.
func (e *Emulator) Accounts() []*Account {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Account, 0, len(e.accountOrder))
	for _, id := range e.accountOrder {
		out = append(out, clone(e.accounts[id]))
	}
	return out
}
