package mapcsv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// known is the tenant used by the import tests.
var known = Known{
	Source:      set("alice@old.com", "bob@old.com", "carol@old.com", "dave@old.com"),
	Destination: set("alice@new.com", "bob@new.com", "carol@new.com", "dave@new.com"),
}

func set(addrs ...string) func(string) bool {
	m := map[string]bool{}
	for _, a := range addrs {
		m[a] = true
	}
	return func(a string) bool { return m[a] }
}

// errKey renders a RowError without its message, which is prose and free to
// change; row, column and code are the stable contract.
func errKey(e RowError) string {
	return fmt.Sprintf("%d/%s/%s", e.Row, e.Column, e.Code)
}

func TestImport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		known    *Known // nil means the package-level known
		wantRows []Row
		wantErrs []string
	}{
		{
			name: "all actions",
			in: "source,destination,action,note\n" +
				"alice@old.com,alice@new.com,migrate,\n" +
				"bob@old.com,,exclude,left the company\n" +
				"carol@old.com,carol.new@new.com,create,hire\n" +
				"dave@old.com,dave@new.com,,\n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate},
				{Source: "bob@old.com", Action: Exclude, Note: "left the company"},
				{Source: "carol@old.com", Destination: "carol.new@new.com", Action: Create, Note: "hire"},
				{Source: "dave@old.com", Destination: "dave@new.com", Action: Migrate},
			},
		},
		{
			name: "header case and order free, action and note optional, cells trimmed and lower-cased",
			in:   " Destination ,SOURCE\n ALICE@new.com , Alice@Old.com \n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate},
			},
		},
		{
			name: "action is case-insensitive",
			in:   "source,destination,action\nalice@old.com,,EXCLUDE\nbob@old.com,bob@new.com, Migrate \n",
			wantRows: []Row{
				{Source: "alice@old.com", Action: Exclude},
				{Source: "bob@old.com", Destination: "bob@new.com", Action: Migrate},
			},
		},
		{
			name: "UTF-8 BOM, CRLF and trailing blank lines",
			in:   "\xEF\xBB\xBFsource,destination,action,note\r\nalice@old.com,alice@new.com,migrate,café\r\n\r\n,,,\r\n\r\n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate, Note: "café"},
			},
		},
		{
			name: "quoted fields with commas, quotes and line breaks",
			in: "source,destination,action,note\n" +
				"\"alice@old.com\",\"alice@new.com\",\"migrate\",\"Smith, \"\"Al\"\"\nsecond line\"\n" +
				"bob@old.com,bob@new.com,,\n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate, Note: "Smith, \"Al\"\nsecond line"},
				{Source: "bob@old.com", Destination: "bob@new.com", Action: Migrate},
			},
		},
		{
			name: "short rows are padded, extra empty cells ignored",
			in:   "source,destination,action,note\nalice@old.com,alice@new.com\nbob@old.com,bob@new.com,,,,\n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate},
				{Source: "bob@old.com", Destination: "bob@new.com", Action: Migrate},
			},
		},
		{
			name: "unnamed empty column tolerated",
			in:   "source,,destination\nalice@old.com,,alice@new.com\n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate},
			},
		},
		{
			name: "excluded rows are not checked for destination or duplicates",
			in:   "source,destination,action\nalice@old.com,nobody@nowhere,exclude\nbob@old.com,alice@new.com,exclude\ncarol@old.com,alice@new.com,migrate\n",
			wantRows: []Row{
				{Source: "alice@old.com", Destination: "nobody@nowhere", Action: Exclude},
				{Source: "bob@old.com", Destination: "alice@new.com", Action: Exclude},
				{Source: "carol@old.com", Destination: "alice@new.com", Action: Migrate},
			},
		},
		{
			name:     "header only gives no rows and no errors",
			in:       "source,destination\n",
			wantRows: []Row{},
		},
		{
			name:  "nil Known accepts every address",
			in:    "source,destination\nany@where.com,else@where.com\n",
			known: &Known{},
			wantRows: []Row{
				{Source: "any@where.com", Destination: "else@where.com", Action: Migrate},
			},
		},
		{
			name:     "unknown source",
			in:       "source,destination\nzed@old.com,alice@new.com\n",
			wantErrs: []string{"2/source/unknown_source"},
		},
		{
			name:     "empty source",
			in:       "source,destination\n,alice@new.com\n",
			wantErrs: []string{"2/source/unknown_source"},
		},
		{
			name:     "unknown destination for migrate",
			in:       "source,destination,action\nalice@old.com,zed@new.com,migrate\n",
			wantErrs: []string{"2/destination/unknown_destination"},
		},
		{
			name:     "duplicate source",
			in:       "source,destination,action\nalice@old.com,alice@new.com,\nALICE@old.com,,exclude\n",
			wantErrs: []string{"3/source/duplicate_source"},
		},
		{
			name:     "duplicate destination, also across migrate and create",
			in:       "source,destination,action\nalice@old.com,alice@new.com,\nbob@old.com,alice@new.com,\ncarol@old.com,x@new.com,create\ndave@old.com,X@new.com,create\n",
			wantErrs: []string{"3/destination/duplicate_destination", "5/destination/duplicate_destination"},
		},
		{
			name:     "invalid action",
			in:       "source,destination,action\nalice@old.com,alice@new.com,move\n",
			wantErrs: []string{"2/action/invalid_action"},
		},
		{
			name:     "create of an address that already exists",
			in:       "source,destination,action\nalice@old.com,alice@new.com,create\n",
			wantErrs: []string{"2/action/invalid_action"},
		},
		{
			name:     "missing destination for migrate and for create",
			in:       "source,destination,action\nalice@old.com,,migrate\nbob@old.com,,\ncarol@old.com, ,create\n",
			wantErrs: []string{"2/destination/missing_destination", "3/destination/missing_destination", "4/destination/missing_destination"},
		},
		{
			name: "create needs a valid address",
			in: "source,destination,action\n" +
				"alice@old.com,not-an-address,create\n" +
				"bob@old.com,Bob <bob2@new.com>,create\n" +
				"carol@old.com,carol@localhost,create\n" +
				"dave@old.com,dave@@new.com,create\n",
			wantErrs: []string{"2/destination/invalid_address", "3/destination/invalid_address", "4/destination/invalid_address", "5/destination/invalid_address"},
		},
		{
			name:     "empty file",
			in:       "",
			wantErrs: []string{"1//bad_header"},
		},
		{
			name:     "BOM only",
			in:       "\xEF\xBB\xBF",
			wantErrs: []string{"1//bad_header"},
		},
		{
			name:     "no header row: data where the header should be",
			in:       "alice@old.com,alice@new.com\n",
			wantErrs: []string{"1//bad_header", "1/source/bad_header", "1/destination/bad_header"},
		},
		{
			name:     "missing required column",
			in:       "source,action\nalice@old.com,exclude\n",
			wantErrs: []string{"1/destination/bad_header"},
		},
		{
			name:     "unknown column (typo)",
			in:       "source,destination,acton\nalice@old.com,,exclude\n",
			wantErrs: []string{"1//bad_header"},
		},
		{
			name:     "duplicate column",
			in:       "source,destination,Source\nalice@old.com,alice@new.com,bob@old.com\n",
			wantErrs: []string{"1/source/bad_header"},
		},
		{
			name:     "bare quote is malformed",
			in:       "source,destination,note\nalice@old.com,alice@new.com,say \"hi\"\nbob@old.com,bob@new.com,\n",
			wantErrs: []string{"2//malformed"},
		},
		{
			name:     "unclosed quote is malformed",
			in:       "source,destination,note\nalice@old.com,alice@new.com,\"open\nbob@old.com,bob@new.com,\n",
			wantErrs: []string{"2//malformed"},
		},
		{
			name:     "more cells than columns",
			in:       "source,destination\nalice@old.com,alice@new.com,surprise\n",
			wantErrs: []string{"2//malformed"},
		},
		{
			name:     "value under an unnamed column",
			in:       "source,,destination\nalice@old.com,lost,alice@new.com\n",
			wantErrs: []string{"2//malformed"},
		},
		{
			name: "every error is listed, with spreadsheet row numbers across blank and multi-line rows",
			in: "source,destination,action,note\n" +
				"zed@old.com,alice@new.com,,\n" + // row 2
				",,,\n" + // row 3, blank
				"bob@old.com,zed@new.com,,\"two\nlines\"\n" + // row 4
				"carol@old.com,carol@new.com,frobnicate,\n" + // row 5
				"bob@old.com,bob@new.com,,\n" + // row 6
				"dave@old.com,,,\n", // row 7
			wantErrs: []string{
				"2/source/unknown_source",
				"4/destination/unknown_destination",
				"5/action/invalid_action",
				"6/source/duplicate_source",
				"7/destination/missing_destination",
			},
		},
		{
			name:     "one row can carry several errors",
			in:       "source,destination\nzed@old.com,zed@new.com\n",
			wantErrs: []string{"2/source/unknown_source", "2/destination/unknown_destination"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			k := known
			if tt.known != nil {
				k = *tt.known
			}
			rows, errs := Import(strings.NewReader(tt.in), k)
			var got []string
			for _, e := range errs {
				got = append(got, errKey(e))
				if e.Message == "" {
					t.Errorf("%s has no message", errKey(e))
				}
			}
			if !reflect.DeepEqual(got, tt.wantErrs) {
				t.Errorf("errors:\n got %v\nwant %v\n(%v)", got, tt.wantErrs, errs)
			}
			if len(errs) > 0 && rows != nil {
				t.Errorf("rows returned despite errors: %v", rows)
			}
			if tt.wantErrs == nil && !reflect.DeepEqual(rows, tt.wantRows) {
				t.Errorf("rows:\n got %#v\nwant %#v", rows, tt.wantRows)
			}
		})
	}
}

func TestImportMessagesSayWhatToDo(t *testing.T) {
	t.Parallel()
	_, errs := Import(strings.NewReader("source,destination\nalice@old.com,zed@new.com\n"), known)
	if len(errs) != 1 {
		t.Fatalf("got %v", errs)
	}
	for _, want := range []string{"zed@new.com", "create"} {
		if !strings.Contains(errs[0].Message, want) {
			t.Errorf("message %q lacks %q", errs[0].Message, want)
		}
	}
	if s := errs[0].Error(); !strings.HasPrefix(s, "row 2, column destination: unknown_destination: ") {
		t.Errorf("Error() = %q", s)
	}
}

func TestImportTooManyRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rows    int
		wantErr bool
	}{
		{MaxRows, false},
		{MaxRows + 1, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rows), func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			b.WriteString("source,destination\n")
			for i := range tt.rows {
				fmt.Fprintf(&b, "s%d@old.com,d%d@new.com\n", i, i)
			}
			rows, errs := Import(strings.NewReader(b.String()), Known{})
			if !tt.wantErr {
				if len(errs) != 0 || len(rows) != tt.rows {
					t.Fatalf("got %d rows, errors %v", len(rows), errs)
				}
				return
			}
			if rows != nil || len(errs) != 1 || errs[0].Code != CodeTooLarge || !strings.Contains(errs[0].Message, "100000") {
				t.Fatalf("got %d rows, errors %v", len(rows), errs)
			}
		})
	}
}

// endless yields a header and then CSV rows forever, to show the byte limit
// stops a runaway upload without reading it all.
type endless struct{ sent bool }

func (e *endless) Read(p []byte) (int, error) {
	if !e.sent {
		e.sent = true
		return copy(p, "source,destination,note\n"), nil
	}
	line := "a@b.com,c@d.com," + strings.Repeat("x", 1000) + "\n"
	n := 0
	for n+len(line) <= len(p) {
		n += copy(p[n:], line)
	}
	if n == 0 {
		n = copy(p, "x")
	}
	return n, nil
}

func TestImportTooLarge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("reads MaxBytes")
	}
	rows, errs := Import(&endless{}, Known{})
	if rows != nil || len(errs) != 1 || errs[0].Code != CodeTooLarge {
		t.Fatalf("got %d rows, errors %v", len(rows), errs)
	}
}

func TestLimitReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in           string
		limit        int64
		want         string
		wantExceeded bool
	}{
		{"abc", 3, "abc", false},
		{"abcd", 3, "abc", true},
		{"ab", 3, "ab", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			lr := &limitReader{r: strings.NewReader(tt.in), left: tt.limit}
			got, err := io.ReadAll(lr)
			if err != nil || string(got) != tt.want || lr.exceeded != tt.wantExceeded {
				t.Errorf("got %q, %v, exceeded=%v", got, err, lr.exceeded)
			}
		})
	}
}

func TestExport(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	err := Export(&b, []Row{
		{Source: "alice@old.com", Destination: "alice@new.com"},
		{Source: "bob@old.com", Action: Exclude, Note: "gone, for good"},
		{Source: "eve@old.com", Destination: "eve@new.com", Action: Create, Note: "=HYPERLINK(\"http://evil\")"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "source,destination,action,note\n" +
		"alice@old.com,alice@new.com,migrate,\n" +
		"bob@old.com,,exclude,\"gone, for good\"\n" +
		"eve@old.com,eve@new.com,create,\"'=HYPERLINK(\"\"http://evil\"\")\"\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestExportWriteError(t *testing.T) {
	t.Parallel()
	if err := Export(failWriter{}, []Row{{Source: "a@b.com"}}); err == nil {
		t.Fatal("want the writer's error")
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rows []Row
	}{
		{"empty", []Row{}},
		{"plain", []Row{
			{Source: "alice@old.com", Destination: "alice@new.com", Action: Migrate},
			{Source: "bob@old.com", Action: Exclude},
			{Source: "carol@old.com", Destination: "carol@fresh.com", Action: Create},
		}},
		{"awkward notes", []Row{
			{Source: "a@old.com", Destination: "a@new.com", Action: Migrate, Note: "comma, \"quotes\"\nand lines"},
			{Source: "b@old.com", Destination: "b@new.com", Action: Migrate, Note: "  padded, ünïcødé 日本  "},
			{Source: "c@old.com", Destination: "c@new.com", Action: Migrate, Note: "=1+1"},
			{Source: "d@old.com", Destination: "d@new.com", Action: Migrate, Note: "'=1+1"},
			{Source: "e@old.com", Destination: "e@new.com", Action: Migrate, Note: "'quoted"},
			{Source: "f@old.com", Destination: "f@new.com", Action: Migrate, Note: "@SUM(A1)"},
			{Source: "g@old.com", Destination: "g@new.com", Action: Migrate, Note: "-5"},
			{Source: "h@old.com", Destination: "h@new.com", Action: Migrate, Note: "\tTAB"},
		}},
		{"formula-like address", []Row{
			{Source: "-dash@old.com", Destination: "+plus@new.com", Action: Create},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := Export(&b, tt.rows); err != nil {
				t.Fatal(err)
			}
			got, errs := Import(&b, Known{})
			if errs != nil {
				t.Fatalf("import: %v", errs)
			}
			if !reflect.DeepEqual(got, tt.rows) {
				t.Errorf("got %#v\nwant %#v", got, tt.rows)
			}
		})
	}
}

func TestEscapeCell(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, out string }{
		{"plain", "plain"},
		{"", ""},
		{"=x", "'=x"},
		{"+x", "'+x"},
		{"-x", "'-x"},
		{"@x", "'@x"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"'x", "'x"},
		{"'=x", "''=x"},
		{"a=b", "a=b"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := escapeCell(tt.in); got != tt.out {
				t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.out)
			}
			if got := unescapeCell(tt.out); got != tt.in {
				t.Errorf("unescape(%q) = %q, want %q", tt.out, got, tt.in)
			}
		})
	}
}
