package bench

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/mapping"
)

// sfObserver follows which billing writes Salesforce holds, for the
// realistic workload and its per-record comparison alike.
//
// Why a write journal and not polling or LastModifiedDate: a record is
// written several times within a second, and a sync may coalesce its
// intermediate states, so the last-modified time of a record says nothing
// about its earlier writes, and polling every record of the org often
// enough to see them would cost the emulator more CPU than billsync. The
// emulator's before-write hook sees every write request, after any
// injected latency and immediately before it is applied, with its field
// values. The observer merges them into a view of each record and, when
// the view holds a client write's mapped values (or a later write's: a
// sync promises the newest state, so a state overtaken before it reached
// Salesforce counts as delivered when its successor lands), stamps that
// write landed. The view is checked against the records Salesforce
// actually holds at the end (verify), so a write the emulator refused
// after the hook cannot pass for a delivered one.
type sfObserver struct {
	sf *sfemu.Emulator
	m  *mapping.Mapping

	mu      sync.Mutex
	records map[string]*tracked // by billing id
	sfIDs   map[string]string   // Salesforce id → billing id
	writes  int                 // write requests seen (calls)
}

// tracked is one billing record and what Salesforce was sent of it.
type tracked struct {
	obj    *mapping.Object
	view   billsync.SObject // the fields written to Salesforce, merged
	viewAt time.Time        // when the view last changed
	writes []*clientWrite   // in the client's order
	landed int              // writes[:landed] have landed
}

// clientWrite is one create or update a client made in billing.
type clientWrite struct {
	at      time.Time // billing's commit stamp (updatedAt)
	vals    mapping.Values
	landed  time.Time
	derived bool // see recordAt
}

func newSFObserver(sf *sfemu.Emulator) *sfObserver {
	return &sfObserver{sf: sf, m: mapping.Default(), records: map[string]*tracked{}, sfIDs: map[string]string{}}
}

// install makes the observer the emulator's before-write hook; the
// returned func removes it.
func (o *sfObserver) install() func() {
	o.sf.SetBeforeWrite(o.onWrite)
	return func() { o.sf.SetBeforeWrite(nil) }
}

// record registers a client's write of ent (as billing answered it),
// committed at its updatedAt.
func (o *sfObserver) record(t billsync.ObjectType, ent billsync.Entity) error {
	at, err := time.Parse(time.RFC3339Nano, ent.Str("updatedAt"))
	if err != nil {
		return fmt.Errorf("%s %s: updatedAt %q: %w", t, ent.ID(), ent.Str("updatedAt"), err)
	}
	return o.recordAt(t, ent, at, false)
}

// recordAt registers a write of ent committed at at. A derived write is a
// record the platform changed as a consequence of the client's write (in
// Stripe, a balance transaction moves the customer's balance): Salesforce
// must come to hold it like any other, but it is not a change the client
// made, so it is left out of the changes landed and their latencies.
func (o *sfObserver) recordAt(t billsync.ObjectType, ent billsync.Entity, at time.Time, derived bool) error {
	om, ok := o.m.Object(t)
	if !ok {
		return fmt.Errorf("no mapping for %s", t)
	}
	vals, _, err := om.BillingValues(ent, true)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	tr := o.records[ent.ID()]
	if tr == nil {
		tr = &tracked{obj: om}
		o.records[ent.ID()] = tr
	}
	tr.writes = append(tr.writes, &clientWrite{at: at, vals: vals, derived: derived})
	// The sync may have written these values before the client got
	// billing's answer back.
	o.settle(tr, tr.viewAt)
	return nil
}

// onWrite is the emulator's before-write hook.
func (o *sfObserver) onWrite(w sfemu.Write) {
	now := time.Now()
	if w.Op == "delete" {
		return
	}
	o.mu.Lock()
	o.writes++
	o.mu.Unlock()
	for _, rec := range w.Records {
		id := o.billingID(w.Object, rec)
		if id == "" {
			continue
		}
		o.mu.Lock()
		if tr := o.records[id]; tr != nil {
			if tr.view == nil {
				tr.view = billsync.SObject{}
			}
			maps.Copy(tr.view, rec)
			tr.viewAt = now
			o.settle(tr, now)
		}
		o.mu.Unlock()
	}
}

// billingID names the billing record a written Salesforce record is: by
// its external id, or by its Salesforce id, looked up once.
func (o *sfObserver) billingID(object string, rec billsync.SObject) string {
	if id := rec.Str("BillingId__c"); id != "" {
		return id
	}
	sfID := rec.Str("Id")
	if sfID == "" {
		return ""
	}
	o.mu.Lock()
	id, ok := o.sfIDs[sfID]
	o.mu.Unlock()
	if ok {
		return id
	}
	objects := []string{object}
	if object == "" {
		for _, om := range o.m.Objects {
			objects = append(objects, om.SObject)
		}
	}
	for _, obj := range objects {
		if r, ok := o.sf.Record(obj, sfID); ok {
			id = r.Str("BillingId__c")
			break
		}
	}
	o.mu.Lock()
	o.sfIDs[sfID] = id
	o.mu.Unlock()
	return id
}

// settle marks landed every write up to the newest one whose values the
// view holds. Called with o.mu held.
func (o *sfObserver) settle(tr *tracked, at time.Time) {
	if tr.view == nil || tr.landed == len(tr.writes) {
		return
	}
	have, err := tr.obj.AllSalesforceValues(tr.view)
	if err != nil {
		return
	}
	for j := len(tr.writes) - 1; j >= tr.landed; j-- {
		if len(mapping.Diff(tr.writes[j].vals, have)) > 0 {
			continue
		}
		for k := tr.landed; k <= j; k++ {
			tr.writes[k].landed = maxTime(at, tr.writes[k].at)
		}
		tr.landed = j + 1
		return
	}
}

// progress says how many records have their last write landed, and when
// the last of those landed.
func (o *sfObserver) progress() (done, total int, last time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, tr := range o.records {
		total++
		if n := len(tr.writes); n > 0 && tr.landed == n {
			done++
			last = maxTime(last, tr.writes[n-1].landed)
		}
	}
	return done, total, last
}

// span is when the first and the last client write were committed.
func (o *sfObserver) span() (first, last time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, tr := range o.records {
		for _, w := range tr.writes {
			if w.derived {
				continue
			}
			if first.IsZero() || w.at.Before(first) {
				first = w.at
			}
			last = maxTime(last, w.at)
		}
	}
	return first, last
}

// latencies are, per client write, billing's commit to Salesforce holding
// its values; writes not landed are left out.
func (o *sfObserver) latencies() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []time.Duration
	for _, tr := range o.records {
		for _, w := range tr.writes[:tr.landed] {
			if !w.derived {
				out = append(out, w.landed.Sub(w.at))
			}
		}
	}
	return out
}

// writeCalls is the write requests Salesforce received while installed.
func (o *sfObserver) writeCalls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.writes
}

// verify reads every tracked record from Salesforce and checks it holds
// the values of the client's last write. It returns how many do not, with
// a few examples.
func (o *sfObserver) verify() (wrong int, examples []string) {
	o.mu.Lock()
	want := make(map[string]*tracked, len(o.records))
	maps.Copy(want, o.records)
	o.mu.Unlock()
	seen := map[string]bool{}
	for _, om := range o.m.Objects {
		for _, r := range o.sf.Records(om.SObject) {
			id := r.Str(om.ExternalID)
			tr := want[id]
			if tr == nil {
				continue
			}
			seen[id] = true
			have, err := om.AllSalesforceValues(r)
			o.mu.Lock()
			last := tr.writes[len(tr.writes)-1].vals
			o.mu.Unlock()
			if diff := mapping.Diff(last, have); err != nil || len(diff) > 0 {
				wrong++
				if len(examples) < 3 {
					examples = append(examples, fmt.Sprintf("%s %s differs in %s", om.Type, id, strings.Join(diff, ", ")))
				}
			}
		}
	}
	for id, tr := range want {
		if !seen[id] {
			wrong++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%s %s is not in Salesforce", tr.obj.Type, id))
			}
		}
	}
	return wrong, examples
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
