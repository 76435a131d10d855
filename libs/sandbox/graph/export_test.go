package graph

// SetRenderHook makes the sandbox call hook before it renders or parses a
// message of a user, so that tests can see what the store lock does
// meanwhile.
func SetRenderHook(s *Sandbox, hook func(userID string)) {
	if hook == nil {
		s.renderHook.Store(nil)
		return
	}
	s.renderHook.Store(&hook)
}
