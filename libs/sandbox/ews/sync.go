package ews

import (
	"slices"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// syncFolderItems reports the changes of one folder since a sync state, in
// the order they happened, at most MaxChangesReturned at a time. An item
// is reported once, by its latest change: created since the state (Create),
// changed (Update), only its read flag changed (ReadFlagChange), or gone
// (Delete, for items the state had seen).
func (c *call) syncFolderItems() (any, *soap.Fault) {
	var req soap.SyncFolderItems
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	if _, f := c.lock(); f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.SyncFolderItemsResponse
	add := func(m soap.SyncFolderItemsResponseMessage) {
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, m)
	}
	fo, e := c.target(&req.SyncFolderID)
	if e != nil {
		if e.ResponseCode == "ErrorFolderNotFound" {
			e.ResponseCode = "ErrorSyncFolderNotFound"
		}
		add(soap.SyncFolderItemsResponseMessage{ResponseMessage: *e})
		return &resp, nil
	}
	if req.MaxChangesReturned < 1 || req.MaxChangesReturned > 512 {
		add(soap.SyncFolderItemsResponseMessage{ResponseMessage: soap.Fail("ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512.")})
		return &resp, nil
	}
	scope := "i:" + fo.id
	since, ok := parseSyncState(req.SyncState, scope)
	if !ok {
		add(soap.SyncFolderItemsResponseMessage{ResponseMessage: soap.Fail("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.")})
		return &resp, nil
	}
	ignore := map[string]bool{}
	if req.Ignore != nil {
		for _, id := range req.Ignore.ItemID {
			ignore[id.ID] = true
		}
	}
	type entry struct {
		seq  uint64
		it   *item
		kind string
		tomb *tomb
	}
	// Each entry is ordered by the first change the state has not seen,
	// so a page cut at a position never hides a creation behind a later
	// update; changes after the cut come again on the next page.
	var entries []entry
	for _, it := range fo.items {
		if ignore[it.id] {
			continue
		}
		switch {
		case it.arrived > since:
			entries = append(entries, entry{seq: it.arrived, it: it, kind: "Create"})
		case it.changed > since:
			entries = append(entries, entry{seq: it.changed, it: it, kind: "Update"})
		case it.readChanged > since && it.data.Message != nil:
			entries = append(entries, entry{seq: it.readChanged, it: it, kind: "ReadFlagChange"})
		}
	}
	for i := range fo.tombs {
		t := &fo.tombs[i]
		if t.seq > since && t.arrived <= since {
			entries = append(entries, entry{seq: t.seq, kind: "Delete", tomb: t})
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	last := true
	if len(entries) > req.MaxChangesReturned {
		entries, last = entries[:req.MaxChangesReturned], false
	}
	state := c.mbx.seq
	if !last {
		state = entries[len(entries)-1].seq
	}
	changes := make([]soap.SyncChange, 0, len(entries))
	for _, en := range entries {
		switch en.kind {
		case "Delete":
			changes = append(changes, soap.SyncChange{Kind: "Delete", ItemID: &soap.ItemID{ID: en.tomb.id}})
		case "ReadFlagChange":
			read := en.it.data.Message.IsRead != nil && *en.it.data.Message.IsRead
			changes = append(changes, soap.SyncChange{Kind: "ReadFlagChange", ItemID: en.it.itemID(), IsRead: read})
		default:
			changes = append(changes, soap.SyncChange{Kind: en.kind, Item: c.itemView(en.it, req.ItemShape, true)})
		}
	}
	add(soap.SyncFolderItemsResponseMessage{ResponseMessage: soap.OK(), SyncState: syncState(scope, state),
		IncludesLastItemInRange: soap.Bool(last), Changes: &soap.SyncChanges{Changes: changes}})
	return &resp, nil
}
