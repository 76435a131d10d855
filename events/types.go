package events

// Pair is one source mailbox and where it goes, as carried by run requests and
// mailbox jobs. Create is set when the destination must be created first.
type Pair struct {
	SourceID           string `json:"sourceId"`
	SourceAddress      string `json:"sourceAddress"`
	DestinationID      string `json:"destinationId,omitempty"`
	DestinationAddress string `json:"destinationAddress"`
	Create             bool   `json:"create,omitempty"`
}

// Run modes.
const (
	ModeDiscovery = "discovery"
	ModePrestage  = "prestage"
	ModeFull      = "full"
	ModeDelta     = "delta"
)

// Modes lists the valid run modes.
var Modes = []string{ModeDiscovery, ModePrestage, ModeFull, ModeDelta}
