package transfer

import (
	"context"

	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Credential sides as the project service records them.
const (
	sideSource      = "source"
	sideDestination = "destination"
)

// projectState is what a worker needs of a project: the latest credentials
// reference per side. It is folded from the project's subject by a Repo,
// which reads only what is new since the last job of the project.
type projectState struct {
	creds map[string]project.CredentialsSet
}

func foldProject(s projectState, env bus.Envelope) projectState {
	c, ok := env.Event.(project.CredentialsSet)
	if !ok {
		return s
	}
	next := make(map[string]project.CredentialsSet, len(s.creds)+1)
	for k, v := range s.creds {
		next[k] = v
	}
	next[c.Side] = c
	return projectState{creds: next}
}

// open opens one side's connector from the project's latest credentials.
func (s *Service) open(ctx context.Context, projectID, side string) (platform.Connector, error) {
	st, _, err := s.projects.Get(ctx, project.ProjectSubject(projectID))
	if err != nil {
		return nil, err
	}
	c, ok := st.creds[side]
	if !ok {
		return nil, errs.New(errs.NotFound, "the project has no "+side+" credentials",
			"enter the "+side+" credentials of the project, then run again")
	}
	return s.d.Opener.Open(ctx, platform.Kind(c.Platform), c.Fields, c.VaultRef)
}
