package ews

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
)

// resolveCap is the most ResolveNames answers with, on every Exchange
// version.
const resolveCap = 100

// prefixAlphabet are the characters discovery extends prefixes with.
const prefixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// maxPrefixDepth bounds how deep discovery goes below a prefix that still
// fills an answer.
const maxPrefixDepth = 8

// ListMailboxes lists the organisation's mailboxes. With a configured list
// (the mailboxes field, or a CSV turned into it) that list is the answer.
// Otherwise EWS, which has no call listing a directory, is asked with
// ResolveNames (ambiguous name resolution over addresses, account names
// and display names, in Active Directory only) for every prefix a-z and
// 0-9, and for every prefix that fills an answer (Exchange returns at most
// 100) again with one more character, until every answer is complete.
// Only mailboxes (not contacts or groups) are kept, once each, by primary
// SMTP address, which is the mailbox id. A walk is reused by the
// connectors of the process for directoryTTL.
func (c *Connector) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	if len(c.cfg.Mailboxes) > 0 {
		out := make([]platform.Mailbox, 0, len(c.cfg.Mailboxes))
		seen := map[string]bool{}
		for _, m := range c.cfg.Mailboxes {
			if m == "" || seen[m] {
				continue
			}
			seen[m] = true
			out = append(out, platform.Mailbox{ID: m, PrimaryAddress: m})
		}
		return out, nil
	}
	// Every transfer job resolves its destination mailbox from this list,
	// and every job opens its own connector: a directory walk is shared by
	// the jobs of one process for a short while rather than repeated by
	// each (hundreds of ResolveNames calls in a large organisation).
	e := directory.entry(c.cfg.URL + "\x00" + strings.ToLower(c.cfg.Username))
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mbs != nil && time.Since(e.at) < directoryTTL {
		return slices.Clone(e.mbs), nil
	}
	found := map[string]platform.Mailbox{}
	var order []string
	var walk func(prefix string) error
	walk = func(prefix string) error {
		res, complete, err := c.resolve(ctx, prefix)
		if err != nil {
			return err
		}
		for _, m := range res {
			if _, ok := found[m.ID]; !ok {
				found[m.ID] = m
				order = append(order, m.ID)
			}
		}
		if complete || len(prefix) >= maxPrefixDepth {
			return nil
		}
		for _, ch := range prefixAlphabet {
			if err := walk(prefix + string(ch)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, ch := range prefixAlphabet {
		if err := walk(string(ch)); err != nil {
			return nil, err
		}
	}
	out := make([]platform.Mailbox, 0, len(order))
	for _, id := range order {
		out = append(out, found[id])
	}
	slices.SortFunc(out, func(a, b platform.Mailbox) int { return strings.Compare(a.ID, b.ID) })
	e.mbs, e.at = out, time.Now()
	return slices.Clone(out), nil
}

// directoryTTL is how long a directory walk is reused within a process.
const directoryTTL = 2 * time.Minute

// directory holds the last walk of each organisation (EWS URL and
// account), shared by the connectors of one process.
var directory = &directoryCache{m: map[string]*directoryEntry{}}

type directoryCache struct {
	mu sync.Mutex
	m  map[string]*directoryEntry
}

type directoryEntry struct {
	mu  sync.Mutex // held during a walk, so concurrent jobs wait for one
	at  time.Time
	mbs []platform.Mailbox
}

func (d *directoryCache) entry(key string) *directoryEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.m[key]
	if e == nil {
		e = &directoryEntry{}
		d.m[key] = e
	}
	return e
}

// resolve asks ResolveNames for a prefix; complete is false when the
// answer is capped.
func (c *Connector) resolve(ctx context.Context, prefix string) ([]platform.Mailbox, bool, error) {
	var resp soap.ResolveNamesResponse
	if err := c.call(ctx, "", &soap.ResolveNames{SearchScope: "ActiveDirectory", UnresolvedEntry: prefix}, &resp); err != nil {
		return nil, false, err
	}
	if len(resp.ResponseMessages.Messages) == 0 {
		return nil, true, nil
	}
	m := resp.ResponseMessages.Messages[0]
	if m.ResponseCode == "ErrorNameResolutionNoResults" {
		return nil, true, nil
	}
	if err := soap.CheckOne("ResolveNames", m); err != nil {
		return nil, false, c.fail(err, what{thing: "the directory"})
	}
	if m.ResolutionSet == nil {
		return nil, true, nil
	}
	var out []platform.Mailbox
	for _, r := range m.ResolutionSet.Resolution {
		addr := strings.ToLower(strings.TrimSpace(r.Mailbox.EmailAddress))
		if addr == "" || !strings.Contains(addr, "@") || (r.Mailbox.MailboxType != "" && r.Mailbox.MailboxType != "Mailbox") {
			continue
		}
		out = append(out, platform.Mailbox{ID: addr, PrimaryAddress: addr, DisplayName: r.Mailbox.Name})
	}
	n := len(m.ResolutionSet.Resolution)
	complete := n < resolveCap
	if inc := m.ResolutionSet.IncludesLastItemInRange; inc != nil {
		complete = *inc && n < resolveCap
	}
	return out, complete, nil
}

// Stats counts a mailbox's items and sizes from its folders: TotalCount
// and PR_MESSAGE_SIZE_EXTENDED of every listed folder, both exact, and the
// largest item of each non-empty folder by one FindItem sorted by size.
func (c *Connector) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	mb := mailboxKey(mailboxID)
	fc, err := c.listing(ctx, mb, 0)
	if err != nil {
		return platform.Stats{}, err
	}
	fc.mu.Lock()
	folders := slices.Clone(fc.folders)
	var st platform.Stats
	var nonEmpty []string
	for _, f := range folders {
		n := fc.total[f.ID]
		switch f.Kind {
		case platform.Mail:
			st.Mail += n
		case platform.Event:
			st.Events += n
		case platform.Contact:
			st.Contacts += n
		}
		st.SizeBytes += fc.size[f.ID]
		if n > 0 {
			nonEmpty = append(nonEmpty, f.ID)
		}
	}
	fc.mu.Unlock()
	st.Folders = len(folders)
	for len(nonEmpty) > 0 {
		n := min(len(nonEmpty), markerBatch)
		largest, err := c.largest(ctx, mb, nonEmpty[:n])
		if err != nil {
			return platform.Stats{}, err
		}
		st.LargestItem = max(st.LargestItem, largest)
		nonEmpty = nonEmpty[n:]
	}
	return st, nil
}

// largest is the size of the biggest item of some folders.
func (c *Connector) largest(ctx context.Context, mb string, folderIDs []string) (int64, error) {
	req := &soap.FindItem{Traversal: "Shallow", ItemShape: syncShape,
		IndexedPageItemView: &soap.IndexedPageView{MaxEntriesReturned: 1, BasePoint: "Beginning"},
		SortOrder:           &soap.SortOrder{FieldOrder: []soap.FieldOrder{{Path: soap.Field("item:Size"), Order: "Descending"}}}}
	for _, id := range folderIDs {
		req.ParentFolderIDs.FolderID = append(req.ParentFolderIDs.FolderID, soap.FolderID{ID: id})
	}
	var resp soap.FindItemResponse
	// A later step of Stats, after the listing: patient like the
	// listing's own (readFolders).
	if err := c.patient(ctx, mb, req, &resp); err != nil {
		return 0, err
	}
	var most int64
	for i, m := range resp.ResponseMessages.Messages {
		if err := soap.CheckOne("FindItem", m); err != nil {
			if ferr := c.fail(err, what{mailbox: mb, thing: "folder " + folderIDs[min(i, len(folderIDs)-1)]}); !errs.Is(ferr, errs.NotFound) {
				return 0, ferr
			}
			continue
		}
		if m.RootFolder == nil || m.RootFolder.Items == nil {
			continue
		}
		for _, it := range m.RootFolder.Items.Items {
			if f := it.Fields(); f != nil {
				most = max(most, int64(derefInt(f.Size)))
			}
		}
	}
	return most, nil
}
