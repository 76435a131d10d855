package m365_test

import (
	"context"
	"fmt"

	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/mailferry/mailferry/libs/platform"
)

// changeAsUser changes an item the way its user would: a message is read
// and its flag toggled, an event or contact gets a category. None of these
// makes Graph notify anyone.
func changeAsUser(ctx context.Context, gc *msgraph.GraphServiceClient, mb string, ref platform.ItemRef) error {
	u := gc.Users().ByUserId(mb)
	switch ref.Kind {
	case platform.Event:
		e := models.NewEvent()
		e.SetCategories([]string{"Changed by the user"})
		_, err := u.Events().ByEventId(ref.ID).Patch(ctx, e, nil)
		return err
	case platform.Contact:
		ct := models.NewContact()
		ct.SetCategories([]string{"Changed by the user"})
		_, err := u.Contacts().ByContactId(ref.ID).Patch(ctx, ct, nil)
		return err
	case platform.Mail:
		cur, err := u.Messages().ByMessageId(ref.ID).Get(ctx, nil)
		if err != nil {
			return err
		}
		status := models.FLAGGED_FOLLOWUPFLAGSTATUS
		if f := cur.GetFlag(); f != nil && f.GetFlagStatus() != nil && *f.GetFlagStatus() == models.FLAGGED_FOLLOWUPFLAGSTATUS {
			status = models.NOTFLAGGED_FOLLOWUPFLAGSTATUS
		}
		m := models.NewMessage()
		read := true
		m.SetIsRead(&read)
		flag := models.NewFollowupFlag()
		flag.SetFlagStatus(&status)
		m.SetFlag(flag)
		_, err = u.Messages().ByMessageId(ref.ID).Patch(ctx, m, nil)
		return err
	}
	return fmt.Errorf("no user change for %q items", ref.Kind)
}

// removeAsUser deletes an item for good (emptied from Deleted Items).
func removeAsUser(ctx context.Context, gc *msgraph.GraphServiceClient, mb string, ref platform.ItemRef) error {
	u := gc.Users().ByUserId(mb)
	switch ref.Kind {
	case platform.Event:
		return u.Events().ByEventId(ref.ID).PermanentDelete().Post(ctx, nil)
	case platform.Contact:
		return u.Contacts().ByContactId(ref.ID).PermanentDelete().Post(ctx, nil)
	}
	return u.Messages().ByMessageId(ref.ID).PermanentDelete().Post(ctx, nil)
}
