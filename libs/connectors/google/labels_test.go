package google

import (
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailferry/mailferry/libs/platform"
)

func testLabels() *labelSet {
	ls := []gLabel{{ID: "Label_1", Name: "Projects"}, {ID: "Label_2", Name: "Projects/2026"}, {ID: "Label_3", Name: "Projects/2026/Q1"},
		{ID: "Label_4", Name: "customers"}, {ID: "Label_5", Name: "Zeta"}, {ID: "Label_6", Name: "Archive/2019/Old"}}
	for _, id := range []string{"INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "STARRED", "UNREAD", "IMPORTANT", "CHAT",
		"CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS"} {
		ls = append(ls, gLabel{ID: id, Name: id, System: true})
	}
	return newLabelSet(ls)
}

// TestPlacement: where a message goes for its labels, in each mode. One
// copy per message however many labels it has (except in the opt-in
// folder-per-label mode), system labels before user labels, user labels
// by name without case.
func TestPlacement(t *testing.T) {
	t.Parallel()
	s := testLabels()
	for _, tc := range []struct {
		name    string
		labels  []string
		header  string
		mode    LabelMode
		folder  string
		also    []string
		cats    []string
		read    bool
		flagged bool
	}{
		{"inbox unread with a tab", []string{"INBOX", "UNREAD", "CATEGORY_PERSONAL"}, "", LabelsFirstFolder, "INBOX", nil, []string{"Category_Personal"}, false, false},
		{"two user labels: the first by name picks", []string{"Label_1", "Label_4"}, "", LabelsFirstFolder, "Label_4", nil, []string{"Projects"}, true, false},
		{"names compare without case", []string{"Label_5", "Label_4"}, "", LabelsFirstFolder, "Label_4", nil, []string{"Zeta"}, true, false},
		{"the recorded folder wins among user labels", []string{"Label_1", "Label_4"}, "Label_1", LabelsFirstFolder, "Label_1", nil, []string{"customers"}, true, false},
		{"a recorded folder no longer carried is ignored", []string{"Label_4"}, "Label_1", LabelsFirstFolder, "Label_4", nil, nil, true, false},
		{"system labels before user labels", []string{"Label_4", "INBOX", "STARRED"}, "", LabelsFirstFolder, "INBOX", nil, []string{"customers"}, true, true},
		{"trash before everything", []string{"INBOX", "TRASH", "Label_1", "SPAM"}, "", LabelsFirstFolder, "TRASH", nil, []string{"Projects"}, true, false},
		{"spam before the inbox", []string{"SPAM", "INBOX"}, "", LabelsFirstFolder, "SPAM", nil, nil, true, false},
		{"a message sent to oneself is in the inbox", []string{"SENT", "INBOX"}, "", LabelsFirstFolder, "INBOX", nil, nil, true, false},
		{"sent", []string{"SENT", "IMPORTANT"}, "", LabelsFirstFolder, "SENT", nil, []string{"Important"}, true, false},
		{"draft", []string{"DRAFT"}, "", LabelsFirstFolder, "DRAFT", nil, nil, true, false},
		{"no folder label: the archive", []string{"STARRED", "IMPORTANT", "UNREAD"}, "", LabelsFirstFolder, ArchiveFolderID, nil, []string{"Important"}, false, true},
		{"recorded archive keeps user labels as categories", []string{"Label_5"}, ArchiveFolderID, LabelsFirstFolder, ArchiveFolderID, nil, []string{"Zeta"}, true, false},
		{"recorded archive loses to a system label", []string{"INBOX"}, ArchiveFolderID, LabelsFirstFolder, "INBOX", nil, nil, true, false},
		{"nested labels are folders too", []string{"Label_3", "Label_5"}, "", LabelsFirstFolder, "Label_3", nil, []string{"Zeta"}, true, false},
		{"unknown label ids are ignored", []string{"Label_99", "CHAT"}, "", LabelsFirstFolder, ArchiveFolderID, nil, nil, true, false},
		{"all categories: the folder's label too", []string{"Label_1", "Label_4", "CATEGORY_SOCIAL"}, "", LabelsAllCategories, "Label_4", nil, []string{"customers", "Projects", "Category_Social"}, true, false},
		{"folder per label: a copy per label", []string{"Label_1", "Label_4", "INBOX"}, "", LabelsFolderPerLabel, "INBOX", []string{"Label_4", "Label_1"}, nil, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := s.place(tc.labels, tc.header, tc.mode)
			if p.Folder != tc.folder || !slices.Equal(p.Also, tc.also) || !slices.Equal(p.Categories, tc.cats) || p.Read != tc.read || p.Flagged != tc.flagged {
				t.Errorf("place(%v, %q, %s) = %+v; want folder %s also %v categories %v read %v flagged %v",
					tc.labels, tc.header, tc.mode, p, tc.folder, tc.also, tc.cats, tc.read, tc.flagged)
			}
		})
	}
}

// TestLabelsRoundTrip: what a message becomes on the way into Gmail
// (labelsFor, plus the folder recorded in its header) places it back in
// the same folder with the same flags and categories.
func TestLabelsRoundTrip(t *testing.T) {
	t.Parallel()
	s := testLabels()
	for _, tc := range []struct {
		folder  string
		read    bool
		flagged bool
		cats    []string
	}{
		{"INBOX", false, true, []string{"Important", "Category_Updates"}},
		{"Label_1", true, false, []string{"customers"}}, // a category sorting before the folder
		{"Label_3", true, true, nil},
		{ArchiveFolderID, true, false, []string{"Zeta", "customers"}},
		{"SENT", true, false, []string{"Projects/2026"}},
		{"TRASH", false, false, nil},
	} {
		w := s.labelsFor(tc.folder, tc.read, tc.flagged, tc.cats)
		if len(w.missing) != 0 {
			t.Fatalf("labelsFor(%s, %v) wants labels created: %v", tc.folder, tc.cats, w.missing)
		}
		p := s.place(w.ids, tc.folder, LabelsFirstFolder)
		slices.Sort(p.Categories)
		want := slices.Clone(tc.cats)
		slices.Sort(want)
		if p.Folder != tc.folder || p.Read != tc.read || p.Flagged != tc.flagged || !slices.Equal(p.Categories, want) {
			t.Errorf("%s %v: labels %v place back as %+v", tc.folder, tc.cats, w.ids, p)
		}
	}
}

func TestLabelsFor(t *testing.T) {
	t.Parallel()
	s := testLabels()
	w := s.labelsFor("Label_1", false, true, []string{"Important", "category_social", "Customers", "New/Thing", "Inbox", " ", "Projects"})
	wantIDs := []string{"Label_1", "UNREAD", "STARRED", "IMPORTANT", "CATEGORY_SOCIAL", "Label_4"}
	wantMissing := []string{"New/Thing", "Inbox (migrated)"}
	if !slices.Equal(w.ids, wantIDs) || !slices.Equal(w.missing, wantMissing) {
		t.Errorf("labelsFor = ids %v missing %v; want %v and %v", w.ids, w.missing, wantIDs, wantMissing)
	}
	if w := s.labelsFor(pathPrefix+"Archive/2019", true, false, nil); !slices.Equal(w.missing, []string{"Archive/2019"}) || len(w.ids) != 0 {
		t.Errorf("a path folder's label is created on first use: %+v", w)
	}
	if w := s.labelsFor(ArchiveFolderID, true, false, nil); len(w.ids)+len(w.missing) != 0 {
		t.Errorf("the archive is no label: %+v", w)
	}
	for in, want := range map[string]string{"Spam": "Spam (migrated)", " a / b ": "a/b", "CATEGORY_X": "CATEGORY_X (migrated)", "//": "", "Kunde": "Kunde"} {
		if got := labelName(in); got != want {
			t.Errorf("labelName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := segment("Q1/Q2"); strings.Contains(got, "/") {
		t.Errorf("segment kept a slash: %q", got)
	}
}

// TestFolderTree: nested labels become nested folders, parents first; a
// parent path without a label of its own is a folder too.
func TestFolderTree(t *testing.T) {
	t.Parallel()
	fs := testLabels().folders()
	byID := map[string]platform.Folder{}
	pos := map[string]int{}
	roles := map[platform.Role]string{}
	for i, f := range fs {
		byID[f.ID] = f
		pos[f.ID] = i
		if f.Role != platform.RoleNone {
			roles[f.Role] = f.ID
		}
	}
	wantRoles := map[platform.Role]string{platform.RoleInbox: "INBOX", platform.RoleSent: "SENT", platform.RoleDrafts: "DRAFT",
		platform.RoleJunk: "SPAM", platform.RoleDeleted: "TRASH", platform.RoleArchive: ArchiveFolderID}
	for r, id := range wantRoles {
		if roles[r] != id {
			t.Errorf("role %s is folder %q, want %q", r, roles[r], id)
		}
	}
	for _, c := range []struct{ id, name, parent string }{
		{"Label_1", "Projects", ""}, {"Label_2", "2026", "Label_1"}, {"Label_3", "Q1", "Label_2"},
		{"Label_4", "customers", ""}, {pathPrefix + "Archive", "Archive", ""},
		{pathPrefix + "Archive/2019", "2019", pathPrefix + "Archive"}, {"Label_6", "Old", pathPrefix + "Archive/2019"},
	} {
		f, ok := byID[c.id]
		if !ok || f.Name != c.name || f.ParentID != c.parent || f.Kind != platform.Mail {
			t.Errorf("folder %s = %+v, want name %q parent %q", c.id, f, c.name, c.parent)
			continue
		}
		if c.parent != "" && pos[c.parent] > pos[c.id] {
			t.Errorf("folder %s listed before its parent %s", c.id, c.parent)
		}
	}
	for _, id := range []string{"CHAT", "STARRED", "UNREAD", "IMPORTANT", "CATEGORY_SOCIAL"} {
		if _, ok := byID[id]; ok {
			t.Errorf("%s is not a folder", id)
		}
	}
	// Six role folders, six labels, two path folders.
	if len(fs) != 14 || len(byID) != 14 {
		t.Errorf("%d folders listed, want 14: %+v", len(fs), fs)
	}
}

// TestPacerStaysUnderQuota drives the per-user bucket as fast as it lets
// requests through for five minutes of simulated time: no fixed minute
// window (how Google counts) gets more than the quota, and the quota is
// used to at least 90 %.
func TestPacerStaysUnderQuota(t *testing.T) {
	t.Parallel()
	for _, quota := range []int{15000, 3000} {
		p := newPacer(Config{GmailUnitsPerMinute: quota, BatchSize: DefaultBatchSize})
		l := rate.NewLimiter(rate.Limit(p.gmailRate), p.gmailBurst)
		start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		now := start
		perMinute := map[int]int{}
		costs := []int{25, 25, 5, 250, 25, 2}
		for i := 0; now.Sub(start) < 5*time.Minute; i++ {
			n := costs[i%len(costs)]
			// As waitUnits does: a call larger than the burst waits
			// for it piece by piece, and is sent after the last piece.
			for left := n; left > 0; {
				k := min(left, l.Burst())
				r := l.ReserveN(now, k)
				if !r.OK() {
					t.Fatalf("quota %d: %d units can never pass a burst of %d", quota, k, l.Burst())
				}
				now = now.Add(r.DelayFrom(now))
				left -= k
			}
			perMinute[int(now.Sub(start)/time.Minute)] += n
		}
		for m := 0; m < 5; m++ {
			if u := perMinute[m]; u > quota || u < quota*9/10 {
				t.Errorf("quota %d: minute %d used %d units, want between 90%% and 100%%", quota, m, u)
			}
		}
	}
}
