package engine

import (
	"context"
	"strings"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// ResolveDestination returns the destination mailbox id of a pair: the
// mapped id when it exists, else the mailbox with the destination address
// (primary or alias). A missing mailbox is created when the pair asks for it
// and the platform can (platform.Provisioner); otherwise the error is
// errs.MailboxMissing.
func ResolveDestination(ctx context.Context, dst platform.Destination, pair events.Pair, opts Options) (string, error) {
	opts.defaults()
	r := &run{opts: opts, report: func(Progress) {}, cp: &Checkpoint{}}
	var list []platform.Mailbox
	if err := r.call(ctx, func(ctx context.Context) (err error) {
		list, err = dst.ListMailboxes(ctx)
		return err
	}); err != nil {
		return "", err
	}
	addr := strings.TrimSpace(pair.DestinationAddress)
	for _, m := range list {
		if pair.DestinationID != "" && m.ID == pair.DestinationID {
			return m.ID, nil
		}
	}
	for _, m := range list {
		if addr == "" {
			break
		}
		if strings.EqualFold(m.PrimaryAddress, addr) {
			return m.ID, nil
		}
		for _, a := range m.Aliases {
			if strings.EqualFold(a, addr) {
				return m.ID, nil
			}
		}
	}
	if !pair.Create || addr == "" {
		return "", errs.New(errs.MailboxMissing,
			"the destination mailbox "+addr+" does not exist",
			"create it at the destination, or flag it for automatic creation in the mapping, then run again")
	}
	p, ok := dst.(platform.Provisioner)
	if !ok {
		return "", errs.New(errs.MailboxMissing,
			"the destination mailbox "+addr+" does not exist and this platform cannot create mailboxes automatically",
			"create it at the destination, then run again")
	}
	var m platform.Mailbox
	if err := r.call(ctx, func(ctx context.Context) (err error) {
		m, err = p.CreateMailbox(ctx, platform.Mailbox{PrimaryAddress: addr})
		return err
	}); err != nil {
		return "", err
	}
	return m.ID, nil
}
