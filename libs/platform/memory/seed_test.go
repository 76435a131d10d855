package memory

import (
	"context"
	"testing"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// TestSeedProfileAndTree: the memory platform seeds Light mail unless told
// otherwise, every listed size is the generator's for the chosen profile,
// and the generator's whole folder tree is there.
func TestSeedProfileAndTree(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		set  tenantgen.Profile
		want tenantgen.Profile
	}{
		{"default", tenantgen.Profile{}, tenantgen.Light},
		{"realistic", tenantgen.Realistic, tenantgen.Realistic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tn := NewStore().AddTenant(tc.name, "fabrikam.test")
			mb := Seed(tn, SeedSpec{Mailboxes: 1, ItemsPerMailbox: 200, Seed: 5, FirstIndex: 9, Profile: tc.set})[0]
			folders, err := tn.Folders(ctx, mb.ID)
			if err != nil {
				t.Fatal(err)
			}
			byID, paths := map[string]platform.Folder{}, map[string]bool{}
			for _, f := range folders {
				byID[f.ID] = f
			}
			var path func(f platform.Folder) string
			path = func(f platform.Folder) string {
				if p, ok := byID[f.ParentID]; ok {
					return path(p) + "/" + f.Name
				}
				return f.Name
			}
			// What the generator says, per folder path, for this profile.
			wantBytes, wantCount := map[string]int64{}, map[string]int{}
			for idx := range 200 {
				if kindAt(idx) == platform.Mail {
					m := tenantgen.Mail(5, 9, idx, "fabrikam.test", tenantgen.Options{Profile: tc.want})
					wantBytes[m.Folder.String()] += m.Size
					wantCount[m.Folder.String()]++
				}
			}
			gotBytes, gotCount := map[string]int64{}, map[string]int{}
			for _, f := range folders {
				paths[path(f)] = true
				for _, r := range collect(t, tn, mb.ID, f.ID, "").refs {
					if r.Kind != platform.Mail {
						continue
					}
					it, err := tn.ReadItem(ctx, mb.ID, r)
					if err != nil {
						t.Fatal(err)
					}
					if int64(len(it.Content)) != r.Size {
						t.Fatalf("item %s: listed %d bytes, content %d", r.ID, r.Size, len(it.Content))
					}
					gotBytes[path(f)] += r.Size
					gotCount[path(f)]++
				}
			}
			t.Logf("mail per folder %v", gotCount)
			for p, n := range wantBytes {
				if gotBytes[p] != n || gotCount[p] != wantCount[p] {
					t.Errorf("%s: %d items of %d bytes, the generator says %d of %d", p, gotCount[p], gotBytes[p], wantCount[p], n)
				}
			}
			for _, gf := range tenantgen.Folders() {
				if !gf.WellKnown() && !paths[gf.String()] {
					t.Errorf("folder %s missing from %v", gf, paths)
				}
			}
		})
	}
}
