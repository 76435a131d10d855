package ews

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailferry/mailferry/libs/ews/soap"
)

// folderView renders a folder in a shape.
func folderView(f *folder, shape soap.FolderShape) soap.Folder {
	out := soap.Folder{Kind: f.kind, FolderID: f.folderID()}
	full := shape.BaseShape == soap.ShapeAllProperties
	if shape.BaseShape != soap.ShapeIDOnly {
		out.DisplayName = f.name
		out.TotalCount = soap.Int(len(f.items))
		out.ChildFolderCount = soap.Int(len(f.children))
		out.UnreadCount = soap.Int(f.unread())
	}
	if full {
		if f.parent != nil {
			out.ParentFolderID = f.parent.folderID()
		}
		out.FolderClass = f.class
	}
	if ap := shape.AdditionalProperties; ap != nil {
		for _, p := range ap.FieldURI {
			switch p.FieldURI {
			case "folder:DisplayName":
				out.DisplayName = f.name
			case "folder:FolderClass":
				out.FolderClass = f.class
			case "folder:ParentFolderId":
				if f.parent != nil {
					out.ParentFolderID = f.parent.folderID()
				}
			case "folder:TotalCount":
				out.TotalCount = soap.Int(len(f.items))
			case "folder:ChildFolderCount":
				out.ChildFolderCount = soap.Int(len(f.children))
			case "folder:UnreadCount":
				out.UnreadCount = soap.Int(f.unread())
			}
		}
	}
	if ap := shape.AdditionalProperties; ap != nil {
		for _, p := range ap.ExtendedFieldURI {
			// PR_MESSAGE_SIZE_EXTENDED of a folder is the total size
			// of its items, as the store reports it.
			if p.Key() == tagMessageSizeExtended {
				var total int64
				for _, it := range f.items {
					total += int64(it.size)
				}
				out.ExtendedProperty = append(out.ExtendedProperty, soap.NewExtendedProperty(p, strconv.FormatInt(total, 10)))
			}
		}
	}
	if out.DisplayName == "" && f.distinguished == "root" && shape.BaseShape != soap.ShapeIDOnly {
		out.DisplayName = "Root"
	}
	return out
}

func (c *call) getFolder() (any, *soap.Fault) {
	var req soap.GetFolder
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	m, f := c.lock()
	if f != nil {
		return nil, f
	}
	defer c.unlock()
	_ = m
	var resp soap.GetFolderResponse
	fs, errs := c.folderList(req.FolderIDs)
	for i, fo := range fs {
		if errs[i] != nil {
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FolderInfoResponseMessage{ResponseMessage: *errs[i]})
			continue
		}
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FolderInfoResponseMessage{
			ResponseMessage: soap.OK(), Folders: &soap.Folders{Folders: []soap.Folder{folderView(fo, req.FolderShape)}}})
	}
	return &resp, nil
}

func (c *call) findFolder() (any, *soap.Fault) {
	var req soap.FindFolder
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	if _, f := c.lock(); f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.FindFolderResponse
	fs, errs := c.folderList(req.ParentFolderIDs)
	for i, parent := range fs {
		if errs[i] != nil {
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FindFolderResponseMessage{ResponseMessage: *errs[i]})
			continue
		}
		var all []*folder
		switch req.Traversal {
		case "Deep":
			parent.walk(func(f *folder) { all = append(all, f) })
		case "Shallow":
			all = append(all, parent.children...)
		default:
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FindFolderResponseMessage{
				ResponseMessage: soap.Fail("ErrorInvalidRequest", "Traversal "+req.Traversal+" is not supported for FindFolder.")})
			continue
		}
		offset, n := 0, len(all)
		if v := req.IndexedPageFolderView; v != nil {
			if v.MaxEntriesReturned > 0 {
				n = v.MaxEntriesReturned
			}
			offset = v.Offset
			if v.BasePoint == "End" {
				offset = max(len(all)-v.Offset-n, 0)
			}
		}
		page := window(all, offset, n)
		views := make([]soap.Folder, 0, len(page))
		for _, f := range page {
			views = append(views, folderView(f, req.FolderShape))
		}
		next := offset + len(page)
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FindFolderResponseMessage{
			ResponseMessage: soap.OK(),
			RootFolder: &soap.FindFolderParent{IndexedPagingOffset: soap.Int(next), TotalItemsInView: soap.Int(len(all)),
				IncludesLastItemInRange: soap.Bool(next >= len(all)), Folders: &soap.Folders{Folders: views}},
		})
	}
	return &resp, nil
}

func window[T any](all []T, offset, n int) []T {
	if offset < 0 {
		offset = 0
	}
	if offset >= len(all) {
		return nil
	}
	end := min(len(all), offset+n)
	return all[offset:end]
}

func (c *call) createFolder() (any, *soap.Fault) {
	var req soap.CreateFolder
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	m, f := c.lock()
	if f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.CreateFolderResponse
	parent, e := c.target(&req.ParentFolderID)
	for _, nf := range req.Folders.Folders {
		if e != nil {
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FolderInfoResponseMessage{ResponseMessage: *e})
			continue
		}
		name := strings.TrimSpace(nf.DisplayName)
		if name == "" {
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FolderInfoResponseMessage{
				ResponseMessage: soap.Fail("ErrorInvalidFolderName", "The folder name is invalid.")})
			continue
		}
		dup := false
		for _, ch := range parent.children {
			if strings.EqualFold(ch.name, name) {
				dup = true
			}
		}
		if dup {
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FolderInfoResponseMessage{
				ResponseMessage: soap.Fail("ErrorFolderExists", "A folder with the specified name already exists.")})
			continue
		}
		kind, class := nf.Kind, nf.FolderClass
		if kind == "" {
			kind = "Folder"
		}
		if class == "" {
			class = map[string]string{"CalendarFolder": "IPF.Appointment", "ContactsFolder": "IPF.Contact", "TasksFolder": "IPF.Task"}[kind]
			if class == "" {
				class = "IPF.Note"
			}
		}
		fo := m.newFolder(parent, name, class, kind)
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.FolderInfoResponseMessage{
			ResponseMessage: soap.OK(), Folders: &soap.Folders{Folders: []soap.Folder{{Kind: kind, FolderID: fo.folderID()}}}})
	}
	return &resp, nil
}

// syncState is an opaque position in a mailbox's change sequence, bound to
// the folder (or hierarchy) it was issued for.
func syncState(scope string, seq uint64) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("MFSS1|%s|%d", scope, seq)))
}

func parseSyncState(s, scope string) (uint64, bool) {
	if s == "" {
		return 0, true
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[0] != "MFSS1" || parts[1] != scope {
		return 0, false
	}
	n, err := strconv.ParseUint(parts[2], 10, 64)
	return n, err == nil
}

func (c *call) syncFolderHierarchy() (any, *soap.Fault) {
	var req soap.SyncFolderHierarchy
	if f := c.decode(&req); f != nil {
		return nil, f
	}
	m, f := c.lock()
	if f != nil {
		return nil, f
	}
	defer c.unlock()
	var resp soap.SyncFolderHierarchyResponse
	top := m.top
	if req.SyncFolderID != nil {
		var e *soap.ResponseMessage
		if top, e = c.target(req.SyncFolderID); e != nil {
			resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.SyncFolderHierarchyResponseMessage{ResponseMessage: *e})
			return &resp, nil
		}
	}
	scope := "h:" + top.id
	since, ok := parseSyncState(req.SyncState, scope)
	if !ok {
		resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, soap.SyncFolderHierarchyResponseMessage{
			ResponseMessage: soap.Fail("ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid.")})
		return &resp, nil
	}
	var changes []soap.SyncChange
	top.walk(func(fo *folder) {
		switch {
		case fo.created > since:
			changes = append(changes, soap.SyncChange{Kind: "Create", Folder: ptr(folderView(fo, req.FolderShape))})
		case fo.changed > since:
			changes = append(changes, soap.SyncChange{Kind: "Update", Folder: ptr(folderView(fo, req.FolderShape))})
		}
	})
	for _, t := range m.folderTombs {
		if t.seq > since && t.arrived <= since {
			changes = append(changes, soap.SyncChange{Kind: "Delete", FolderID: &soap.FolderID{ID: t.id}})
		}
	}
	msg := soap.SyncFolderHierarchyResponseMessage{ResponseMessage: soap.OK(), SyncState: syncState(scope, m.seq),
		IncludesLastFolderInRange: soap.Bool(true), Changes: &soap.SyncChanges{Changes: changes}}
	resp.ResponseMessages.Messages = append(resp.ResponseMessages.Messages, msg)
	return &resp, nil
}

func ptr[T any](v T) *T { return &v }
