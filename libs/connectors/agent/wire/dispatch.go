package wire

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Dispatch executes call on the local connector c with the call's content
// (already fetched when it did not travel inline). It returns the value to
// encode as the result and, for reads, the item content to send beside it.
func Dispatch(ctx context.Context, c platform.Connector, call Call, content []byte) (value any, out []byte, err error) {
	a := call.Args
	need := func(ok bool, field string) error {
		if ok {
			return nil
		}
		return errs.Field(field, "missing in a "+call.Op+" call")
	}
	switch call.Op {
	case OpLimits:
		return c.Limits(), nil, nil
	case OpListMailboxes:
		v, err := c.ListMailboxes(ctx)
		return v, nil, err
	case OpFolders:
		v, err := c.Folders(ctx, a.MailboxID)
		return v, nil, err
	case OpItems:
		v, err := c.Items(ctx, a.MailboxID, a.FolderID, a.Token)
		return v, nil, err
	case OpReadItem:
		if err := need(a.Ref != nil, "ref"); err != nil {
			return nil, nil, err
		}
		it, err := c.ReadItem(ctx, a.MailboxID, *a.Ref)
		if err != nil {
			return nil, nil, err
		}
		out, it.Content = it.Content, nil
		return it, out, nil
	case OpStats:
		v, err := c.Stats(ctx, a.MailboxID)
		return v, nil, err
	case OpEnsureFolder:
		if err := need(a.Folder != nil, "folder"); err != nil {
			return nil, nil, err
		}
		v, err := c.EnsureFolder(ctx, a.MailboxID, *a.Folder)
		return v, nil, err
	case OpFindByMarker:
		v, err := c.FindByMarker(ctx, a.MailboxID, a.Marker)
		return v, nil, err
	case OpWriteItem:
		if err := need(a.Item != nil, "item"); err != nil {
			return nil, nil, err
		}
		it := *a.Item
		it.Content = content
		v, err := c.WriteItem(ctx, a.MailboxID, a.FolderID, it, a.Marker)
		return v, nil, err
	case OpDeleteItem:
		if err := need(a.Placed != nil, "placed"); err != nil {
			return nil, nil, err
		}
		return struct{}{}, nil, c.DeleteItem(ctx, a.MailboxID, *a.Placed)
	case OpVerify:
		if v, ok := c.(platform.Verifier); ok {
			res, err := v.Verify(ctx)
			return res, nil, err
		}
		// Without a check of its own, listing mailboxes needs every
		// credential to work.
		if _, err := c.ListMailboxes(ctx); err != nil {
			return nil, nil, err
		}
		return platform.Verification{Granted: []string{}, Missing: []string{}}, nil, nil
	case OpNativeReadFormat:
		ns, ok := c.(platform.NativeSource)
		if !ok {
			return "", nil, nil
		}
		v, err := ns.NativeReadFormat(ctx)
		return v, nil, err
	case OpReadNative:
		ns, ok := c.(platform.NativeSource)
		if !ok {
			return nil, nil, errNoNative
		}
		if err := need(a.Ref != nil, "ref"); err != nil {
			return nil, nil, err
		}
		it, err := ns.ReadNative(ctx, a.MailboxID, *a.Ref)
		if err != nil {
			return nil, nil, err
		}
		out, it.Data = it.Data, nil
		return it, out, nil
	case OpNativeWriteFormat:
		nd, ok := c.(platform.NativeDestination)
		if !ok {
			return "", nil, nil
		}
		v, err := nd.NativeWriteFormat(ctx)
		return v, nil, err
	case OpWriteNative:
		nd, ok := c.(platform.NativeDestination)
		if !ok {
			return nil, nil, errNoNative
		}
		if err := need(a.Native != nil, "native"); err != nil {
			return nil, nil, err
		}
		it := *a.Native
		it.Data = content
		v, err := nd.WriteNative(ctx, a.MailboxID, a.FolderID, it, a.Marker)
		return v, nil, err
	case OpDeleteNative:
		nd, ok := c.(platform.NativeDestination)
		if !ok {
			return nil, nil, errNoNative
		}
		if err := need(a.Placed != nil, "placed"); err != nil {
			return nil, nil, err
		}
		return struct{}{}, nil, nd.DeleteNative(ctx, a.MailboxID, *a.Placed)
	case OpCreateMailbox:
		if err := need(a.Mailbox != nil, "mailbox"); err != nil {
			return nil, nil, err
		}
		p, ok := c.(platform.Provisioner)
		if !ok {
			// What the engine says itself of a destination that cannot
			// create mailboxes.
			return nil, nil, errs.New(errs.MailboxMissing,
				"the destination mailbox "+a.Mailbox.PrimaryAddress+" does not exist and this platform cannot create mailboxes automatically",
				"create it at the destination, then run again")
		}
		v, err := p.CreateMailbox(ctx, *a.Mailbox)
		return v, nil, err
	}
	return nil, nil, errs.New(errs.UnsupportedPlatform, fmt.Sprintf("this agent does not know the call %q", call.Op),
		"update the agent to the platform's version")
}

var errNoNative = errs.New(errs.Invalid, "the agent's platform has no native export format", "move the item through the standard formats")

// Answer runs Dispatch and packs its outcome as a Result, scrubbing error
// texts with scrub.
func Answer(ctx context.Context, c platform.Connector, call Call, content []byte, scrub func(string) string) (Result, []byte) {
	res := Result{CallID: call.ID}
	v, out, err := Dispatch(ctx, c, call, content)
	if err == nil && len(out) > MaxContent {
		err = errs.New(errs.ItemTooLarge, fmt.Sprintf("the item is %d bytes; an agent carries items up to %d bytes", len(out), MaxContent),
			"nothing: the item is listed as skipped")
	}
	if err == nil {
		res.Value, err = json.Marshal(v)
	}
	if err != nil {
		res.Error = EncodeError(err, scrub)
		// A copy stored with a loss the platform reported: its id travels
		// with the warning, since the caller needs both (WriteItem).
		if platform.IsWarning(err) && v != nil {
			res.Value, _ = json.Marshal(v)
		}
		return res, nil
	}
	res.ContentSize = int64(len(out))
	return res, out
}
