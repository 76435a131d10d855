// Package mapcsv reads and writes a mailbox mapping as CSV, so that a person
// can bulk-edit thousands of pairs in a spreadsheet and upload them back.
//
// The file has a header row naming its columns, in any order and any case:
//
//	source,destination,action,note
//
// source and destination are required columns; action and note may be left
// out. action is "migrate" (the default when empty), "exclude" (do not
// migrate this source) or "create" (the destination does not exist yet and is
// to be created automatically).
//
// Import is all-or-nothing: a mapping half-applied from a file with mistakes
// is worse than none, because the person can no longer tell which rows took
// effect. But it reports every mistake at once, each with the spreadsheet row
// number and what to do, so one round of fixes is usually enough.
package mapcsv

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
)

// Action says what to do with a source mailbox.
type Action string

// The actions a row may carry.
const (
	Migrate Action = "migrate"
	Exclude Action = "exclude"
	Create  Action = "create"
)

// Column names, as written by Export.
const (
	ColSource      = "source"
	ColDestination = "destination"
	ColAction      = "action"
	ColNote        = "note"
)

// Error codes of RowError. They are stable: scripts may branch on them.
const (
	CodeUnknownSource        = "unknown_source"
	CodeUnknownDestination   = "unknown_destination"
	CodeDuplicateSource      = "duplicate_source"
	CodeDuplicateDestination = "duplicate_destination"
	CodeInvalidAction        = "invalid_action"
	CodeMissingDestination   = "missing_destination"
	CodeBadHeader            = "bad_header"
	CodeMalformed            = "malformed"
	// CodeInvalidAddress: a destination to create is not a valid address.
	CodeInvalidAddress = "invalid_address"
	// CodeTooLarge: the file exceeds MaxRows or MaxBytes.
	CodeTooLarge = "too_large"
)

// Limits on an imported file. They keep one upload from holding the service's
// memory; a larger tenant is imported in several files.
const (
	MaxRows  = 100_000
	MaxBytes = 32 << 20
)

// Row is one line of a mapping.
type Row struct {
	// Source is the source mailbox address. Import lower-cases and trims it.
	Source string `json:"source"`
	// Destination is the destination address; with Create it is the address
	// to create. It may be empty with Exclude. Import lower-cases and trims it.
	Destination string `json:"destination,omitempty"`
	Action      Action `json:"action"`
	// Note is free text for the people editing the file, kept verbatim.
	Note string `json:"note,omitempty"`
}

// Known tells Import which addresses exist. Both functions receive trimmed,
// lower-case addresses. A nil function accepts every address, for callers
// that validate later.
type Known struct {
	Source      func(addr string) bool
	Destination func(addr string) bool
}

// RowError is one problem found by Import.
type RowError struct {
	// Row is the spreadsheet row number: the header is row 1, the first data
	// row is row 2. Zero when the problem is the file as a whole.
	Row int `json:"row"`
	// Column is the column at fault, empty when it is the whole row or file.
	Column string `json:"column,omitempty"`
	// Code is one of the Code* constants.
	Code string `json:"code"`
	// Message says in plain words what is wrong and what to do.
	Message string `json:"message"`
}

func (e RowError) Error() string {
	if e.Row == 0 {
		return e.Code + ": " + e.Message
	}
	if e.Column == "" {
		return fmt.Sprintf("row %d: %s: %s", e.Row, e.Code, e.Message)
	}
	return fmt.Sprintf("row %d, column %s: %s: %s", e.Row, e.Column, e.Code, e.Message)
}

// Export writes rows as CSV with a header row. An empty Action is written as
// "migrate". Cells that a spreadsheet would run as a formula are escaped (see
// escapeCell); Import undoes it, so Export then Import gives the rows back.
func Export(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{ColSource, ColDestination, ColAction, ColNote}); err != nil {
		return err
	}
	for _, r := range rows {
		a := r.Action
		if a == "" {
			a = Migrate
		}
		rec := []string{escapeCell(r.Source), escapeCell(r.Destination), escapeCell(string(a)), escapeCell(r.Note)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Import parses and validates a mapping file. It returns the rows only when
// the whole file is valid; otherwise it returns nil rows and every error it
// found, in row order.
func Import(r io.Reader, known Known) ([]Row, []RowError) {
	lr := &limitReader{r: r, left: MaxBytes}
	br := bufio.NewReader(lr)
	// Spreadsheets (Excel in particular) start UTF-8 files with a byte order
	// mark; left in, it would turn "source" into an unknown column.
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xEF\xBB\xBF")) {
		_, _ = br.Discard(3)
	}

	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked here, with a better message

	im := importer{known: known, srcRow: map[string]int{}, dstRow: map[string]int{}}

	header, err := cr.Read()
	switch {
	case lr.exceeded:
		return nil, []RowError{tooLarge()}
	case errors.Is(err, io.EOF):
		return nil, []RowError{{Row: 1, Code: CodeBadHeader,
			Message: "the file is empty; it needs a header row such as source,destination,action,note"}}
	case err != nil:
		return nil, []RowError{malformed(1, err)}
	}
	if !im.header(header) {
		return nil, im.errs
	}

	// Row numbers count records, not file lines, because a quoted note may
	// span lines but is still one spreadsheet row.
	rowNum := 1
	dataRows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		rowNum++
		if lr.exceeded {
			return nil, []RowError{tooLarge()}
		}
		if err != nil {
			// A broken quote throws off every row after it, so reporting
			// those too would bury the real mistake.
			im.errs = append(im.errs, malformed(rowNum, err))
			break
		}
		if blank(rec) {
			// Spreadsheets leave empty rows (",,,") at the end, and people
			// leave them in the middle; neither means anything.
			continue
		}
		dataRows++
		if dataRows > MaxRows {
			return nil, []RowError{{Code: CodeTooLarge, Message: fmt.Sprintf(
				"the file has more than %d rows; split it into files of at most %d rows and import each", MaxRows, MaxRows)}}
		}
		im.row(rowNum, rec)
	}
	if lr.exceeded {
		return nil, []RowError{tooLarge()}
	}
	if len(im.errs) > 0 {
		return nil, im.errs
	}
	if im.rows == nil {
		im.rows = []Row{}
	}
	return im.rows, nil
}

type importer struct {
	known Known
	// col maps a column name to its index in the record.
	col  map[string]int
	ncol int
	// named marks the record indexes that belong to a known column.
	named []bool
	// srcRow and dstRow remember where each address was first seen, so a
	// duplicate can point at the row it clashes with.
	srcRow map[string]int
	dstRow map[string]int
	rows   []Row
	errs   []RowError
}

func (im *importer) fail(row int, column, code, format string, args ...any) {
	im.errs = append(im.errs, RowError{Row: row, Column: column, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (im *importer) header(h []string) bool {
	im.col = map[string]int{}
	im.ncol = len(h)
	im.named = make([]bool, len(h))
	var unknown []string
	for i, name := range h {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case ColSource, ColDestination, ColAction, ColNote:
			if _, dup := im.col[name]; dup {
				im.fail(1, name, CodeBadHeader, "the column %q appears twice in the header row; keep one", name)
				continue
			}
			im.col[name] = i
			im.named[i] = true
		case "":
			// An unnamed column is tolerated only if it stays empty; the
			// row check enforces that.
		default:
			// Unknown columns are refused rather than ignored: a typo such
			// as "acton" would otherwise silently turn every excluded row
			// back into a migration.
			unknown = append(unknown, fmt.Sprintf("%q", h[i]))
		}
	}
	if len(unknown) > 0 {
		im.fail(1, "", CodeBadHeader, "the header row has unknown column(s) %s; the columns are source, destination, action and note",
			strings.Join(unknown, ", "))
	}
	for _, req := range []string{ColSource, ColDestination} {
		if _, ok := im.col[req]; !ok {
			im.fail(1, req, CodeBadHeader, "the header row has no %q column; the first row must name the columns, for example source,destination,action,note", req)
		}
	}
	return len(im.errs) == 0
}

// cell returns the value of a column, or "" when the column is absent or the
// row is short (some tools drop trailing empty cells).
func (im *importer) cell(rec []string, name string) string {
	i, ok := im.col[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return unescapeCell(rec[i])
}

func (im *importer) row(n int, rec []string) {
	for i := len(rec) - 1; i >= 0; i-- {
		if i < im.ncol {
			break
		}
		if strings.TrimSpace(rec[i]) != "" {
			im.fail(n, "", CodeMalformed, "the row has %d cells but the header names %d columns; remove the extra cells or quote a cell that contains a comma",
				len(rec), im.ncol)
			return
		}
	}
	for i := 0; i < min(len(rec), im.ncol); i++ {
		if !im.named[i] && strings.TrimSpace(rec[i]) != "" {
			im.fail(n, "", CodeMalformed, "cell %d has a value but its column has no name in the header row; name the column or empty the cell", i+1)
			return
		}
	}

	src := normAddr(im.cell(rec, ColSource))
	dst := normAddr(im.cell(rec, ColDestination))
	note := im.cell(rec, ColNote)
	rawAction := strings.TrimSpace(im.cell(rec, ColAction))
	action := Action(strings.ToLower(rawAction))
	if action == "" {
		action = Migrate
	}

	switch {
	case src == "":
		im.fail(n, ColSource, CodeUnknownSource, "the source cell is empty; enter the source mailbox address or delete the row")
	case im.known.Source != nil && !im.known.Source(src):
		im.fail(n, ColSource, CodeUnknownSource, "%s is not a mailbox found in the source; correct the address or delete the row", src)
	default:
		if first, dup := im.srcRow[src]; dup {
			im.fail(n, ColSource, CodeDuplicateSource, "%s is already mapped in row %d; keep one row per source mailbox", src, first)
		} else {
			im.srcRow[src] = n
		}
	}

	switch action {
	case Migrate:
		switch {
		case dst == "":
			im.fail(n, ColDestination, CodeMissingDestination, "the destination cell is empty; enter the destination address, set action to create to have it created, or set action to exclude")
		case im.known.Destination != nil && !im.known.Destination(dst):
			im.fail(n, ColDestination, CodeUnknownDestination, "%s is not a mailbox found in the destination; correct the address, or set action to create to have it created", dst)
		default:
			im.claimDestination(n, dst)
		}
	case Create:
		switch {
		case dst == "":
			im.fail(n, ColDestination, CodeMissingDestination, "the destination cell is empty; enter the address of the mailbox to create")
		case !validAddress(dst):
			im.fail(n, ColDestination, CodeInvalidAddress, "%q is not a valid email address, so it cannot be created; write it as name@domain.example", dst)
		case im.known.Destination != nil && im.known.Destination(dst):
			im.fail(n, ColAction, CodeInvalidAction, "%s already exists in the destination; set action to migrate instead of create", dst)
		default:
			im.claimDestination(n, dst)
		}
	case Exclude:
		// The destination of an excluded row is kept as written but not
		// checked: excluding is how a person sets aside a row that is
		// wrong, and it must not fail for the reason it is being excluded.
	default:
		im.fail(n, ColAction, CodeInvalidAction, "%q is not an action; use migrate, exclude or create (empty means migrate)", rawAction)
	}

	im.rows = append(im.rows, Row{Source: src, Destination: dst, Action: action, Note: note})
}

func (im *importer) claimDestination(n int, dst string) {
	if first, dup := im.dstRow[dst]; dup {
		im.fail(n, ColDestination, CodeDuplicateDestination, "%s is already the destination in row %d; a destination can receive only one source mailbox", dst, first)
		return
	}
	im.dstRow[dst] = n
}

func normAddr(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// ValidAddress reports whether s can be the address of a mailbox to create;
// the mapping service applies the same rule to edits made one by one, so a
// row valid in a file is valid as an edit and the other way round.
func ValidAddress(s string) bool { return validAddress(s) }

// validAddress accepts a bare addr-spec with a dotted domain: a mailbox to be
// created on a real tenant needs a routable domain, and a display name
// ("Alice <a@x.com>") would be a copy-paste mistake here.
func validAddress(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	return at > 0 && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

func malformed(row int, err error) RowError {
	msg := "the file is not valid CSV"
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		msg = fmt.Sprintf("the file is not valid CSV near line %d (%v)", pe.Line, pe.Err)
	}
	return RowError{Row: row, Code: CodeMalformed,
		Message: msg + "; check that every quote that opens a cell also closes it, and save the file as CSV"}
}

func tooLarge() RowError {
	return RowError{Code: CodeTooLarge, Message: fmt.Sprintf(
		"the file is larger than %d MiB; split it into smaller files and import each", MaxBytes>>20)}
}

// limitReader stops reading after left bytes and remembers that it did, so
// the limit is reported as such and not as a confusing parse error.
type limitReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Probe one byte: a file of exactly the limit is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			l.exceeded = true
			return 0, io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Spreadsheets run a cell that starts with = + - @ (or a tab or carriage
// return) as a formula, which lets a crafted address or note execute when
// the export is opened ("CSV injection"). Export prefixes such cells with an
// apostrophe, which spreadsheets show as text; Import strips it again. A cell
// that already starts with apostrophes before a formula character gets one
// more, so the escaping is exactly reversible.
func needsEscape(s string) bool {
	for len(s) > 0 && s[0] == '\'' {
		s = s[1:]
	}
	return s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0
}

func escapeCell(s string) string {
	if needsEscape(s) {
		return "'" + s
	}
	return s
}

func unescapeCell(s string) string {
	if strings.HasPrefix(s, "'") && needsEscape(s[1:]) {
		return s[1:]
	}
	return s
}
