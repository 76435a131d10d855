package soap

import "encoding/xml"

// ResponseMessage is the status every per-item response message carries.
type ResponseMessage struct {
	ResponseClass string      `xml:"ResponseClass,attr"`
	MessageText   string      `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MessageText,omitempty"`
	ResponseCode  string      `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseCode,omitempty"`
	MessageXML    *MessageXML `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MessageXml,omitempty"`
}

// MessageXML carries name/value details of an error (BackOffMilliseconds).
type MessageXML struct {
	Value []struct {
		Name  string `xml:"Name,attr"`
		Value string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Value"`
}

// Status returns the message's status, so every response message type
// can be checked alike.
func (r ResponseMessage) Status() *ResponseMessage { return &r }

// OK is a success response message.
func OK() ResponseMessage { return ResponseMessage{ResponseClass: "Success", ResponseCode: "NoError"} }

// Fail is an error response message.
func Fail(code, text string) ResponseMessage {
	return ResponseMessage{ResponseClass: "Error", ResponseCode: code, MessageText: text}
}

// GetFolder reads folders.
type GetFolder struct {
	XMLName     xml.Name    `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetFolder"`
	FolderShape FolderShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FolderShape"`
	FolderIDs   FolderIDs   `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FolderIds"`
}

// FolderInfoResponseMessage answers one folder of GetFolder or
// CreateFolder.
type FolderInfoResponseMessage struct {
	ResponseMessage
	Folders *Folders `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Folders,omitempty"`
}

// GetFolderResponse answers GetFolder.
type GetFolderResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetFolderResponse"`
	ResponseMessages struct {
		Messages []FolderInfoResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetFolderResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// FindFolder lists the folders under parents.
type FindFolder struct {
	XMLName               xml.Name         `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindFolder"`
	Traversal             string           `xml:"Traversal,attr"`
	FolderShape           FolderShape      `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FolderShape"`
	IndexedPageFolderView *IndexedPageView `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IndexedPageFolderView,omitempty"`
	Restriction           *Restriction     `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Restriction,omitempty"`
	ParentFolderIDs       FolderIDs        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`
}

// FindFolderParent is a page of folders.
type FindFolderParent struct {
	IndexedPagingOffset     *int     `xml:"IndexedPagingOffset,attr,omitempty"`
	IncludesLastItemInRange *bool    `xml:"IncludesLastItemInRange,attr,omitempty"`
	TotalItemsInView        *int     `xml:"TotalItemsInView,attr,omitempty"`
	Folders                 *Folders `xml:"http://schemas.microsoft.com/exchange/services/2006/types Folders,omitempty"`
}

// FindFolderResponseMessage answers one parent of FindFolder.
type FindFolderResponseMessage struct {
	ResponseMessage
	RootFolder *FindFolderParent `xml:"http://schemas.microsoft.com/exchange/services/2006/messages RootFolder,omitempty"`
}

// FindFolderResponse answers FindFolder.
type FindFolderResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindFolderResponse"`
	ResponseMessages struct {
		Messages []FindFolderResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindFolderResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// CreateFolder creates folders under a parent.
type CreateFolder struct {
	XMLName        xml.Name       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateFolder"`
	ParentFolderID TargetFolderID `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderId"`
	Folders        Folders        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Folders"`
}

// CreateFolderResponse answers CreateFolder.
type CreateFolderResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateFolderResponse"`
	ResponseMessages struct {
		Messages []FolderInfoResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateFolderResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// FindItem lists the items of folders.
type FindItem struct {
	XMLName             xml.Name         `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItem"`
	Traversal           string           `xml:"Traversal,attr"`
	ItemShape           ItemShape        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	IndexedPageItemView *IndexedPageView `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IndexedPageItemView,omitempty"`
	Restriction         *Restriction     `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Restriction,omitempty"`
	SortOrder           *SortOrder       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SortOrder,omitempty"`
	ParentFolderIDs     FolderIDs        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ParentFolderIds"`
}

// FindItemParent is a page of items.
type FindItemParent struct {
	IndexedPagingOffset     *int   `xml:"IndexedPagingOffset,attr,omitempty"`
	IncludesLastItemInRange *bool  `xml:"IncludesLastItemInRange,attr,omitempty"`
	TotalItemsInView        *int   `xml:"TotalItemsInView,attr,omitempty"`
	Items                   *Items `xml:"http://schemas.microsoft.com/exchange/services/2006/types Items"`
}

// FindItemResponseMessage answers one folder of FindItem.
type FindItemResponseMessage struct {
	ResponseMessage
	RootFolder *FindItemParent `xml:"http://schemas.microsoft.com/exchange/services/2006/messages RootFolder,omitempty"`
}

// FindItemResponse answers FindItem.
type FindItemResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItemResponse"`
	ResponseMessages struct {
		Messages []FindItemResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FindItemResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// GetItem reads items.
type GetItem struct {
	XMLName   xml.Name  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetItem"`
	ItemShape ItemShape `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	ItemIDs   ItemIDs   `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
}

// ItemInfoResponseMessage answers one item of GetItem or CreateItem.
type ItemInfoResponseMessage struct {
	ResponseMessage
	Items Items `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Items"`
}

// GetItemResponse answers GetItem.
type GetItemResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetItemResponse"`
	ResponseMessages struct {
		Messages []ItemInfoResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages GetItemResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// CreateItem creates items. MessageDisposition SaveOnly stores mail
// without sending; SendMeetingInvitations is required for calendar items
// (SendToNone for migrations).
type CreateItem struct {
	XMLName                xml.Name        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateItem"`
	MessageDisposition     string          `xml:"MessageDisposition,attr,omitempty"`
	SendMeetingInvitations string          `xml:"SendMeetingInvitations,attr,omitempty"`
	SavedItemFolderID      *TargetFolderID `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SavedItemFolderId,omitempty"`
	Items                  Items           `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Items"`
}

// CreateItemResponse answers CreateItem.
type CreateItemResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateItemResponse"`
	ResponseMessages struct {
		Messages []ItemInfoResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages CreateItemResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// SetItemField replaces one property: the path names it and the item
// (of the right kind) carries its new value.
type SetItemField struct {
	Path
	Item             *Item             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Item,omitempty"`
	Message          *Message          `xml:"http://schemas.microsoft.com/exchange/services/2006/types Message,omitempty"`
	CalendarItem     *CalendarItem     `xml:"http://schemas.microsoft.com/exchange/services/2006/types CalendarItem,omitempty"`
	Contact          *Contact          `xml:"http://schemas.microsoft.com/exchange/services/2006/types Contact,omitempty"`
	DistributionList *DistributionList `xml:"http://schemas.microsoft.com/exchange/services/2006/types DistributionList,omitempty"`
}

// Value is the item carrying the new value.
func (s SetItemField) Value() AnyItem {
	return AnyItem{Item: s.Item, Message: s.Message, CalendarItem: s.CalendarItem, Contact: s.Contact, DistributionList: s.DistributionList}
}

// DeleteItemField clears one property.
type DeleteItemField struct {
	Path
}

// ItemChange is the list of property changes of one item.
type ItemChange struct {
	ItemID           *ItemID           `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId,omitempty"`
	OccurrenceItemID *OccurrenceItemID `xml:"http://schemas.microsoft.com/exchange/services/2006/types OccurrenceItemId,omitempty"`
	Updates          struct {
		AppendToItemField []SetItemField    `xml:"http://schemas.microsoft.com/exchange/services/2006/types AppendToItemField,omitempty"`
		SetItemField      []SetItemField    `xml:"http://schemas.microsoft.com/exchange/services/2006/types SetItemField,omitempty"`
		DeleteItemField   []DeleteItemField `xml:"http://schemas.microsoft.com/exchange/services/2006/types DeleteItemField,omitempty"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types Updates"`
}

// UpdateItem changes properties of items. ConflictResolution is
// NeverOverwrite, AutoResolve or AlwaysOverwrite.
type UpdateItem struct {
	XMLName                               xml.Name    `xml:"http://schemas.microsoft.com/exchange/services/2006/messages UpdateItem"`
	ConflictResolution                    string      `xml:"ConflictResolution,attr"`
	MessageDisposition                    string      `xml:"MessageDisposition,attr,omitempty"`
	SendMeetingInvitationsOrCancellations string      `xml:"SendMeetingInvitationsOrCancellations,attr,omitempty"`
	ItemChanges                           ItemChanges `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemChanges"`
}

// ItemChanges is the non-empty list of an UpdateItem.
type ItemChanges struct {
	ItemChange []ItemChange `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemChange"`
}

// UpdateItemResponseMessage answers one change of UpdateItem.
type UpdateItemResponseMessage struct {
	ResponseMessage
	Items           Items `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Items"`
	ConflictResults *struct {
		Count int `xml:"http://schemas.microsoft.com/exchange/services/2006/types Count"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ConflictResults,omitempty"`
}

// UpdateItemResponse answers UpdateItem.
type UpdateItemResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages UpdateItemResponse"`
	ResponseMessages struct {
		Messages []UpdateItemResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages UpdateItemResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// DeleteItem deletes items: HardDelete, SoftDelete or MoveToDeletedItems.
// SendMeetingCancellations is required for calendar items.
type DeleteItem struct {
	XMLName                  xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages DeleteItem"`
	DeleteType               string   `xml:"DeleteType,attr"`
	SendMeetingCancellations string   `xml:"SendMeetingCancellations,attr,omitempty"`
	ItemIDs                  ItemIDs  `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemIds"`
}

// DeleteItemResponse answers DeleteItem.
type DeleteItemResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages DeleteItemResponse"`
	ResponseMessages struct {
		Messages []ResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages DeleteItemResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// SyncFolderHierarchy reports folder changes since SyncState.
type SyncFolderHierarchy struct {
	XMLName      xml.Name        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderHierarchy"`
	FolderShape  FolderShape     `xml:"http://schemas.microsoft.com/exchange/services/2006/messages FolderShape"`
	SyncFolderID *TargetFolderID `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderId,omitempty"`
	SyncState    string          `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncState,omitempty"`
}

// SyncChange is one entry of a sync response: Kind is Create, Update,
// Delete or ReadFlagChange. Creates and updates carry the item or folder;
// deletes and read flag changes carry the id.
type SyncChange struct {
	Kind     string
	Item     AnyItem
	Folder   *Folder
	ItemID   *ItemID
	FolderID *FolderID
	IsRead   bool
}

// SyncChanges keeps changes in order, as the schema's choice list does.
type SyncChanges struct {
	Changes []SyncChange
}

// MarshalXML writes the changes in order.
func (s SyncChanges) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	t := func(l string) xml.StartElement { return xml.StartElement{Name: xml.Name{Space: NSTypes, Local: l}} }
	for _, c := range s.Changes {
		st := t(c.Kind)
		if err := e.EncodeToken(st); err != nil {
			return err
		}
		var err error
		switch {
		case c.Folder != nil:
			err = c.Folder.MarshalXML(e, xml.StartElement{})
		case c.Item.Kind() != "":
			err = c.Item.MarshalXML(e, xml.StartElement{})
		case c.FolderID != nil:
			err = e.EncodeElement(c.FolderID, t("FolderId"))
		case c.ItemID != nil:
			err = e.EncodeElement(c.ItemID, t("ItemId"))
			if err == nil && c.Kind == "ReadFlagChange" {
				err = e.EncodeElement(c.IsRead, t("IsRead"))
			}
		}
		if err != nil {
			return err
		}
		if err := e.EncodeToken(st.End()); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// UnmarshalXML reads the changes in order.
func (s *SyncChanges) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			c := SyncChange{Kind: t.Name.Local}
			if err := c.decode(d); err != nil {
				return err
			}
			s.Changes = append(s.Changes, c)
		case xml.EndElement:
			return nil
		}
	}
}

func (c *SyncChange) decode(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "ItemId":
				c.ItemID = &ItemID{}
				err = d.DecodeElement(c.ItemID, &t)
			case "FolderId":
				c.FolderID = &FolderID{}
				err = d.DecodeElement(c.FolderID, &t)
			case "IsRead":
				err = d.DecodeElement(&c.IsRead, &t)
			case "Folder", "CalendarFolder", "ContactsFolder", "TasksFolder", "SearchFolder":
				c.Folder = &Folder{}
				err = c.Folder.UnmarshalXML(d, t)
			default:
				err = c.Item.UnmarshalXML(d, t)
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// SyncFolderHierarchyResponseMessage is the page of folder changes.
type SyncFolderHierarchyResponseMessage struct {
	ResponseMessage
	SyncState                 string       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncState,omitempty"`
	IncludesLastFolderInRange *bool        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IncludesLastFolderInRange,omitempty"`
	Changes                   *SyncChanges `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Changes,omitempty"`
}

// SyncFolderHierarchyResponse answers SyncFolderHierarchy.
type SyncFolderHierarchyResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderHierarchyResponse"`
	ResponseMessages struct {
		Messages []SyncFolderHierarchyResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderHierarchyResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// SyncFolderItems reports item changes of one folder since SyncState.
type SyncFolderItems struct {
	XMLName      xml.Name       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderItems"`
	ItemShape    ItemShape      `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ItemShape"`
	SyncFolderID TargetFolderID `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderId"`
	SyncState    string         `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncState,omitempty"`
	Ignore       *struct {
		ItemID []ItemID `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Ignore,omitempty"`
	MaxChangesReturned int    `xml:"http://schemas.microsoft.com/exchange/services/2006/messages MaxChangesReturned"`
	SyncScope          string `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncScope,omitempty"`
}

// SyncFolderItemsResponseMessage is the page of item changes.
type SyncFolderItemsResponseMessage struct {
	ResponseMessage
	SyncState               string       `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncState,omitempty"`
	IncludesLastItemInRange *bool        `xml:"http://schemas.microsoft.com/exchange/services/2006/messages IncludesLastItemInRange,omitempty"`
	Changes                 *SyncChanges `xml:"http://schemas.microsoft.com/exchange/services/2006/messages Changes,omitempty"`
}

// SyncFolderItemsResponse answers SyncFolderItems.
type SyncFolderItemsResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderItemsResponse"`
	ResponseMessages struct {
		Messages []SyncFolderItemsResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages SyncFolderItemsResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}

// ResolveNames looks up mailboxes and contacts by (part of) a name or
// address; "SMTP:" finds the exact address.
type ResolveNames struct {
	XMLName               xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResolveNames"`
	ReturnFullContactData bool     `xml:"ReturnFullContactData,attr"`
	SearchScope           string   `xml:"SearchScope,attr,omitempty"`
	UnresolvedEntry       string   `xml:"http://schemas.microsoft.com/exchange/services/2006/messages UnresolvedEntry"`
}

// Resolution is one match of ResolveNames.
type Resolution struct {
	Mailbox EmailAddress `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox"`
	Contact *Contact     `xml:"http://schemas.microsoft.com/exchange/services/2006/types Contact,omitempty"`
}

// ResolveNamesResponseMessage answers ResolveNames; ErrorNameResolutionNoResults
// when nothing matched, ErrorNameResolutionMultipleResults (a warning,
// with the matches) when several did.
type ResolveNamesResponseMessage struct {
	ResponseMessage
	ResolutionSet *struct {
		IncludesLastItemInRange *bool        `xml:"IncludesLastItemInRange,attr,omitempty"`
		TotalItemsInView        *int         `xml:"TotalItemsInView,attr,omitempty"`
		Resolution              []Resolution `xml:"http://schemas.microsoft.com/exchange/services/2006/types Resolution"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResolutionSet,omitempty"`
}

// ResolveNamesResponse answers ResolveNames.
type ResolveNamesResponse struct {
	XMLName          xml.Name `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResolveNamesResponse"`
	ResponseMessages struct {
		Messages []ResolveNamesResponseMessage `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResolveNamesResponseMessage"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/messages ResponseMessages"`
}
