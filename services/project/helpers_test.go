package project_test

import (
	"github.com/mailferry/mailferry/events"
	"github.com/mailferry/mailferry/events/project"
)

func projectRunRequested(runID, projectID, accountID string) project.RunRequested {
	return project.RunRequested{RunID: runID, ProjectID: projectID, AccountID: accountID, Mode: events.ModeFull, Mail: true,
		Pairs: []events.Pair{{SourceID: "a", SourceAddress: "a@x.example", DestinationAddress: "a@y.example"}}}
}
