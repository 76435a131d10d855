package platform

import "context"

// Native (full-fidelity) transfer between two tenants of the same platform.
//
// The standard formats (MIME, iCalendar, vCard) lose what a platform keeps
// beside them: for Exchange Online a meeting's attendee table and
// responses, its Teams meeting, the organizer's view, every extended
// property. Some platforms export an item in their own opaque format and
// import it again unchanged (Exchange Online's mailbox import/export API).
// A connector that can do so implements NativeSource and NativeDestination;
// the engine uses them for a pair of connectors that offer the same format,
// and the standard path (ReadItem / WriteItem) otherwise.

// NativeItem is an item in a platform's own export format. Data is opaque:
// only a NativeDestination of the same Format can use it.
type NativeItem struct {
	// Ref is the source item. Ref.ChangeKey is the version WriteNative
	// records with the copy, as WriteItem does with Item.Ref.ChangeKey.
	Ref    ItemRef `json:"ref"`
	Format string  `json:"format"`
	Data   []byte  `json:"data"`
}

// NativeSource exports items in a native format.
type NativeSource interface {
	// NativeReadFormat names the format ReadNative produces, or "" when
	// this connection cannot export (the credentials lack the permission).
	// An error means the question could not be answered (the platform
	// was unreachable, the credentials were refused).
	NativeReadFormat(ctx context.Context) (string, error)
	// ReadNative exports one item that Items listed.
	ReadNative(ctx context.Context, mailboxID string, ref ItemRef) (NativeItem, error)
}

// NativeDestination imports items in a native format. Its writes follow
// the Destination contract: WriteNative stores the migration marker and
// it.Ref.ChangeKey with the copy, so that FindByMarker finds it, a retried
// or repeated write of the same version stores nothing twice, and another
// version is stored as another copy.
type NativeDestination interface {
	// NativeWriteFormat names the format WriteNative accepts, or "" when
	// this connection cannot import.
	NativeWriteFormat(ctx context.Context) (string, error)
	// WriteNative imports an item into a folder and returns its id.
	WriteNative(ctx context.Context, mailboxID, folderID string, it NativeItem, marker string) (id string, err error)
	// DeleteNative removes a copy WriteNative wrote (an old version), as
	// a storage operation that notifies nobody. Such copies must not go
	// through DeleteItem: an imported meeting is the real meeting, and
	// deleting it the way a user would can send its cancellation. A copy
	// already gone is not an error.
	DeleteNative(ctx context.Context, mailboxID string, p Placed) error
}

// NativePath returns the native interfaces of src and dst and their common
// format when both offer the same one; ok is false otherwise, and the
// standard path applies. An error is returned only when a connector could
// not answer; the caller may then fall back to the standard path too.
func NativePath(ctx context.Context, src Source, dst Destination) (ns NativeSource, nd NativeDestination, format string, ok bool, err error) {
	ns, okS := src.(NativeSource)
	nd, okD := dst.(NativeDestination)
	if !okS || !okD {
		return nil, nil, "", false, nil
	}
	rf, err := ns.NativeReadFormat(ctx)
	if err != nil || rf == "" {
		return nil, nil, "", false, err
	}
	wf, err := nd.NativeWriteFormat(ctx)
	if err != nil || wf != rf {
		return nil, nil, "", false, err
	}
	return ns, nd, rf, true, nil
}
