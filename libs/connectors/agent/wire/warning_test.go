package wire

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
)

// lossy stores items but reports a loss, as the EWS connector does for a
// contact's photo.
type lossy struct{ *memory.Tenant }

func (l lossy) WriteItem(ctx context.Context, mailboxID, folderID string, it platform.Item, marker string) (string, error) {
	id, err := l.Tenant.WriteItem(ctx, mailboxID, folderID, it, marker)
	if err != nil {
		return "", err
	}
	return id, platform.Warning("the photo")
}

// TestWarningKeepsTheID: a write stored with a warning answers both the
// copy's id and the warning, since the engine records the one with the
// other; a failure answers no value.
func TestWarningKeepsTheID(t *testing.T) {
	t.Parallel()
	tn := memory.NewStore().AddTenant("lossy", "lossy.test")
	mb := tn.AddMailbox(platform.Mailbox{PrimaryAddress: "a@lossy.test"})
	inbox, _ := tn.FolderByRole(mb.ID, platform.RoleInbox)
	msg := platformtest.Message("with a loss", 500)
	content := msg.Content
	msg.Content = nil
	res, _ := Answer(context.Background(), lossy{tn}, Call{ID: "c1", Op: OpWriteItem, Args: Args{MailboxID: mb.ID, FolderID: inbox.ID, Item: &msg, Marker: "m1"}}, content, nil)
	var id string
	if res.Error == nil || !platform.IsWarning(res.Error.Err()) || json.Unmarshal(res.Value, &id) != nil || id == "" {
		t.Fatalf("a write with a warning answered %+v (value %s)", res.Error, res.Value)
	}
	res, _ = Answer(context.Background(), lossy{tn}, Call{ID: "c2", Op: OpWriteItem, Args: Args{MailboxID: "nobody", FolderID: inbox.ID, Item: &msg, Marker: "m2"}}, content, nil)
	if res.Error == nil || platform.IsWarning(res.Error.Err()) || len(res.Value) != 0 {
		t.Fatalf("a failed write answered %+v (value %s)", res.Error, res.Value)
	}
}
