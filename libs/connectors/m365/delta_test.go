package m365_test

import (
	"strings"
	"testing"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// TestSeriesVersionFollowsOccurrences: a series' version (ReadItem's
// ChangeKey) changes when one occurrence is edited or cancelled, which
// need not touch the master, and calendar listings never offer an
// instance's change key as the series' version.
func TestSeriesVersionFollowsOccurrences(t *testing.T) {
	t.Parallel()
	sb := newSandbox(t, graph.Config{})
	c := open(t, configFor(sb))
	gc := m365.GraphClient(c)
	ctx := ctxFor(t)
	mb := sb.AddUser("serena@"+sb.Domain(), "Serena Series")
	cal := roleFolder(t, c, mb, platform.RoleCalendar)
	item := platform.Item{Ref: platform.ItemRef{Kind: platform.Event}, ContentType: platform.ContentCalendar, Content: []byte(seriesICS)}
	id, err := c.WriteItem(ctx, mb, cal.ID, item, "mf-series")
	if err != nil {
		t.Fatal(err)
	}
	refs, delta, _ := enumerate(t, c, mb, cal.ID, "")
	if len(refs) != 1 || refs[0].ID != id {
		t.Fatalf("the calendar lists %+v, want just the series %s", refs, id)
	}
	if !strings.HasPrefix(refs[0].ChangeKey, "instance:") {
		t.Errorf("the series is listed with change key %q, want one marked as an instance's", refs[0].ChangeKey)
	}
	version := func() string {
		t.Helper()
		it, err := c.ReadItem(ctx, mb, refs[0])
		if err != nil {
			t.Fatal(err)
		}
		return it.Ref.ChangeKey
	}
	v1 := version()
	if v1 == "" || v1 == refs[0].ChangeKey {
		t.Fatalf("series version %q", v1)
	}
	if again := version(); again != v1 {
		t.Fatalf("reading twice gave versions %q and %q", v1, again)
	}

	// The user edits one plain occurrence: it becomes an exception.
	inst, err := gc.Users().ByUserId(mb).Events().ByEventId(id).Instances().Get(ctx, &users.ItemEventsItemInstancesRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemEventsItemInstancesRequestBuilderGetQueryParameters{
			StartDateTime: ptr("2026-03-01T00:00:00Z"), EndDateTime: ptr("2026-06-01T00:00:00Z"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var plain []string
	for _, in := range inst.GetValue() {
		if in.GetTypeEscaped() != nil && *in.GetTypeEscaped() == models.OCCURRENCE_EVENTTYPE {
			plain = append(plain, *in.GetId())
		}
	}
	if len(plain) < 2 {
		t.Fatalf("the series has %d plain occurrences, want at least 2", len(plain))
	}
	patch := models.NewEvent()
	patch.SetSubject(ptr("Weekly sync (edited once)"))
	if _, err := gc.Users().ByUserId(mb).Events().ByEventId(plain[0]).Patch(ctx, patch, nil); err != nil {
		t.Fatal(err)
	}
	v2 := version()
	if v2 == v1 {
		t.Fatalf("editing an occurrence left the series version at %q", v1)
	}
	changed, _, _ := enumerate(t, c, mb, cal.ID, delta)
	listed := false
	for _, r := range changed {
		listed = listed || r.ID == id && !r.Deleted
	}
	if !listed {
		t.Errorf("the delta after the edit lists %+v, not the series %s", changed, id)
	}

	// The user cancels another occurrence.
	if err := gc.Users().ByUserId(mb).Events().ByEventId(plain[1]).Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if v3 := version(); v3 == v2 {
		t.Fatalf("cancelling an occurrence left the series version at %q", v2)
	}
}

func ptr[T any](v T) *T { return &v }
