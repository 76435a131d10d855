package plan

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/services/mapping/internal/mapcsv"
)

// Codes of request-wide problems, in addition to the mapcsv codes used for
// rows.
const (
	// CodeNoDiscovery: the project has no completed discovery, so there is
	// nothing to map yet.
	CodeNoDiscovery = "no_discovery"
	// CodeEmptyRequest: the request carries neither edits nor a file.
	CodeEmptyRequest = "empty_request"
)

// Edit decides an edit request against the project's current discovery and
// mapping. It returns mapping.MappingEdited when every row is valid and
// mapping.MappingEditRejected with every row error otherwise; a rejected
// request changes nothing.
//
// A CSV file (req.CSV) is the whole mapping: it is checked by mapcsv.Import
// (sources must be discovered source addresses, destinations discovered
// destination addresses unless the action is create) and replaces the
// mapping. A discovered source the file leaves out is excluded, because the
// file is what the person reviewed; nothing moves that the file does not
// name. Rows are numbered like a spreadsheet (header = row 1).
//
// Edits (req.Edits) change only the sources they name; row n is edit n
// (1-based). Each source must be discovered, the action migrate, exclude or
// create (empty means migrate), the destination discovered for migrate and
// new for create; and no destination may end up receiving two sources,
// counting the entries the request leaves as they are.
func Edit(s State, d Discovery, req project.MappingEditRequested) events.Event {
	reject := func(errs []mapping.RowError) events.Event {
		slices.SortStableFunc(errs, func(a, b mapping.RowError) int { return cmp.Compare(a.Row, b.Row) })
		return mapping.MappingEditRejected{ProjectID: req.ProjectID, RequestID: req.RequestID, Errors: errs}
	}
	if d.RunID == "" {
		return reject([]mapping.RowError{{Code: CodeNoDiscovery,
			Message: "no discovery has completed for this project, so there are no mailboxes to map yet; run a discovery first"}})
	}
	if req.CSV != "" {
		entries, errs := importCSV(d, req.CSV)
		if len(errs) > 0 {
			return reject(errs)
		}
		return mapping.MappingEdited{ProjectID: req.ProjectID, RequestID: req.RequestID, Entries: entries, Replace: true}
	}
	if len(req.Edits) == 0 {
		return reject([]mapping.RowError{{Code: CodeEmptyRequest,
			Message: "the request has no edits and no file; send at least one edit or a CSV file"}})
	}
	entries, errs := edits(s, d, req.Edits)
	if len(errs) > 0 {
		return reject(errs)
	}
	return mapping.MappingEdited{ProjectID: req.ProjectID, RequestID: req.RequestID, Entries: entries}
}

func rowErr(row int, column, code, format string, args ...any) mapping.RowError {
	return mapping.RowError{Row: row, Column: column, Code: code, Message: fmt.Sprintf(format, args...)}
}

func edits(s State, d Discovery, eds []project.MappingEdit) ([]mapping.Entry, []mapping.RowError) {
	srcs, dsts := newIndex(d.Sources), newIndex(d.Destinations)
	var errs []mapping.RowError
	seen := map[string]int{} // source id -> row
	var entries []mapping.Entry
	var rows []int
	for i, ed := range eds {
		row := i + 1
		before := len(errs)
		srcAddr := normAddr(ed.Source)
		src, ok := srcs.lookup(srcAddr)
		switch {
		case srcAddr == "":
			errs = append(errs, rowErr(row, mapcsv.ColSource, mapcsv.CodeUnknownSource, "the source is empty; give the source mailbox address"))
		case !ok:
			errs = append(errs, rowErr(row, mapcsv.ColSource, mapcsv.CodeUnknownSource, "%s is not a mailbox found in the source; correct the address", srcAddr))
		default:
			if first, dup := seen[src.ID]; dup {
				errs = append(errs, rowErr(row, mapcsv.ColSource, mapcsv.CodeDuplicateSource, "%s is already edited in row %d; keep one edit per source mailbox", srcAddr, first))
			} else {
				seen[src.ID] = row
			}
		}

		action := strings.ToLower(strings.TrimSpace(ed.Action))
		if action == "" {
			action = ActionMigrate
		}
		dstAddr := normAddr(ed.Destination)
		var dst platform.Mailbox
		switch action {
		case ActionMigrate:
			mb, found := dsts.lookup(dstAddr)
			switch {
			case dstAddr == "":
				errs = append(errs, rowErr(row, mapcsv.ColDestination, mapcsv.CodeMissingDestination, "the destination is empty; give the destination address, set action to create to have it created, or set action to exclude"))
			case !found:
				errs = append(errs, rowErr(row, mapcsv.ColDestination, mapcsv.CodeUnknownDestination, "%s is not a mailbox found in the destination; correct the address, or set action to create to have it created", dstAddr))
			default:
				dst = mb
			}
		case ActionCreate:
			switch {
			case dstAddr == "":
				errs = append(errs, rowErr(row, mapcsv.ColDestination, mapcsv.CodeMissingDestination, "the destination is empty; give the address of the mailbox to create"))
			case !mapcsv.ValidAddress(dstAddr):
				errs = append(errs, rowErr(row, mapcsv.ColDestination, mapcsv.CodeInvalidAddress, "%q is not a valid email address, so it cannot be created; write it as name@domain.example", dstAddr))
			case dsts.has(dstAddr):
				errs = append(errs, rowErr(row, mapcsv.ColAction, mapcsv.CodeInvalidAction, "%s already exists in the destination; set action to migrate instead of create", dstAddr))
			default:
				dst = platform.Mailbox{PrimaryAddress: dstAddr}
			}
		case ActionExclude:
			// The destination of an excluded mailbox is kept for the record
			// but not checked, as in a file.
			if mb, found := dsts.lookup(dstAddr); found {
				dst = mb
			} else if dstAddr != "" {
				dst = platform.Mailbox{PrimaryAddress: dstAddr}
			}
		default:
			errs = append(errs, rowErr(row, mapcsv.ColAction, mapcsv.CodeInvalidAction, "%q is not an action; use migrate, exclude or create", ed.Action))
		}
		if len(errs) == before {
			entries = append(entries, mapping.Entry{Source: src, Destination: dst, Method: MethodManual, Action: action})
			rows = append(rows, row)
		}
	}

	// A destination may receive one source in the mapping that results,
	// so an edit is checked against the entries it leaves alone too.
	after := make(map[string]mapping.Entry, len(s.Entries)+len(entries))
	for id, e := range s.Entries {
		after[id] = e
	}
	for _, e := range entries {
		after[e.Source.ID] = e
	}
	owners := map[string][]mapping.Entry{}
	for _, e := range after {
		if k := destKey(e); k != "" {
			owners[k] = append(owners[k], e)
		}
	}
	for i, e := range entries {
		k := destKey(e)
		if len(owners[k]) < 2 {
			continue
		}
		others := []string{}
		for _, o := range owners[k] {
			if o.Source.ID != e.Source.ID {
				others = append(others, o.Source.PrimaryAddress)
			}
		}
		slices.Sort(others)
		errs = append(errs, rowErr(rows[i], mapcsv.ColDestination, mapcsv.CodeDuplicateDestination,
			"%s is also the destination of %s, and a destination can receive only one source mailbox; change or exclude the other mapping in the same request",
			e.Destination.PrimaryAddress, strings.Join(others, ", ")))
	}
	return entries, errs
}

// importCSV validates a whole file. mapcsv checks the rows one address at
// a time; two different addresses of one mailbox (a primary and an alias)
// are caught here, with the row numbers recovered from the file.
func importCSV(d Discovery, file string) ([]mapping.Entry, []mapping.RowError) {
	srcs, dsts := newIndex(d.Sources), newIndex(d.Destinations)
	rows, rerrs := mapcsv.Import(strings.NewReader(file), mapcsv.Known{Source: srcs.has, Destination: dsts.has})
	if len(rerrs) > 0 {
		out := make([]mapping.RowError, len(rerrs))
		for i, e := range rerrs {
			out[i] = mapping.RowError(e)
		}
		return nil, out
	}
	lines := rowNumbers(file, len(rows))

	var errs []mapping.RowError
	srcRow := map[string]int{}
	dstRow := map[string]int{}
	entries := make([]mapping.Entry, 0, len(d.Sources))
	for i, r := range rows {
		row := lines[i]
		src, _ := srcs.lookup(r.Source)
		if first, dup := srcRow[src.ID]; dup {
			errs = append(errs, rowErr(row, mapcsv.ColSource, mapcsv.CodeDuplicateSource,
				"%s is the same source mailbox as row %d (%s); keep one row per source mailbox", r.Source, first, src.PrimaryAddress))
			continue
		}
		srcRow[src.ID] = row
		var dst platform.Mailbox
		switch string(r.Action) {
		case ActionMigrate:
			dst, _ = dsts.lookup(r.Destination)
		case ActionCreate:
			dst = platform.Mailbox{PrimaryAddress: r.Destination}
		case ActionExclude:
			if mb, ok := dsts.lookup(r.Destination); ok {
				dst = mb
			} else if r.Destination != "" {
				dst = platform.Mailbox{PrimaryAddress: r.Destination}
			}
		}
		e := mapping.Entry{Source: src, Destination: dst, Method: MethodCSV, Action: string(r.Action), Detail: r.Note}
		if k := destKey(e); k != "" {
			if first, dup := dstRow[k]; dup {
				errs = append(errs, rowErr(row, mapcsv.ColDestination, mapcsv.CodeDuplicateDestination,
					"%s is the same destination mailbox as in row %d, and a destination can receive only one source mailbox", r.Destination, first))
				continue
			}
			dstRow[k] = row
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	for _, mb := range d.Sources {
		if _, ok := srcRow[mb.ID]; !ok {
			entries = append(entries, mapping.Entry{Source: mb, Method: MethodCSV, Action: ActionExclude,
				Detail: "not in the imported file, so excluded; add a row for it to migrate it"})
		}
	}
	bySource(entries)
	return entries, nil
}

// rowNumbers gives the spreadsheet row number of each of the n data rows
// mapcsv.Import returned: it reads the (already validated) file the same
// way, counting records and skipping blank ones. Should the counts ever
// disagree, the rows are numbered 0 (the file as a whole) rather than
// wrongly.
func rowNumbers(file string, n int) []int {
	out := make([]int, 0, n)
	br := bufio.NewReader(strings.NewReader(file))
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	row := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			break
		}
		row++
		if row == 1 || blank(rec) {
			continue
		}
		out = append(out, row)
	}
	if len(out) != n {
		return make([]int, n)
	}
	return out
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
