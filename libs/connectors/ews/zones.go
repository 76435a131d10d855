package ews

import (
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/pim"
)

// windowsZoneIDs are the Windows time zone ids Exchange names a calendar
// item's zones by (case matters to Exchange), the ones libs/pim resolves
// to IANA zones. The first of several ids for one IANA zone wins.
var windowsZoneIDs = []string{
	"UTC", "GMT Standard Time", "W. Europe Standard Time", "Romance Standard Time", "Central Europe Standard Time",
	"Central European Standard Time", "Eastern Standard Time", "Pacific Standard Time", "Central Standard Time",
	"Mountain Standard Time", "US Mountain Standard Time", "Tokyo Standard Time", "China Standard Time",
	"India Standard Time", "AUS Eastern Standard Time", "Dateline Standard Time", "UTC-11", "Hawaiian Standard Time",
	"Alaskan Standard Time", "Central America Standard Time", "Canada Central Standard Time", "SA Pacific Standard Time",
	"US Eastern Standard Time", "Atlantic Standard Time", "SA Western Standard Time", "Pacific SA Standard Time",
	"Newfoundland Standard Time", "E. South America Standard Time", "Argentina Standard Time", "Greenland Standard Time",
	"UTC-02", "Azores Standard Time", "Greenwich Standard Time", "W. Central Africa Standard Time", "GTB Standard Time",
	"Middle East Standard Time", "Egypt Standard Time", "E. Europe Standard Time", "South Africa Standard Time",
	"FLE Standard Time", "Israel Standard Time", "Turkey Standard Time", "Arabic Standard Time", "Arab Standard Time",
	"Russian Standard Time", "E. Africa Standard Time", "Iran Standard Time", "Arabian Standard Time",
	"Afghanistan Standard Time", "Pakistan Standard Time", "Sri Lanka Standard Time", "Nepal Standard Time",
	"Bangladesh Standard Time", "Myanmar Standard Time", "SE Asia Standard Time", "Singapore Standard Time",
	"Taipei Standard Time", "W. Australia Standard Time", "Korea Standard Time", "Cen. Australia Standard Time",
	"AUS Central Standard Time", "E. Australia Standard Time", "Tasmania Standard Time", "New Zealand Standard Time",
}

var (
	zoneOnce   sync.Once
	zoneByIANA map[string]string
	zoneLocs   []zoneLoc
	zoneMu     sync.Mutex
	zoneFound  = map[string]string{} // IANA name -> Windows id or "" (none), by rule comparison
)

type zoneLoc struct {
	id  string
	loc *time.Location
}

func loadZones() {
	zoneByIANA = map[string]string{}
	for _, id := range windowsZoneIDs {
		loc, ok := pim.Zone(id)
		if !ok {
			continue
		}
		zoneLocs = append(zoneLocs, zoneLoc{id, loc})
		if _, dup := zoneByIANA[loc.String()]; !dup {
			zoneByIANA[loc.String()] = id
		}
	}
}

// windowsZone names loc the way Exchange does. A zone without a Windows id
// of its own (Europe/Vienna) takes the first Windows zone whose offsets
// agree with it every day of the surrounding years, which is the zone
// Windows itself would use; false when no zone agrees.
func windowsZone(loc *time.Location) (string, bool) {
	zoneOnce.Do(loadZones)
	if loc == nil || loc == time.UTC || loc.String() == "UTC" {
		return "UTC", true
	}
	if id, ok := zoneByIANA[loc.String()]; ok {
		return id, true
	}
	zoneMu.Lock()
	defer zoneMu.Unlock()
	if id, ok := zoneFound[loc.String()]; ok {
		return id, id != ""
	}
	year := time.Now().Year()
	from := time.Date(year-1, 1, 1, 12, 0, 0, 0, time.UTC)
	found := ""
	for _, z := range zoneLocs {
		same := true
		for t := from; t.Year() <= year+1 && same; t = t.Add(24 * time.Hour) {
			_, a := t.In(loc).Zone()
			_, b := t.In(z.loc).Zone()
			same = a == b
		}
		if same {
			found = z.id
			break
		}
	}
	zoneFound[loc.String()] = found
	return found, found != ""
}
