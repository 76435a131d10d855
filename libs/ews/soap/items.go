package soap

import (
	"encoding/xml"
	"fmt"
)

// ItemFields are the properties every item has (t:ItemType), in schema
// order. Item kinds embed it first, then add their own.
type ItemFields struct {
	MimeContent                *MimeContent       `xml:"http://schemas.microsoft.com/exchange/services/2006/types MimeContent,omitempty"`
	ItemID                     *ItemID            `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId,omitempty"`
	ParentFolderID             *FolderID          `xml:"http://schemas.microsoft.com/exchange/services/2006/types ParentFolderId,omitempty"`
	ItemClass                  string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemClass,omitempty"`
	Subject                    *string            `xml:"http://schemas.microsoft.com/exchange/services/2006/types Subject,omitempty"`
	Sensitivity                string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Sensitivity,omitempty"`
	Body                       *Body              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Body,omitempty"`
	DateTimeReceived           *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types DateTimeReceived,omitempty"`
	Size                       *int               `xml:"http://schemas.microsoft.com/exchange/services/2006/types Size,omitempty"`
	Categories                 *Strings           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Categories,omitempty"`
	Importance                 string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Importance,omitempty"`
	InReplyTo                  string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types InReplyTo,omitempty"`
	IsSubmitted                *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsSubmitted,omitempty"`
	IsDraft                    *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsDraft,omitempty"`
	IsFromMe                   *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsFromMe,omitempty"`
	IsResend                   *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsResend,omitempty"`
	IsUnmodified               *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsUnmodified,omitempty"`
	DateTimeSent               *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types DateTimeSent,omitempty"`
	DateTimeCreated            *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types DateTimeCreated,omitempty"`
	ReminderDueBy              *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types ReminderDueBy,omitempty"`
	ReminderIsSet              *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types ReminderIsSet,omitempty"`
	ReminderMinutesBeforeStart string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types ReminderMinutesBeforeStart,omitempty"`
	DisplayCc                  *string            `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayCc,omitempty"`
	DisplayTo                  *string            `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayTo,omitempty"`
	HasAttachments             *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types HasAttachments,omitempty"`
	ExtendedProperty           []ExtendedProperty `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedProperty,omitempty"`
	Culture                    string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Culture,omitempty"`
	LastModifiedName           string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types LastModifiedName,omitempty"`
	LastModifiedTime           *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types LastModifiedTime,omitempty"`
	IsAssociated               *bool              `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsAssociated,omitempty"`
	ConversationID             *ItemID            `xml:"http://schemas.microsoft.com/exchange/services/2006/types ConversationId,omitempty"`
	Flag                       *Flag              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Flag,omitempty"`
}

// Base returns the common fields, so code can treat any item kind alike.
func (f *ItemFields) Base() *ItemFields { return f }

// Item is a generic t:Item (an item whose class EWS has no type for).
type Item struct {
	ItemFields
}

// Message is a mail message (t:Message).
type Message struct {
	ItemFields
	Sender                     *SingleRecipient `xml:"http://schemas.microsoft.com/exchange/services/2006/types Sender,omitempty"`
	ToRecipients               *Recipients      `xml:"http://schemas.microsoft.com/exchange/services/2006/types ToRecipients,omitempty"`
	CcRecipients               *Recipients      `xml:"http://schemas.microsoft.com/exchange/services/2006/types CcRecipients,omitempty"`
	BccRecipients              *Recipients      `xml:"http://schemas.microsoft.com/exchange/services/2006/types BccRecipients,omitempty"`
	IsReadReceiptRequested     *bool            `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsReadReceiptRequested,omitempty"`
	IsDeliveryReceiptRequested *bool            `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsDeliveryReceiptRequested,omitempty"`
	ConversationIndex          string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types ConversationIndex,omitempty"`
	ConversationTopic          *string          `xml:"http://schemas.microsoft.com/exchange/services/2006/types ConversationTopic,omitempty"`
	From                       *SingleRecipient `xml:"http://schemas.microsoft.com/exchange/services/2006/types From,omitempty"`
	InternetMessageID          string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types InternetMessageId,omitempty"`
	IsRead                     *bool            `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsRead,omitempty"`
	IsResponseRequested        *bool            `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsResponseRequested,omitempty"`
	References                 string           `xml:"http://schemas.microsoft.com/exchange/services/2006/types References,omitempty"`
	ReplyTo                    *Recipients      `xml:"http://schemas.microsoft.com/exchange/services/2006/types ReplyTo,omitempty"`
}

// Attendee is a meeting attendee with its response.
type Attendee struct {
	Mailbox          EmailAddress `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox"`
	ResponseType     string       `xml:"http://schemas.microsoft.com/exchange/services/2006/types ResponseType,omitempty"`
	LastResponseTime *DateTime    `xml:"http://schemas.microsoft.com/exchange/services/2006/types LastResponseTime,omitempty"`
}

// Attendees is a non-empty attendee list.
type Attendees struct {
	Attendee []Attendee `xml:"http://schemas.microsoft.com/exchange/services/2006/types Attendee"`
}

// IntervalPattern is the body of the daily, weekly and monthly patterns.
type IntervalPattern struct {
	Interval int `xml:"http://schemas.microsoft.com/exchange/services/2006/types Interval"`
}

// WeeklyRecurrence repeats on days of the week.
type WeeklyRecurrence struct {
	Interval       int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types Interval"`
	DaysOfWeek     string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DaysOfWeek"`
	FirstDayOfWeek string `xml:"http://schemas.microsoft.com/exchange/services/2006/types FirstDayOfWeek,omitempty"`
}

// AbsoluteMonthlyRecurrence repeats on a day of the month.
type AbsoluteMonthlyRecurrence struct {
	Interval   int `xml:"http://schemas.microsoft.com/exchange/services/2006/types Interval"`
	DayOfMonth int `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfMonth"`
}

// RelativeMonthlyRecurrence repeats on the n-th weekday of the month.
type RelativeMonthlyRecurrence struct {
	Interval       int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types Interval"`
	DaysOfWeek     string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DaysOfWeek"`
	DayOfWeekIndex string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfWeekIndex"`
}

// AbsoluteYearlyRecurrence repeats on a date each year.
type AbsoluteYearlyRecurrence struct {
	DayOfMonth int    `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfMonth"`
	Month      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Month"`
}

// RelativeYearlyRecurrence repeats on the n-th weekday of a month each
// year.
type RelativeYearlyRecurrence struct {
	DaysOfWeek     string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DaysOfWeek"`
	DayOfWeekIndex string `xml:"http://schemas.microsoft.com/exchange/services/2006/types DayOfWeekIndex"`
	Month          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Month"`
}

// RecurrenceRange is the start date and, per kind, the end date or count.
type RecurrenceRange struct {
	StartDate           Date  `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartDate"`
	EndDate             *Date `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndDate,omitempty"`
	NumberOfOccurrences *int  `xml:"http://schemas.microsoft.com/exchange/services/2006/types NumberOfOccurrences,omitempty"`
}

// Recurrence is one pattern and one range; exactly one field of each group
// is set.
type Recurrence struct {
	RelativeYearlyRecurrence  *RelativeYearlyRecurrence  `xml:"http://schemas.microsoft.com/exchange/services/2006/types RelativeYearlyRecurrence,omitempty"`
	AbsoluteYearlyRecurrence  *AbsoluteYearlyRecurrence  `xml:"http://schemas.microsoft.com/exchange/services/2006/types AbsoluteYearlyRecurrence,omitempty"`
	RelativeMonthlyRecurrence *RelativeMonthlyRecurrence `xml:"http://schemas.microsoft.com/exchange/services/2006/types RelativeMonthlyRecurrence,omitempty"`
	AbsoluteMonthlyRecurrence *AbsoluteMonthlyRecurrence `xml:"http://schemas.microsoft.com/exchange/services/2006/types AbsoluteMonthlyRecurrence,omitempty"`
	WeeklyRecurrence          *WeeklyRecurrence          `xml:"http://schemas.microsoft.com/exchange/services/2006/types WeeklyRecurrence,omitempty"`
	DailyRecurrence           *IntervalPattern           `xml:"http://schemas.microsoft.com/exchange/services/2006/types DailyRecurrence,omitempty"`
	NoEndRecurrence           *RecurrenceRange           `xml:"http://schemas.microsoft.com/exchange/services/2006/types NoEndRecurrence,omitempty"`
	EndDateRecurrence         *RecurrenceRange           `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndDateRecurrence,omitempty"`
	NumberedRecurrence        *RecurrenceRange           `xml:"http://schemas.microsoft.com/exchange/services/2006/types NumberedRecurrence,omitempty"`
}

// OccurrenceInfo points at one occurrence of a series.
type OccurrenceInfo struct {
	ItemID        ItemID   `xml:"http://schemas.microsoft.com/exchange/services/2006/types ItemId"`
	Start         DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start"`
	End           DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types End"`
	OriginalStart DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types OriginalStart"`
}

// Occurrences lists modified occurrences.
type Occurrences struct {
	Occurrence []OccurrenceInfo `xml:"http://schemas.microsoft.com/exchange/services/2006/types Occurrence"`
}

// DeletedOccurrences lists the original starts of deleted occurrences.
type DeletedOccurrences struct {
	DeletedOccurrence []struct {
		Start DateTime `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start"`
	} `xml:"http://schemas.microsoft.com/exchange/services/2006/types DeletedOccurrence"`
}

// TimeZoneDefinition names a Windows time zone ("W. Europe Standard Time").
type TimeZoneDefinition struct {
	ID   string `xml:"Id,attr,omitempty"`
	Name string `xml:"Name,attr,omitempty"`
}

// CalendarItem is an appointment or meeting (t:CalendarItem).
type CalendarItem struct {
	ItemFields
	UID                       string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types UID,omitempty"`
	RecurrenceID              *DateTime           `xml:"http://schemas.microsoft.com/exchange/services/2006/types RecurrenceId,omitempty"`
	DateTimeStamp             *DateTime           `xml:"http://schemas.microsoft.com/exchange/services/2006/types DateTimeStamp,omitempty"`
	Start                     *DateTime           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Start,omitempty"`
	End                       *DateTime           `xml:"http://schemas.microsoft.com/exchange/services/2006/types End,omitempty"`
	OriginalStart             *DateTime           `xml:"http://schemas.microsoft.com/exchange/services/2006/types OriginalStart,omitempty"`
	IsAllDayEvent             *bool               `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsAllDayEvent,omitempty"`
	LegacyFreeBusyStatus      string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types LegacyFreeBusyStatus,omitempty"`
	Location                  *string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Location,omitempty"`
	When                      string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types When,omitempty"`
	IsMeeting                 *bool               `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsMeeting,omitempty"`
	IsCancelled               *bool               `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsCancelled,omitempty"`
	IsRecurring               *bool               `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsRecurring,omitempty"`
	MeetingRequestWasSent     *bool               `xml:"http://schemas.microsoft.com/exchange/services/2006/types MeetingRequestWasSent,omitempty"`
	IsResponseRequested       *bool               `xml:"http://schemas.microsoft.com/exchange/services/2006/types IsResponseRequested,omitempty"`
	CalendarItemType          string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types CalendarItemType,omitempty"`
	MyResponseType            string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types MyResponseType,omitempty"`
	Organizer                 *SingleRecipient    `xml:"http://schemas.microsoft.com/exchange/services/2006/types Organizer,omitempty"`
	RequiredAttendees         *Attendees          `xml:"http://schemas.microsoft.com/exchange/services/2006/types RequiredAttendees,omitempty"`
	OptionalAttendees         *Attendees          `xml:"http://schemas.microsoft.com/exchange/services/2006/types OptionalAttendees,omitempty"`
	Resources                 *Attendees          `xml:"http://schemas.microsoft.com/exchange/services/2006/types Resources,omitempty"`
	Duration                  string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types Duration,omitempty"`
	TimeZone                  string              `xml:"http://schemas.microsoft.com/exchange/services/2006/types TimeZone,omitempty"`
	AppointmentSequenceNumber *int                `xml:"http://schemas.microsoft.com/exchange/services/2006/types AppointmentSequenceNumber,omitempty"`
	AppointmentState          *int                `xml:"http://schemas.microsoft.com/exchange/services/2006/types AppointmentState,omitempty"`
	Recurrence                *Recurrence         `xml:"http://schemas.microsoft.com/exchange/services/2006/types Recurrence,omitempty"`
	FirstOccurrence           *OccurrenceInfo     `xml:"http://schemas.microsoft.com/exchange/services/2006/types FirstOccurrence,omitempty"`
	LastOccurrence            *OccurrenceInfo     `xml:"http://schemas.microsoft.com/exchange/services/2006/types LastOccurrence,omitempty"`
	ModifiedOccurrences       *Occurrences        `xml:"http://schemas.microsoft.com/exchange/services/2006/types ModifiedOccurrences,omitempty"`
	DeletedOccurrences        *DeletedOccurrences `xml:"http://schemas.microsoft.com/exchange/services/2006/types DeletedOccurrences,omitempty"`
	StartTimeZone             *TimeZoneDefinition `xml:"http://schemas.microsoft.com/exchange/services/2006/types StartTimeZone,omitempty"`
	EndTimeZone               *TimeZoneDefinition `xml:"http://schemas.microsoft.com/exchange/services/2006/types EndTimeZone,omitempty"`
}

// EmailAddressEntry is one of a contact's three addresses.
type EmailAddressEntry struct {
	Key         string `xml:"Key,attr"`
	Name        string `xml:"Name,attr,omitempty"`
	RoutingType string `xml:"RoutingType,attr,omitempty"`
	MailboxType string `xml:"MailboxType,attr,omitempty"`
	Value       string `xml:",chardata"`
}

// EmailAddresses is a contact's address dictionary.
type EmailAddresses struct {
	Entry []EmailAddressEntry `xml:"http://schemas.microsoft.com/exchange/services/2006/types Entry"`
}

// PhysicalAddressEntry is a postal address (Business, Home, Other).
type PhysicalAddressEntry struct {
	Street          string `xml:"http://schemas.microsoft.com/exchange/services/2006/types Street,omitempty"`
	City            string `xml:"http://schemas.microsoft.com/exchange/services/2006/types City,omitempty"`
	State           string `xml:"http://schemas.microsoft.com/exchange/services/2006/types State,omitempty"`
	CountryOrRegion string `xml:"http://schemas.microsoft.com/exchange/services/2006/types CountryOrRegion,omitempty"`
	PostalCode      string `xml:"http://schemas.microsoft.com/exchange/services/2006/types PostalCode,omitempty"`
	Key             string `xml:"Key,attr"`
}

// PhysicalAddresses is a contact's postal address dictionary.
type PhysicalAddresses struct {
	Entry []PhysicalAddressEntry `xml:"http://schemas.microsoft.com/exchange/services/2006/types Entry"`
}

// KeyedString is a dictionary entry with a text value (phones, IM).
type KeyedString struct {
	Key   string `xml:"Key,attr"`
	Value string `xml:",chardata"`
}

// PhoneNumbers is a contact's phone dictionary.
type PhoneNumbers struct {
	Entry []KeyedString `xml:"http://schemas.microsoft.com/exchange/services/2006/types Entry"`
}

// ImAddresses is a contact's instant-messaging dictionary.
type ImAddresses struct {
	Entry []KeyedString `xml:"http://schemas.microsoft.com/exchange/services/2006/types Entry"`
}

// Contact is a personal contact (t:Contact).
type Contact struct {
	ItemFields
	FileAs             string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types FileAs,omitempty"`
	DisplayName        string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName,omitempty"`
	GivenName          string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types GivenName,omitempty"`
	Initials           string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Initials,omitempty"`
	MiddleName         string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types MiddleName,omitempty"`
	Nickname           string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Nickname,omitempty"`
	CompanyName        string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types CompanyName,omitempty"`
	EmailAddresses     *EmailAddresses    `xml:"http://schemas.microsoft.com/exchange/services/2006/types EmailAddresses,omitempty"`
	PhysicalAddresses  *PhysicalAddresses `xml:"http://schemas.microsoft.com/exchange/services/2006/types PhysicalAddresses,omitempty"`
	PhoneNumbers       *PhoneNumbers      `xml:"http://schemas.microsoft.com/exchange/services/2006/types PhoneNumbers,omitempty"`
	AssistantName      string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types AssistantName,omitempty"`
	Birthday           *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types Birthday,omitempty"`
	BusinessHomePage   string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types BusinessHomePage,omitempty"`
	Children           *Strings           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Children,omitempty"`
	Companies          *Strings           `xml:"http://schemas.microsoft.com/exchange/services/2006/types Companies,omitempty"`
	Department         string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Department,omitempty"`
	Generation         string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Generation,omitempty"`
	ImAddresses        *ImAddresses       `xml:"http://schemas.microsoft.com/exchange/services/2006/types ImAddresses,omitempty"`
	JobTitle           string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types JobTitle,omitempty"`
	Manager            string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Manager,omitempty"`
	Mileage            string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mileage,omitempty"`
	OfficeLocation     string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types OfficeLocation,omitempty"`
	PostalAddressIndex string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types PostalAddressIndex,omitempty"`
	Profession         string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Profession,omitempty"`
	SpouseName         string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types SpouseName,omitempty"`
	Surname            string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types Surname,omitempty"`
	WeddingAnniversary *DateTime          `xml:"http://schemas.microsoft.com/exchange/services/2006/types WeddingAnniversary,omitempty"`
}

// Member is a distribution list member.
type Member struct {
	Mailbox *EmailAddress `xml:"http://schemas.microsoft.com/exchange/services/2006/types Mailbox,omitempty"`
	Status  string        `xml:"http://schemas.microsoft.com/exchange/services/2006/types Status,omitempty"`
	Key     string        `xml:"Key,attr,omitempty"`
}

// Members is a distribution list's member list.
type Members struct {
	Member []Member `xml:"http://schemas.microsoft.com/exchange/services/2006/types Member"`
}

// DistributionList is a personal contact group (t:DistributionList).
type DistributionList struct {
	ItemFields
	DisplayName string   `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName,omitempty"`
	FileAs      string   `xml:"http://schemas.microsoft.com/exchange/services/2006/types FileAs,omitempty"`
	Members     *Members `xml:"http://schemas.microsoft.com/exchange/services/2006/types Members,omitempty"`
}

// AnyItem is one item of any supported kind; exactly one field is set.
// Element kinds the package does not model (MeetingRequest,
// MeetingResponse, MeetingCancellation, PostItem, Task, ...) are decoded
// into Message, whose fields they share or lack, and named in Unknown: a
// mail folder holds such items, and a client that dropped them would
// lose their ids (and so the items) without a word.
type AnyItem struct {
	Item             *Item
	Message          *Message
	CalendarItem     *CalendarItem
	Contact          *Contact
	DistributionList *DistributionList
	Unknown          string
}

// Kind is the element name of the item ("Message", "CalendarItem", ...).
func (a AnyItem) Kind() string {
	switch {
	case a.Unknown != "":
		return a.Unknown
	case a.Message != nil:
		return "Message"
	case a.CalendarItem != nil:
		return "CalendarItem"
	case a.Contact != nil:
		return "Contact"
	case a.DistributionList != nil:
		return "DistributionList"
	case a.Item != nil:
		return "Item"
	}
	return a.Unknown
}

// Fields are the item's common fields, nil for an unknown kind.
func (a AnyItem) Fields() *ItemFields {
	switch {
	case a.Message != nil:
		return &a.Message.ItemFields
	case a.CalendarItem != nil:
		return &a.CalendarItem.ItemFields
	case a.Contact != nil:
		return &a.Contact.ItemFields
	case a.DistributionList != nil:
		return &a.DistributionList.ItemFields
	case a.Item != nil:
		return &a.Item.ItemFields
	}
	return nil
}

func (a AnyItem) value() any {
	switch {
	case a.Message != nil:
		return a.Message
	case a.CalendarItem != nil:
		return a.CalendarItem
	case a.Contact != nil:
		return a.Contact
	case a.DistributionList != nil:
		return a.DistributionList
	case a.Item != nil:
		return a.Item
	}
	return nil
}

// MarshalXML writes the item under its kind's element name.
func (a AnyItem) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	v := a.value()
	if v == nil {
		return fmt.Errorf("ews: empty item")
	}
	return e.EncodeElement(v, xml.StartElement{Name: xml.Name{Space: NSTypes, Local: a.Kind()}})
}

// UnmarshalXML reads an item of the kind its element names.
func (a *AnyItem) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	switch start.Name.Local {
	case "Message":
		a.Message = &Message{}
		return d.DecodeElement(a.Message, &start)
	case "CalendarItem":
		a.CalendarItem = &CalendarItem{}
		return d.DecodeElement(a.CalendarItem, &start)
	case "Contact":
		a.Contact = &Contact{}
		return d.DecodeElement(a.Contact, &start)
	case "DistributionList":
		a.DistributionList = &DistributionList{}
		return d.DecodeElement(a.DistributionList, &start)
	case "Item":
		a.Item = &Item{}
		return d.DecodeElement(a.Item, &start)
	}
	a.Unknown = start.Name.Local
	a.Message = &Message{}
	return d.DecodeElement(a.Message, &start)
}

// Items is a list of items of mixed kinds, in order.
type Items struct {
	Items []AnyItem `xml:",any"`
}

// Folder is a folder of any kind: Kind is its element name (Folder,
// CalendarFolder, ContactsFolder, TasksFolder, SearchFolder).
type Folder struct {
	Kind             string             `xml:"-"`
	FolderID         *FolderID          `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderId,omitempty"`
	ParentFolderID   *FolderID          `xml:"http://schemas.microsoft.com/exchange/services/2006/types ParentFolderId,omitempty"`
	FolderClass      string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types FolderClass,omitempty"`
	DisplayName      string             `xml:"http://schemas.microsoft.com/exchange/services/2006/types DisplayName,omitempty"`
	TotalCount       *int               `xml:"http://schemas.microsoft.com/exchange/services/2006/types TotalCount,omitempty"`
	ChildFolderCount *int               `xml:"http://schemas.microsoft.com/exchange/services/2006/types ChildFolderCount,omitempty"`
	ExtendedProperty []ExtendedProperty `xml:"http://schemas.microsoft.com/exchange/services/2006/types ExtendedProperty,omitempty"`
	// UnreadCount exists on Folder and TasksFolder only.
	UnreadCount *int `xml:"http://schemas.microsoft.com/exchange/services/2006/types UnreadCount,omitempty"`
}

type folderFields Folder

// MarshalXML writes the folder under its kind's element name.
func (f Folder) MarshalXML(e *xml.Encoder, _ xml.StartElement) error {
	kind := f.Kind
	if kind == "" {
		kind = "Folder"
	}
	if kind != "Folder" && kind != "TasksFolder" {
		f.UnreadCount = nil
	}
	return e.EncodeElement(folderFields(f), xml.StartElement{Name: xml.Name{Space: NSTypes, Local: kind}})
}

// UnmarshalXML reads a folder and remembers its kind.
func (f *Folder) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	var ff folderFields
	if err := d.DecodeElement(&ff, &start); err != nil {
		return err
	}
	*f = Folder(ff)
	f.Kind = start.Name.Local
	return nil
}

// Folders is a list of folders of mixed kinds.
type Folders struct {
	Folders []Folder `xml:",any"`
}
