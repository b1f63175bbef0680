package salesforce

import "strings"

// The hook the Pub/Sub API server (emulate/salesforce/pubsub) builds a
// change event's Avro schema from: the same objects, in the same field
// order, as the change events the org publishes on its event bus.

// ChangeEventFields returns the object whose change event entity names
// (BillingAccount__ChangeEvent, AccountChangeEvent) and the fields its
// change events carry, in describe order. Change events leave out the
// record id (the header names it), IsDeleted, SystemModstamp and formula
// fields, which hold no value of the record's own. ok is false when no
// object of the org has that change event.
func (e *Emulator) ChangeEventFields(entity string) (object string, fields []EventField, ok bool) {
	var name string
	if base, custom := strings.CutSuffix(entity, "__ChangeEvent"); custom {
		name = base + "__c"
	} else if base, std := strings.CutSuffix(entity, "ChangeEvent"); std {
		name = base
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	o := e.schema.object(name)
	if name == "" || o == nil || o.Event || o.Setup || cdcEntity(o.Name) != entity {
		return "", nil, false
	}
	for _, f := range o.Fields {
		if cdcFieldsSkipped[f.Name] || f.Calculated {
			continue
		}
		fields = append(fields, EventField{Name: f.Name, Type: f.Type, Custom: f.Custom})
	}
	return o.Name, fields, true
}
