package connect

import (
	"context"
	"errors"
	"strings"

	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// redacting wraps a connector so that no error it returns can carry one of
// its credentials' secrets: a platform that echoes a password or a token in
// an error message would otherwise put it into events, logs and traces.
type redacting struct {
	c       platform.Connector
	secrets []string
}

// redactingProvisioner is redacting for connectors that create mailboxes.
type redactingProvisioner struct {
	redacting
	p platform.Provisioner
}

func wrap(c platform.Connector, secrets map[string]string) platform.Connector {
	r := redacting{c: c}
	for _, v := range secrets {
		// Very short values would blank out ordinary words.
		if len(v) >= 4 {
			r.secrets = append(r.secrets, v)
		}
	}
	if p, ok := c.(platform.Provisioner); ok {
		return redactingProvisioner{redacting: r, p: p}
	}
	return r
}

func (r redacting) scrubText(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

func (r redacting) leaks(s string) bool {
	for _, v := range r.secrets {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// scrub returns err unchanged when it carries no secret (keeping its chain
// for errors.Is), and otherwise a copy with every secret blanked out.
func (r redacting) scrub(err error) error {
	if err == nil || !r.leaks(err.Error()) {
		return err
	}
	if e, ok := errs.As(err); ok {
		out := *e
		out.Cause, out.Action = r.scrubText(e.Cause), r.scrubText(e.Action)
		if e.Err != nil {
			out.Err = errors.New(r.scrubText(e.Err.Error()))
		}
		return &out
	}
	return errors.New(r.scrubText(err.Error()))
}

func (r redacting) Kind() platform.Kind        { return r.c.Kind() }
func (r redacting) Limits() platform.Limits    { return r.c.Limits() }
func (r redacting) Unwrap() platform.Connector { return r.c }

func (r redacting) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	m, err := r.c.ListMailboxes(ctx)
	return m, r.scrub(err)
}

func (r redacting) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	f, err := r.c.Folders(ctx, mailboxID)
	return f, r.scrub(err)
}

func (r redacting) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	p, err := r.c.Items(ctx, mailboxID, folderID, token)
	return p, r.scrub(err)
}

func (r redacting) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	it, err := r.c.ReadItem(ctx, mailboxID, ref)
	return it, r.scrub(err)
}

func (r redacting) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	s, err := r.c.Stats(ctx, mailboxID)
	return s, r.scrub(err)
}

// EstimateStats forwards the connector's estimate, or its exact Stats when
// it has none.
func (r redacting) EstimateStats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	out, err := platform.EstimateStats(ctx, r.c, mailboxID)
	return out, r.scrub(err)
}

func (r redacting) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	out, err := r.c.EnsureFolder(ctx, mailboxID, f)
	return out, r.scrub(err)
}

func (r redacting) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	out, err := r.c.FindByMarker(ctx, mailboxID, marker)
	return out, r.scrub(err)
}

func (r redacting) DeleteItem(ctx context.Context, mailboxID string, item platform.Placed) error {
	return r.scrub(r.c.DeleteItem(ctx, mailboxID, item))
}

func (r redacting) WriteItem(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	id, err := r.c.WriteItem(ctx, mailboxID, folderID, item, marker)
	return id, r.scrub(err)
}

func (r redactingProvisioner) CreateMailbox(ctx context.Context, m platform.Mailbox) (platform.Mailbox, error) {
	out, err := r.p.CreateMailbox(ctx, m)
	return out, r.scrub(err)
}

// Verify checks the credentials: through the connector's own check when it
// has one, otherwise by listing mailboxes, which needs every credential to
// work.
func (r redacting) Verify(ctx context.Context) (platform.Verification, error) {
	if v, ok := r.c.(platform.Verifier); ok {
		out, err := v.Verify(ctx)
		return out, r.scrub(err)
	}
	if _, err := r.c.ListMailboxes(ctx); err != nil {
		return platform.Verification{}, r.scrub(err)
	}
	return platform.Verification{Granted: []string{}, Missing: []string{}}, nil
}

// The native path is forwarded whatever the connector: a wrapped connector
// without one answers with no format, which platform.NativePath reads as
// "use the standard formats".

var errNoNative = errs.New(errs.Invalid, "this platform has no native export format", "move the item through the standard formats")

func (r redacting) NativeReadFormat(ctx context.Context) (string, error) {
	ns, ok := r.c.(platform.NativeSource)
	if !ok {
		return "", nil
	}
	f, err := ns.NativeReadFormat(ctx)
	return f, r.scrub(err)
}

func (r redacting) ReadNative(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.NativeItem, error) {
	ns, ok := r.c.(platform.NativeSource)
	if !ok {
		return platform.NativeItem{}, errNoNative
	}
	it, err := ns.ReadNative(ctx, mailboxID, ref)
	return it, r.scrub(err)
}

func (r redacting) NativeWriteFormat(ctx context.Context) (string, error) {
	nd, ok := r.c.(platform.NativeDestination)
	if !ok {
		return "", nil
	}
	f, err := nd.NativeWriteFormat(ctx)
	return f, r.scrub(err)
}

func (r redacting) WriteNative(ctx context.Context, mailboxID, folderID string, it platform.NativeItem, marker string) (string, error) {
	nd, ok := r.c.(platform.NativeDestination)
	if !ok {
		return "", errNoNative
	}
	id, err := nd.WriteNative(ctx, mailboxID, folderID, it, marker)
	return id, r.scrub(err)
}

func (r redacting) DeleteNative(ctx context.Context, mailboxID string, p platform.Placed) error {
	nd, ok := r.c.(platform.NativeDestination)
	if !ok {
		return errNoNative
	}
	return r.scrub(nd.DeleteNative(ctx, mailboxID, p))
}

var (
	_ platform.NativeSource      = redacting{}
	_ platform.NativeDestination = redacting{}
)
