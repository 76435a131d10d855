package memory

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/mailferry/mailferry/libs/errs"
)

// cursor is the state behind an opaque Items token. Tokens are opaque so
// that callers store and pass them back without depending on their shape,
// exactly as they must with Graph's skip and delta links.
type cursor struct {
	folder string
	// delta includes deletions; full enumerations skip them.
	delta bool
	// deltaStart marks a DeltaToken: it holds only where the last
	// enumeration ended, and its upper bound is fixed when it is used.
	deltaStart bool
	after      uint64
	upper      uint64
}

const tokenPrefix = "mft1."

func (c cursor) encode() string {
	mode := "F"
	switch {
	case c.deltaStart:
		mode = "D"
	case c.delta:
		mode = "N"
	}
	raw := fmt.Sprintf("%s|%s|%d|%d", mode, c.folder, c.after, c.upper)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeToken(tok string) (cursor, error) {
	bad := errs.New(errs.Invalid, "the paging or delta token is not one this sandbox issued",
		"start a full enumeration with an empty token")
	if !strings.HasPrefix(tok, tokenPrefix) {
		return cursor{}, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok[len(tokenPrefix):])
	if err != nil {
		return cursor{}, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 {
		return cursor{}, bad
	}
	after, err1 := strconv.ParseUint(parts[2], 10, 64)
	upper, err2 := strconv.ParseUint(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return cursor{}, bad
	}
	c := cursor{folder: parts[1], after: after, upper: upper}
	switch parts[0] {
	case "F":
	case "N":
		c.delta = true
	case "D":
		c.deltaStart, c.delta = true, true
	default:
		return cursor{}, bad
	}
	return c, nil
}
