package quotesync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// What rarely changes between quotes is cached: the describes of the four
// objects (so a quote spends no call on them; Warm fills them at start)
// and the configured pricebook's id. Products and entries are not: they
// change when admins edit prices, and a stale entry id would fail lines.
const (
	describeTTL  = 10 * time.Minute
	pricebookTTL = 5 * time.Minute
	// defaultOppNameLen is Opportunity.Name's length where describe is silent.
	defaultOppNameLen = 120
)

type cache struct {
	mu         sync.Mutex
	describes  map[string]cachedDescribe
	pricebooks map[string]cachedPricebook
}

type cachedDescribe struct {
	d  *billsync.SObjectDescribe
	at time.Time
}

type cachedPricebook struct {
	id string
	at time.Time
}

func newCache() *cache {
	return &cache{describes: map[string]cachedDescribe{}, pricebooks: map[string]cachedPricebook{}}
}

// Warm reads the describes quote sync needs, so that the first quote after
// a start spends no calls on them. Call it at start-up; a failure is not
// fatal (the first quote then reads what is missing).
func (s *Syncer) Warm(ctx context.Context) error {
	_, err := s.orgShape(ctx)
	return err
}

// describe returns an object's describe, cached for describeTTL.
func (s *Syncer) describe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	now := s.now()
	c := s.cache
	c.mu.Lock()
	cd, ok := c.describes[object]
	c.mu.Unlock()
	if ok && now.Sub(cd.at) < describeTTL {
		return cd.d, nil
	}
	d, err := s.cfg.CRM.Describe(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("describing %s: %w", object, err)
	}
	c.mu.Lock()
	c.describes[object] = cachedDescribe{d: d, at: now}
	c.mu.Unlock()
	return d, nil
}

// cachedPricebook is the id of the pricebook named name, if known.
func (s *Syncer) cachedPricebook(name string) (string, bool) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	c, ok := s.cache.pricebooks[name]
	if !ok || s.now().Sub(c.at) >= pricebookTTL {
		return "", false
	}
	return c.id, true
}

// rememberPricebook caches a found pricebook. A missing one is never
// cached: an admin creating it should take effect on the next retry.
func (s *Syncer) rememberPricebook(name, id string) {
	if id == "" {
		return
	}
	s.cache.mu.Lock()
	s.cache.pricebooks[name] = cachedPricebook{id: id, at: s.now()}
	s.cache.mu.Unlock()
}

// orgShape is what quote sync learns from describe.
type orgShape struct {
	quote, line, opp, product *billsync.SObjectDescribe
	// multiCurrency: the org has CurrencyIsoCode on Quote (E11).
	multiCurrency bool
	nameLen       int
	oppNameLen    int
}

func (s *Syncer) orgShape(ctx context.Context) (*orgShape, error) {
	var ds [4]*billsync.SObjectDescribe
	var errs []error
	for i, obj := range []string{s.obj.Quote.SObject, s.obj.Line.SObject, s.obj.Opportunity.SObject, s.obj.OppProduct.SObject} {
		d, err := s.describe(ctx, obj)
		ds[i] = d
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return shapeOf(ds[0], ds[1], ds[2], ds[3]), nil
}

func shapeOf(quote, line, opp, product *billsync.SObjectDescribe) *orgShape {
	o := &orgShape{quote: quote, line: line, opp: opp, product: product,
		nameLen: rules.QuoteNameMaxLength, oppNameLen: defaultOppNameLen}
	_, o.multiCurrency = quote.Field(fieldCurrency)
	if f, ok := quote.Field("Name"); ok && f.Length > 0 {
		o.nameLen = f.Length
	}
	if f, ok := opp.Field("Name"); ok && f.Length > 0 {
		o.oppNameLen = f.Length
	}
	return o
}

// fieldSet adapts a describe to the mapping's field lookup.
func fieldSet(d *billsync.SObjectDescribe) mapping.FieldSet {
	return func(name string) (mapping.FieldInfo, bool) {
		f, ok := d.Field(name)
		if !ok {
			return mapping.FieldInfo{}, false
		}
		return mapping.FieldInfo{Type: f.Type, Scale: f.Scale, Createable: f.Createable, Updateable: f.Updateable}, true
	}
}

// creatable reports whether billsync may set field on a create: in a real
// org a line's CurrencyIsoCode is derived from its parent and not
// writable, so describe decides rather than assumption.
func creatable(d *billsync.SObjectDescribe, field string) bool {
	f, ok := d.Field(field)
	return ok && f.Createable
}
