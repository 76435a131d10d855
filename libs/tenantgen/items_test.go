package tenantgen_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestEventsParse decodes generated calendar items with go-ical, expands
// their recurrence with rrule-go through it, and checks the sizes the
// metadata gives and that series, exclusions and moved occurrences occur.
func TestEventsParse(t *testing.T) {
	t.Parallel()
	var series, exdates, exceptions int
	for idx := range 300 {
		raw, meta := tenantgen.RenderEvent(5, 9, idx, domain)
		if n := tenantgen.Event(5, 9, idx, domain).Size; n != int64(len(raw)) || meta.Size != n {
			t.Fatalf("event %d: metadata size %d, rendered %d", idx, n, len(raw))
		}
		cal, err := ical.NewDecoder(bytes.NewReader(raw)).Decode()
		if err != nil {
			t.Fatalf("event %d: %v\n%s", idx, err, raw)
		}
		events := cal.Events()
		if len(events) == 0 || len(cal.Children) != len(events)+1 {
			t.Fatalf("event %d: %d VEVENTs among %d components", idx, len(events), len(cal.Children))
		}
		master := events[0]
		if _, err := master.DateTimeStart(time.UTC); err != nil {
			t.Fatalf("event %d: DTSTART: %v", idx, err)
		}
		if set, err := master.RecurrenceSet(time.UTC); err != nil {
			t.Fatalf("event %d: recurrence: %v", idx, err)
		} else if set != nil {
			series++
			if master.Props.Get(ical.PropExceptionDates) != nil {
				if all := set.All(); len(all) == 0 {
					t.Errorf("event %d: a series without occurrences", idx)
				}
				exdates++
			}
		}
		if len(events) > 1 && events[1].Props.Get(ical.PropRecurrenceID) != nil {
			exceptions++
		}
		if len(master.Props.Values(ical.PropAttendee)) == 0 {
			t.Errorf("event %d has no attendees", idx)
		}
	}
	if series == 0 || exdates == 0 || exceptions == 0 {
		t.Errorf("series %d, with exclusions %d, with moved occurrences %d: want some of each", series, exdates, exceptions)
	}
}

// TestContactsParse decodes generated contacts with go-vcard and checks
// that they carry many fields.
func TestContactsParse(t *testing.T) {
	t.Parallel()
	for idx := range 300 {
		raw, meta := tenantgen.RenderContact(5, 9, idx, domain)
		if n := tenantgen.Contact(5, 9, idx, domain).Size; n != int64(len(raw)) || meta.Size != n {
			t.Fatalf("contact %d: metadata size %d, rendered %d", idx, n, len(raw))
		}
		card, err := vcard.NewDecoder(bytes.NewReader(raw)).Decode()
		if err != nil {
			t.Fatalf("contact %d: %v\n%s", idx, err, raw)
		}
		counts := fmt.Sprint(len(card.Values(vcard.FieldEmail)), len(card.Values(vcard.FieldTelephone)), len(card.Addresses()))
		if len(card.Values(vcard.FieldEmail)) < 2 || len(card.Values(vcard.FieldTelephone)) < 2 || len(card.Addresses()) < 2 ||
			card.Name() == nil || card.PreferredValue(vcard.FieldFormattedName) == "" || card.Value(vcard.FieldOrganization) == "" {
			t.Errorf("contact %d lacks fields (emails, phones, addresses %s):\n%s", idx, counts, raw)
		}
	}
}
