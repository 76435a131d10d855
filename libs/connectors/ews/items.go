package ews

import (
	"context"
	"fmt"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
)

// syncShape is what a listing needs of each item: its id with the change
// key (the version) and its size.
var syncShape = soap.ItemShape{BaseShape: soap.ShapeIDOnly,
	AdditionalProperties: &soap.Paths{FieldURI: []soap.FieldURI{{FieldURI: "item:Size"}}}}

// Items enumerates a folder through SyncFolderItems: an empty token starts
// from nothing (every item comes as a creation), and the SyncState of each
// page is the next token: NextToken while Exchange has more, DeltaToken on
// the last page. A delta token is the same sync state, so the next call
// returns what was created, changed (ReadFlagChange included: the change
// key moves with the read flag) or deleted since, with the change keys as
// versions. A sync state Exchange no longer accepts is errs.Invalid, and
// the engine falls back to a full enumeration.
func (c *Connector) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	mb := mailboxKey(mailboxID)
	kind, err := c.folderKind(ctx, mb, folderID)
	if err != nil {
		return platform.ItemPage{}, err
	}
	w := what{mailbox: mb, thing: "folder " + folderID}
	var resp soap.SyncFolderItemsResponse
	if err := c.call(ctx, mb, &soap.SyncFolderItems{ItemShape: syncShape,
		SyncFolderID: soap.TargetFolderID{FolderID: &soap.FolderID{ID: folderID}}, SyncState: token,
		MaxChangesReturned: c.cfg.PageSize}, &resp); err != nil {
		return platform.ItemPage{}, err
	}
	if len(resp.ResponseMessages.Messages) != 1 {
		return platform.ItemPage{}, errs.New(errs.Internal, fmt.Sprintf("Exchange answered the sync of %s with %d messages", w, len(resp.ResponseMessages.Messages)), "report this to mailferry support")
	}
	m := resp.ResponseMessages.Messages[0]
	if err := soap.CheckOne("SyncFolderItems", m); err != nil {
		return platform.ItemPage{}, c.fail(err, w)
	}
	page := platform.ItemPage{Items: []platform.ItemRef{}}
	if m.Changes != nil {
		for _, ch := range m.Changes.Changes {
			switch ch.Kind {
			case "Create", "Update":
				f := ch.Item.Fields()
				if f == nil || f.ItemID == nil || !fitsFolder(kind, ch.Item) {
					continue
				}
				page.Items = append(page.Items, platform.ItemRef{ID: f.ItemID.ID, FolderID: folderID, Kind: kind,
					Size: int64(derefInt(f.Size)), ChangeKey: f.ItemID.ChangeKey})
			case "ReadFlagChange":
				if ch.ItemID != nil {
					page.Items = append(page.Items, platform.ItemRef{ID: ch.ItemID.ID, FolderID: folderID, Kind: kind, ChangeKey: ch.ItemID.ChangeKey})
				}
			case "Delete":
				if ch.ItemID != nil {
					page.Items = append(page.Items, platform.ItemRef{ID: ch.ItemID.ID, FolderID: folderID, Kind: kind, Deleted: true})
				}
			}
		}
	}
	if m.SyncState == "" {
		return platform.ItemPage{}, errs.New(errs.Internal, "Exchange answered the sync of "+w.String()+" without a sync state", "report this to mailferry support")
	}
	if m.IncludesLastItemInRange == nil || *m.IncludesLastItemInRange {
		page.DeltaToken = m.SyncState
	} else {
		page.NextToken = m.SyncState
	}
	return page, nil
}

// fitsFolder says whether an item is one of the kind its folder moves: a
// calendar holds calendar items, a contact folder contacts and groups; a
// mail folder moves whatever it holds as MIME.
func fitsFolder(kind platform.ItemKind, it soap.AnyItem) bool {
	switch kind {
	case platform.Event:
		return it.CalendarItem != nil
	case platform.Contact:
		return it.Contact != nil || it.DistributionList != nil
	}
	return true
}

// folderKind is a listed folder's kind; a folder not listed (even after
// reading the tree again) is not found.
func (c *Connector) folderKind(ctx context.Context, mb, folderID string) (platform.ItemKind, error) {
	fc, err := c.listing(ctx, mb, folderCacheTTL)
	if err != nil {
		return "", err
	}
	if f, ok := fc.get(folderID); ok {
		return f.Kind, nil
	}
	if fc, err = c.listing(ctx, mb, 0); err != nil {
		return "", err
	}
	if f, ok := fc.get(folderID); ok {
		return f.Kind, nil
	}
	return "", errs.New(errs.NotFound, "folder "+folderID+" of mailbox "+mb+" was not found", "list the folders again")
}

// ReadItem reads an item in its standard format: mail as MIME, calendar
// items as iCalendar, contacts and groups as vCards. A ref without a kind
// is looked up first.
func (c *Connector) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	mb := mailboxKey(mailboxID)
	if mb == "" || ref.ID == "" {
		return platform.Item{}, errs.New(errs.NotFound, "the mailbox or item id is empty", "list the items again")
	}
	kind := ref.Kind
	if kind == "" {
		var err error
		if kind, err = c.kindOfItem(ctx, mb, ref.ID); err != nil {
			return platform.Item{}, err
		}
		ref.Kind = kind
	}
	switch kind {
	case platform.Event:
		return c.readEvent(ctx, mb, ref)
	case platform.Contact:
		return c.readContact(ctx, mb, ref)
	}
	return c.readMail(ctx, mb, ref)
}

// getOne reads one item in a shape.
func (c *Connector) getOne(ctx context.Context, mb, id string, shape soap.ItemShape) (soap.AnyItem, error) {
	w := what{mailbox: mb, thing: "item " + id}
	var resp soap.GetItemResponse
	if err := c.call(ctx, mb, &soap.GetItem{ItemShape: shape, ItemIDs: *soap.ItemList(soap.ItemID{ID: id})}, &resp); err != nil {
		return soap.AnyItem{}, err
	}
	if err := soap.Check("GetItem", resp.ResponseMessages.Messages); err != nil {
		return soap.AnyItem{}, c.fail(err, w)
	}
	if len(resp.ResponseMessages.Messages) != 1 || len(resp.ResponseMessages.Messages[0].Items.Items) != 1 {
		return soap.AnyItem{}, errs.New(errs.NotFound, w.String()+" was not found", "list the items again")
	}
	it := resp.ResponseMessages.Messages[0].Items.Items[0]
	if f := it.Fields(); f == nil || f.ItemID == nil {
		return soap.AnyItem{}, errs.New(errs.Internal, "Exchange returned "+w.String()+" without its id", "report this to mailferry support")
	}
	return it, nil
}

func (c *Connector) kindOfItem(ctx context.Context, mb, id string) (platform.ItemKind, error) {
	it, err := c.getOne(ctx, mb, id, soap.ItemShape{BaseShape: soap.ShapeIDOnly})
	if err != nil {
		return "", err
	}
	switch {
	case it.CalendarItem != nil:
		return platform.Event, nil
	case it.Contact != nil || it.DistributionList != nil:
		return platform.Contact, nil
	}
	return platform.Mail, nil
}

// WriteItem stores an item in a folder with the migration marker and the
// source's version, unless the folder already holds that version, whose id
// it returns: mail as MIME (writeMail), calendar items from iCalendar
// (writeEvent), contacts and groups from vCards (writeContact).
func (c *Connector) WriteItem(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	if marker == "" {
		return "", errs.Field("marker", "every write needs a migration marker so that a re-run finds it")
	}
	mb := mailboxKey(mailboxID)
	if mb == "" || folderID == "" {
		return "", errs.New(errs.NotFound, "the mailbox or folder id is empty", "list the folders again")
	}
	kind := item.Ref.Kind
	switch item.ContentType {
	case platform.ContentCalendar:
		kind = platform.Event
	case platform.ContentVCard:
		kind = platform.Contact
	case platform.ContentMIME:
		kind = platform.Mail
	}
	switch kind {
	case platform.Event:
		return c.writeEvent(ctx, mb, folderID, item, marker)
	case platform.Contact:
		return c.writeContact(ctx, mb, folderID, item, marker)
	}
	return c.writeMail(ctx, mb, folderID, item, marker)
}

// tooLarge refuses an item over the size limit, naming its size.
func (c *Connector) tooLarge(item platform.Item) error {
	if size := int64(len(item.Content)); size > c.cfg.MaxItemBytes {
		return errs.New(errs.ItemTooLarge,
			fmt.Sprintf("the item is %d bytes, over the limit of %d bytes this Exchange takes through EWS", size, c.cfg.MaxItemBytes),
			"the item is listed in the reconciliation report; move it by hand or reduce its attachments")
	}
	return nil
}

// create sends a CreateItem of one item and returns its id. An answer
// lost on the way (the connection dropped after the request was sent) may
// hide a stored item: the folder is searched for the marker before the
// failure is reported, so the caller's retry never stores it twice.
func (c *Connector) create(ctx context.Context, mb, folderID, marker, version string, req *soap.CreateItem, w what) (string, error) {
	var resp soap.CreateItemResponse
	// Patient: a write refused with ErrorServerBusy stored nothing, and
	// waiting here spares the marker searches a retry of the whole item
	// repeats (under a spent budget, more than half the requests).
	err := c.patient(ctx, mb, req, &resp)
	if err != nil {
		if lostAnswer(err) && ctx.Err() == nil {
			if marker != "" {
				if id, ok, ferr := c.findInFolderPatiently(ctx, mb, folderID, marker, version); ferr == nil && ok {
					return id, nil
				}
			}
		}
		return "", err
	}
	if err := soap.Check("CreateItem", resp.ResponseMessages.Messages); err != nil {
		return "", c.fail(err, w)
	}
	if len(resp.ResponseMessages.Messages) != 1 || len(resp.ResponseMessages.Messages[0].Items.Items) != 1 {
		return "", errs.New(errs.Internal, "Exchange created "+w.String()+" without saying its id", "report this to mailferry support")
	}
	f := resp.ResponseMessages.Messages[0].Items.Items[0].Fields()
	if f == nil || f.ItemID == nil {
		return "", errs.New(errs.Internal, "Exchange created "+w.String()+" without saying its id", "report this to mailferry support")
	}
	return f.ItemID.ID, nil
}

// findInFolderPatiently is findInFolder waiting out throttling: after a
// lost answer the search decides whether an item exists.
func (c *Connector) findInFolderPatiently(ctx context.Context, mb, folderID, marker, version string) (string, bool, error) {
	var id string
	var ok bool
	err := c.retryThrottled(ctx, func() error {
		var err error
		id, ok, err = c.searchFolder(ctx, mb, folderID, marker, version)
		return err
	})
	return id, ok, err
}
