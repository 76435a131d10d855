package ews

import (
	"encoding/base64"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// MAPI properties with a meaning of their own on CreateItem: the flags
// that make an imported message received and read rather than a draft,
// and its delivery and submit times.
const (
	tagMessageFlags = "tag:0e07"
	tagDeliveryTime = "tag:0e06"
	tagSubmitTime   = "tag:0039"
	// tagMessageSizeExtended is PR_MESSAGE_SIZE_EXTENDED, on a folder the
	// total size of its items.
	tagMessageSizeExtended = "tag:0e08"
	msgflagRead            = 0x1
	msgflagUnsent          = 0x8
)

func strp(s string) *string { return &s }

// Properties Default omits and AllProperties keeps (Body only in GetItem).
var notInDefault = []string{"Body", "Categories", "Flag", "ToRecipients", "CcRecipients", "BccRecipients", "ReplyTo",
	"References", "InReplyTo", "Recurrence", "ModifiedOccurrences", "DeletedOccurrences", "RequiredAttendees",
	"OptionalAttendees", "Resources", "PhysicalAddresses", "PhoneNumbers", "ImAddresses", "Members", "Children", "Companies"}

// ensureParsed fills a message's properties from its MIME the first time
// they are needed (seeded mail is only rendered when read).
func (c *call) ensureParsed(it *item) {
	if it.parsed || it.data.Message == nil {
		return
	}
	it.parsed = true
	raw := it.mime
	if raw == nil && it.gen != nil {
		raw = renderSeeded(it.gen)
	}
	if raw == nil {
		return
	}
	m := it.data.Message
	keep := *m
	parseMIMEHeaders(raw, m)
	// What the store set explicitly wins over the headers.
	if keep.Subject != nil {
		m.Subject = keep.Subject
	}
	if keep.Importance != "" {
		m.Importance = keep.Importance
	}
}

func (c *call) mimeOf(it *item) []byte {
	if it.mime != nil {
		return it.mime
	}
	if it.gen != nil {
		return renderSeeded(it.gen)
	}
	return nil
}

// itemView renders an item in a shape. find is true for FindItem and
// SyncFolderItems, which never return bodies or MIME.
func (c *call) itemView(it *item, shape soap.ItemShape, find bool) soap.AnyItem {
	c.ensureParsed(it)
	full := cloneItem(it.data)
	seriesView(it, full.CalendarItem)
	fs := full.Fields()
	fs.ItemID = it.itemID()
	if it.folder != nil {
		fs.ParentFolderID = it.folder.folderID()
	}
	fs.Size = soap.Int(it.size)
	var out soap.AnyItem
	switch shape.BaseShape {
	case soap.ShapeIDOnly:
		out = emptyLike(full)
		out.Fields().ItemID = fs.ItemID
	default:
		out = full
		o := structOf(out)
		drop := []string{"MimeContent", "ExtendedProperty"}
		if shape.BaseShape != soap.ShapeAllProperties {
			drop = append(drop, notInDefault...)
		}
		if find {
			drop = append(drop, "Body")
		}
		for _, n := range drop {
			if f, ok := propField(o, n); ok {
				f.Set(reflect.Zero(f.Type()))
			}
		}
	}
	src, dst := structOf(full), structOf(out)
	if ap := shape.AdditionalProperties; ap != nil {
		for _, p := range ap.FieldURI {
			if find && (p.FieldURI == "item:Body" || p.FieldURI == "item:MimeContent") {
				continue
			}
			copyProp(dst, src, fieldName(p.FieldURI))
		}
		for _, p := range ap.IndexedFieldURI {
			copyProp(dst, src, fieldName(p.FieldURI))
		}
		for _, p := range ap.ExtendedFieldURI {
			if v, ok := it.ext[p.Key()]; ok {
				ep := v
				ep.ExtendedFieldURI = p
				of := out.Fields()
				of.ExtendedProperty = append(of.ExtendedProperty, ep)
			}
		}
	}
	if shape.IncludeMimeContent != nil && *shape.IncludeMimeContent && !find {
		if raw := c.mimeOf(it); raw != nil {
			out.Fields().MimeContent = &soap.MimeContent{CharacterSet: "UTF-8", Value: base64.StdEncoding.EncodeToString(raw)}
		}
	}
	return out
}

// cloneItem copies the item struct (one level: views only clear fields).
func cloneItem(a soap.AnyItem) soap.AnyItem {
	switch {
	case a.Message != nil:
		v := *a.Message
		return soap.AnyItem{Message: &v}
	case a.CalendarItem != nil:
		v := *a.CalendarItem
		return soap.AnyItem{CalendarItem: &v}
	case a.Contact != nil:
		v := *a.Contact
		return soap.AnyItem{Contact: &v}
	case a.DistributionList != nil:
		v := *a.DistributionList
		return soap.AnyItem{DistributionList: &v}
	case a.Item != nil:
		v := *a.Item
		return soap.AnyItem{Item: &v}
	}
	return soap.AnyItem{Item: &soap.Item{}}
}

func emptyLike(a soap.AnyItem) soap.AnyItem {
	switch {
	case a.Message != nil:
		return soap.AnyItem{Message: &soap.Message{}}
	case a.CalendarItem != nil:
		return soap.AnyItem{CalendarItem: &soap.CalendarItem{}}
	case a.Contact != nil:
		return soap.AnyItem{Contact: &soap.Contact{}}
	case a.DistributionList != nil:
		return soap.AnyItem{DistributionList: &soap.DistributionList{}}
	}
	return soap.AnyItem{Item: &soap.Item{}}
}

// lookupItem finds an item of the call's mailbox by id.
func (c *call) lookupItem(id string) (*item, *soap.ResponseMessage) {
	if !idOK(id) {
		return nil, fail("ErrorInvalidIdMalformed", "Id is malformed.")
	}
	if it := c.mbx.items[id]; it != nil {
		return it, nil
	}
	return nil, fail("ErrorItemNotFound", "The specified object was not found in the store.")
}

func (c *call) findItem() (any, *soap.Fault) {
	var req soap.FindItem
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	if _, f := c.lock(); f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.FindItemResponse
	add := func(m soap.FindItemResponseMessage) {
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, m)
	}
	fs, errs := c.folderList(req.ParentFolderIDs)
	for i, fo := range fs {
		if errs[i] != nil {
			add(soap.FindItemResponseMessage{ResponseMessage: *errs[i]})
			continue
		}
		if req.Traversal != "Shallow" && req.Traversal != "SoftDeleted" && req.Traversal != "Associated" {
			add(soap.FindItemResponseMessage{ResponseMessage: soap.Fail("ErrorInvalidRequest", "Traversal "+req.Traversal+" is not supported for FindItem.")})
			continue
		}
		var all []*item
		if req.Traversal == "Shallow" {
			for _, it := range fo.sortedItems() {
				if req.Restriction == nil || c.matches(it, req.Restriction.Expr) {
					all = append(all, it)
				}
			}
		}
		if so := req.SortOrder; so != nil && len(so.FieldOrder) > 0 {
			c.sortItems(all, so.FieldOrder)
		}
		offset, n := 0, len(all)
		if v := req.IndexedPageItemView; v != nil {
			if v.MaxEntriesReturned > 0 {
				n = v.MaxEntriesReturned
			}
			offset = v.Offset
			if v.BasePoint == "End" {
				offset = max(len(all)-v.Offset-n, 0)
			}
		}
		if lim := c.s.limitsNow().MaxPageSize; lim > 0 && n > lim {
			n = lim
		}
		page := window(all, offset, n)
		items := make([]soap.AnyItem, 0, len(page))
		for _, it := range page {
			items = append(items, c.itemView(it, req.ItemShape, true))
		}
		next := offset + len(page)
		add(soap.FindItemResponseMessage{ResponseMessage: soap.OK(), RootFolder: &soap.FindItemParent{
			IndexedPagingOffset: soap.Int(next), TotalItemsInView: soap.Int(len(all)),
			IncludesLastItemInRange: soap.Bool(next >= len(all)), Items: &soap.Items{Items: items}}})
	}
	return &resp, nil
}

func (s *Sandbox) limitsNow() Limits {
	// Called with s.mu held.
	return s.limits
}

// sortItems orders by the field orders, first one first.
func (c *call) sortItems(items []*item, orders []soap.FieldOrder) {
	slices.SortStableFunc(items, func(a, b *item) int {
		for _, o := range orders {
			va, vb := c.pathValues(a, o.Path), c.pathValues(b, o.Path)
			x, y := "", ""
			if len(va) > 0 {
				x = va[0]
			}
			if len(vb) > 0 {
				y = vb[0]
			}
			r := compareValues(x, y)
			if o.Order == "Descending" {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return 0
	})
}

// pathValues are an item's values of a property path.
func (c *call) pathValues(it *item, p soap.Path) []string {
	switch {
	case p.ExtendedFieldURI != nil:
		if v, ok := it.ext[p.ExtendedFieldURI.Key()]; ok {
			return extValues(v)
		}
		return nil
	case p.FieldURI != nil:
		uri := p.FieldURI.FieldURI
		switch uri {
		case "item:ItemId":
			return []string{it.id}
		case "item:ParentFolderId":
			return []string{it.folder.id}
		case "item:Size":
			return []string{strconv.Itoa(it.size)}
		}
		if strings.HasPrefix(uri, "message:") || uri == "item:Subject" || uri == "item:HasAttachments" || uri == "item:DateTimeSent" {
			c.ensureParsed(it)
		}
		v, ok := propField(structOf(it.data), fieldName(uri))
		if !ok {
			return nil
		}
		return propValues(v)
	case p.IndexedFieldURI != nil:
		v, ok := propField(structOf(it.data), fieldName(p.IndexedFieldURI.FieldURI))
		if !ok || !isSet(v) {
			return nil
		}
		return indexedValues(v.Interface(), p.IndexedFieldURI.FieldIndex)
	}
	return nil
}

func indexedValues(v any, key string) []string {
	switch d := v.(type) {
	case *soap.EmailAddresses:
		for _, e := range d.Entry {
			if e.Key == key {
				return []string{e.Value}
			}
		}
	case *soap.PhoneNumbers:
		for _, e := range d.Entry {
			if e.Key == key {
				return []string{e.Value}
			}
		}
	}
	return nil
}

// compareValues compares as times, then numbers, then case-insensitive
// text, as the store compares typed properties.
func compareValues(a, b string) int {
	if ta, err := time.Parse(time.RFC3339, a); err == nil {
		if tb, err := time.Parse(time.RFC3339, b); err == nil {
			return ta.Compare(tb)
		}
	}
	if na, err := strconv.ParseFloat(a, 64); err == nil {
		if nb, err := strconv.ParseFloat(b, 64); err == nil {
			switch {
			case na < nb:
				return -1
			case na > nb:
				return 1
			}
			return 0
		}
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

// matches evaluates a restriction on an item.
func (c *call) matches(it *item, e soap.SearchExpr) bool {
	switch e.Op {
	case "And":
		for _, ch := range e.Children {
			if !c.matches(it, ch) {
				return false
			}
		}
		return true
	case "Or":
		for _, ch := range e.Children {
			if c.matches(it, ch) {
				return true
			}
		}
		return false
	case "Not":
		return len(e.Children) == 1 && !c.matches(it, e.Children[0])
	case "Exists":
		return len(c.pathValues(it, e.Path)) > 0
	case "Contains":
		for _, v := range c.pathValues(it, e.Path) {
			x, k := v, e.Constant
			if !strings.HasPrefix(e.ContainmentComparison, "Exact") {
				x, k = strings.ToLower(x), strings.ToLower(k)
			}
			switch e.ContainmentMode {
			case "FullString":
				if x == k {
					return true
				}
			case "Prefixed":
				if strings.HasPrefix(x, k) {
					return true
				}
			default:
				if strings.Contains(x, k) {
					return true
				}
			}
		}
		return false
	}
	vals := c.pathValues(it, e.Path)
	if e.Op == "IsNotEqualTo" {
		for _, v := range vals {
			if compareValues(v, e.Constant) == 0 {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		r := compareValues(v, e.Constant)
		switch e.Op {
		case "IsEqualTo":
			if r == 0 {
				return true
			}
		case "IsGreaterThan":
			if r > 0 {
				return true
			}
		case "IsGreaterThanOrEqualTo":
			if r >= 0 {
				return true
			}
		case "IsLessThan":
			if r < 0 {
				return true
			}
		case "IsLessThanOrEqualTo":
			if r <= 0 {
				return true
			}
		}
	}
	return false
}

func (c *call) getItem() (any, *soap.Fault) {
	var req soap.GetItem
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	if _, f := c.lock(); f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.GetItemResponse
	add := func(m soap.ItemInfoResponseMessage) {
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, m)
	}
	for _, id := range req.ItemIDs.ItemID {
		it, e := c.lookupItem(id.ID)
		if e != nil {
			add(soap.ItemInfoResponseMessage{ResponseMessage: *e})
			continue
		}
		add(soap.ItemInfoResponseMessage{ResponseMessage: soap.OK(), Items: soap.Items{Items: []soap.AnyItem{c.itemView(it, req.ItemShape, false)}}})
	}
	for _, oid := range req.ItemIDs.OccurrenceItemID {
		occ, e := c.occurrence(oid)
		if e != nil {
			add(soap.ItemInfoResponseMessage{ResponseMessage: *e})
			continue
		}
		add(soap.ItemInfoResponseMessage{ResponseMessage: soap.OK(), Items: soap.Items{Items: []soap.AnyItem{c.itemView(occ, req.ItemShape, false)}}})
	}
	return &resp, nil
}

func (c *call) createItem() (any, *soap.Fault) {
	var req soap.CreateItem
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	m, f := c.lock()
	if f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.CreateItemResponse
	add := func(rm soap.ResponseMessage, it *item) {
		msg := soap.ItemInfoResponseMessage{ResponseMessage: rm}
		if it != nil {
			v := emptyLike(it.data)
			v.Fields().ItemID = it.itemID()
			msg.Items.Items = []soap.AnyItem{v}
		}
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, msg)
	}
	var saved *folder
	if req.SavedItemFolderID != nil {
		var e *soap.ResponseMessage
		if saved, e = c.target(req.SavedItemFolderID); e != nil {
			e.ResponseCode = "ErrorSavedItemFolderNotFound"
			for range req.Items.Items {
				add(*e, nil)
			}
			return &resp, nil
		}
	}
	for _, in := range req.Items.Items {
		it, e := c.newItem(m, in, &req, saved)
		if e != nil {
			add(*e, nil)
			continue
		}
		add(soap.OK(), it) // it is nil for SendOnly
	}
	return &resp, nil
}

// newItem stores one item of a CreateItem.
func (c *call) newItem(m *mailbox, in soap.AnyItem, req *soap.CreateItem, saved *folder) (*item, *soap.ResponseMessage) {
	now := time.Now().UTC()
	fs := in.Fields()
	if fs == nil || in.Unknown != "" {
		return nil, fail("ErrorInvalidRequest", "The sandbox cannot create items of kind "+in.Kind()+".")
	}
	it := &item{data: cloneItem(in), ext: map[string]soap.ExtendedProperty{}}
	d := it.data.Fields()
	d.ItemID, d.ParentFolderID = nil, nil
	for _, p := range fs.ExtendedProperty {
		it.ext[p.ExtendedFieldURI.Key()] = p
	}
	d.ExtendedProperty = nil
	d.DateTimeCreated = soap.NewDateTime(now)
	d.LastModifiedTime = soap.NewDateTime(now)
	d.LastModifiedName = c.caller.DisplayName
	var dest *folder
	switch {
	case in.Message != nil:
		if req.MessageDisposition == "" {
			return nil, fail("ErrorMessageDispositionRequired", "MessageDisposition attribute is required.")
		}
		msg := it.data.Message
		if fs.MimeContent != nil {
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(fs.MimeContent.Value))
			if err != nil || !parseMIMEHeaders(raw, msg) {
				return nil, fail("ErrorMimeContentConversionFailed", "Unable to convert MIME content.")
			}
			it.mime = raw
			it.size = len(raw)
			d.MimeContent = nil
			// Explicit properties of the request win over the MIME.
			if in.Message.Subject != nil {
				msg.Subject = in.Message.Subject
			}
		} else {
			it.size = approxSize(it.data)
		}
		it.parsed = true
		d.ItemClass = firstNonEmpty(d.ItemClass, "IPM.Note")
		flags := -1
		if p, ok := it.ext[tagMessageFlags]; ok && p.Value != nil {
			if n, err := strconv.Atoi(*p.Value); err == nil {
				flags = n
			}
		}
		read, draft := true, true
		if flags >= 0 {
			read, draft = flags&msgflagRead != 0, flags&msgflagUnsent != 0
		}
		if in.Message.IsRead != nil {
			read = *in.Message.IsRead
		}
		msg.IsRead, d.IsDraft = soap.Bool(read), soap.Bool(draft)
		d.IsSubmitted, d.IsUnmodified = soap.Bool(false), soap.Bool(!draft)
		d.DateTimeReceived = soap.NewDateTime(now)
		if p, ok := it.ext[tagDeliveryTime]; ok && p.Value != nil {
			var t soap.DateTime
			if t.UnmarshalText([]byte(*p.Value)) == nil {
				d.DateTimeReceived = &t
			}
		}
		if p, ok := it.ext[tagSubmitTime]; ok && p.Value != nil {
			var t soap.DateTime
			if t.UnmarshalText([]byte(*p.Value)) == nil {
				d.DateTimeSent = &t
			}
		}
		switch req.MessageDisposition {
		case "SaveOnly":
			dest = firstFolder(saved, m.byName["drafts"])
		case "SendOnly", "SendAndSaveCopy":
			c.s.sent.Add(1)
			if req.MessageDisposition == "SendOnly" {
				// Sent and not kept: nothing is stored.
				return nil, nil
			}
			dest = firstFolder(saved, m.byName["sentitems"])
			d.IsDraft = soap.Bool(false)
		default:
			return nil, fail("ErrorInvalidRequest", "MessageDisposition "+req.MessageDisposition+" is invalid.")
		}
	case in.CalendarItem != nil:
		if req.SendMeetingInvitations == "" {
			return nil, fail("ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations attribute is required for calendar items.")
		}
		dest = firstFolder(saved, m.byName["calendar"])
		if dest.class != "IPF.Appointment" {
			return nil, fail("ErrorCannotCreateCalendarItemInNonCalendarFolder", "Calendar items can only be created in a calendar folder.")
		}
		if e := c.prepareCalendarItem(it, now); e != nil {
			return nil, e
		}
		c.inviteOnCreate(it, req.SendMeetingInvitations)
	case in.Contact != nil:
		dest = firstFolder(saved, m.byName["contacts"])
		d.ItemClass = firstNonEmpty(d.ItemClass, "IPM.Contact")
		ct := it.data.Contact
		if ct.DisplayName == "" {
			ct.DisplayName = strings.TrimSpace(ct.GivenName + " " + ct.Surname)
		}
		if ct.FileAs == "" {
			ct.FileAs = ct.DisplayName
		}
		if d.Subject == nil {
			d.Subject = strp(ct.DisplayName)
		}
		it.size = approxSize(it.data)
	case in.DistributionList != nil:
		dest = firstFolder(saved, m.byName["contacts"])
		d.ItemClass = firstNonEmpty(d.ItemClass, "IPM.DistList")
		dl := it.data.DistributionList
		if dl.FileAs == "" {
			dl.FileAs = dl.DisplayName
		}
		if d.Subject == nil {
			d.Subject = strp(dl.DisplayName)
		}
		it.size = approxSize(it.data)
	default:
		dest = firstFolder(saved, m.byName["drafts"])
		d.ItemClass = firstNonEmpty(d.ItemClass, "IPM")
		it.size = approxSize(it.data)
	}
	if d.DateTimeReceived == nil {
		d.DateTimeReceived = soap.NewDateTime(now)
	}
	if d.Importance == "" {
		d.Importance = "Normal"
	}
	if d.Sensitivity == "" {
		d.Sensitivity = "Normal"
	}
	d.HasAttachments = firstBool(d.HasAttachments, false)
	m.addItem(dest, it)
	return it, nil
}

func firstFolder(fs ...*folder) *folder {
	for _, f := range fs {
		if f != nil {
			return f
		}
	}
	return nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstBool(b *bool, def bool) *bool {
	if b != nil {
		return b
	}
	return &def
}

// approxSize is the size of an item without MIME: what its properties
// weigh on the wire, which is close to what the store reports.
func approxSize(a soap.AnyItem) int {
	b, err := soap.BuildEnvelope(nil, &soap.Items{Items: []soap.AnyItem{a}}, nil)
	if err != nil {
		return 0
	}
	return len(b)
}

func (c *call) updateItem() (any, *soap.Fault) {
	var req soap.UpdateItem
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	m, f := c.lock()
	if f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.UpdateItemResponse
	add := func(rm soap.ResponseMessage, it *item, conflicts int) {
		msg := soap.UpdateItemResponseMessage{ResponseMessage: rm}
		if it != nil {
			v := emptyLike(it.data)
			v.Fields().ItemID = it.itemID()
			msg.Items.Items = []soap.AnyItem{v}
			msg.ConflictResults = &struct {
				Count int `xml:"http://schemas.microsoft.com/exchange/services/2006/types Count"`
			}{conflicts}
		}
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, msg)
	}
	for _, ch := range req.ItemChanges.ItemChange {
		var it *item
		var e *soap.ResponseMessage
		key := ""
		switch {
		case ch.ItemID != nil:
			it, e = c.lookupItem(ch.ItemID.ID)
			key = ch.ItemID.ChangeKey
		case ch.OccurrenceItemID != nil:
			it, e = c.occurrenceForUpdate(*ch.OccurrenceItemID)
			key = ch.OccurrenceItemID.ChangeKey
		default:
			e = fail("ErrorInvalidRequest", "The request is invalid.")
		}
		if e != nil {
			add(*e, nil, 0)
			continue
		}
		if key != "" && key != it.itemID().ChangeKey && req.ConflictResolution == "NeverOverwrite" {
			add(soap.Fail("ErrorIrresolvableConflict", "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item."), nil, 0)
			continue
		}
		if it.data.CalendarItem != nil && req.SendMeetingInvitationsOrCancellations == "" {
			add(soap.Fail("ErrorSendMeetingInvitationsOrCancellationsRequired", "SendMeetingInvitationsOrCancellations attribute is required for calendar items."), nil, 0)
			continue
		}
		c.ensureParsed(it)
		readOnly := true
		var bad *soap.ResponseMessage
		apply := func(sf soap.SetItemField, appendTo bool) {
			if bad != nil {
				return
			}
			if sf.ExtendedFieldURI != nil {
				v := sf.Value()
				fsv := v.Fields()
				if fsv == nil || len(fsv.ExtendedProperty) != 1 {
					bad = fail("ErrorIncorrectUpdatePropertyCount", "An object within a change description must contain one and only one property to modify.")
					return
				}
				it.ext[sf.ExtendedFieldURI.Key()] = fsv.ExtendedProperty[0]
				readOnly = false
				return
			}
			uri := ""
			switch {
			case sf.FieldURI != nil:
				uri = sf.FieldURI.FieldURI
			case sf.IndexedFieldURI != nil:
				uri = sf.IndexedFieldURI.FieldURI
			}
			name := fieldName(uri)
			src := structOf(sf.Value())
			dst := structOf(it.data)
			if sf.Value().Kind() != it.data.Kind() && sf.Value().Kind() != "Item" {
				bad = fail("ErrorUpdatePropertyMismatch", "Property update type mismatch for "+uri+".")
				return
			}
			sv, ok := propField(src, name)
			dv, ok2 := propField(dst, name)
			if !ok || !ok2 {
				bad = fail("ErrorInvalidPropertyForOperation", "This property can't be used in this operation: "+uri+".")
				return
			}
			if sf.IndexedFieldURI != nil {
				mergeIndexed(dv, sv, sf.IndexedFieldURI.FieldIndex)
			} else if appendTo && sv.Kind() == reflect.Pointer && !sv.IsNil() && !dv.IsNil() {
				appendProp(dv, sv)
			} else {
				dv.Set(sv)
			}
			if name != "IsRead" {
				readOnly = false
			}
		}
		for _, sf := range ch.Updates.AppendToItemField {
			apply(sf, true)
		}
		for _, sf := range ch.Updates.SetItemField {
			apply(sf, false)
		}
		for _, df := range ch.Updates.DeleteItemField {
			if df.ExtendedFieldURI != nil {
				delete(it.ext, df.ExtendedFieldURI.Key())
				readOnly = false
				continue
			}
			uri := ""
			if df.FieldURI != nil {
				uri = df.FieldURI.FieldURI
			} else if df.IndexedFieldURI != nil {
				uri = df.IndexedFieldURI.FieldURI
			}
			if dv, ok := propField(structOf(it.data), fieldName(uri)); ok {
				dv.Set(reflect.Zero(dv.Type()))
				readOnly = false
			}
		}
		if bad != nil {
			add(*bad, nil, 0)
			continue
		}
		m.touch(it, readOnly)
		if it.data.CalendarItem != nil {
			c.afterCalendarUpdate(it, req.SendMeetingInvitationsOrCancellations)
		}
		add(soap.OK(), it, 0)
	}
	return &resp, nil
}

// mergeIndexed sets one dictionary entry (contacts:EmailAddress etc.).
func mergeIndexed(dst, src reflect.Value, key string) {
	if src.IsNil() {
		return
	}
	if dst.IsNil() {
		dst.Set(reflect.New(dst.Type().Elem()))
	}
	de, se := dst.Elem().FieldByName("Entry"), src.Elem().FieldByName("Entry")
	for i := 0; i < se.Len(); i++ {
		e := se.Index(i)
		if e.FieldByName("Key").String() != key {
			continue
		}
		replaced := false
		for j := 0; j < de.Len(); j++ {
			if de.Index(j).FieldByName("Key").String() == key {
				de.Index(j).Set(e)
				replaced = true
			}
		}
		if !replaced {
			de.Set(reflect.Append(de, e))
		}
	}
}

// appendProp appends list properties (Categories, attendees, members).
func appendProp(dst, src reflect.Value) {
	d, s := dst.Elem(), src.Elem()
	if d.Kind() != reflect.Struct || d.NumField() != 1 || d.Field(0).Kind() != reflect.Slice {
		dst.Set(src)
		return
	}
	d.Field(0).Set(reflect.AppendSlice(d.Field(0), s.Field(0)))
}

func (c *call) deleteItem() (any, *soap.Fault) {
	var req soap.DeleteItem
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	m, f := c.lock()
	if f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.DeleteItemResponse
	add := func(rm soap.ResponseMessage) {
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, rm)
	}
	for _, id := range req.ItemIDs.ItemID {
		it, e := c.lookupItem(id.ID)
		if e != nil {
			add(*e)
			continue
		}
		if it.data.CalendarItem != nil {
			if req.SendMeetingCancellations == "" {
				add(soap.Fail("ErrorSendMeetingCancellationsRequired", "SendMeetingCancellations attribute is required for calendar items."))
				continue
			}
			c.cancelOnDelete(it, req.SendMeetingCancellations)
		}
		switch req.DeleteType {
		case "HardDelete", "SoftDelete":
			m.removeItem(it)
		case "MoveToDeletedItems":
			if it.folder == m.byName["deleteditems"] {
				m.removeItem(it)
			} else {
				m.moveItem(it, m.byName["deleteditems"])
			}
		default:
			add(soap.Fail("ErrorInvalidRequest", "DeleteType "+req.DeleteType+" is invalid."))
			continue
		}
		add(soap.OK())
	}
	for _, oid := range req.ItemIDs.OccurrenceItemID {
		if req.SendMeetingCancellations == "" {
			add(soap.Fail("ErrorSendMeetingCancellationsRequired", "SendMeetingCancellations attribute is required for calendar items."))
			continue
		}
		if e := c.deleteOccurrence(oid, req.SendMeetingCancellations); e != nil {
			add(*e)
			continue
		}
		add(soap.OK())
	}
	return &resp, nil
}
