package salesforce

// Fault hooks for the fault-injection middleware: each reproduces, on
// demand, something a real org does to its clients without warning.

// ExpireSessions invalidates every issued access token, as a real org does
// when sessions time out or an admin revokes them: the next data or
// streaming request with an old token answers 401 INVALID_SESSION_ID, and a
// new token grant works as before. It returns how many sessions ended.
func (e *Emulator) ExpireSessions() int {
	e.mu.Lock()
	n := len(e.sessions)
	clear(e.sessions)
	if n > 0 {
		e.unsaved.endSessions, e.unsaved.sessions = true, nil
		e.journalLocked()
	}
	e.mu.Unlock()
	e.log.Info("salesforce emulator: sessions expired", "sessions", n)
	return n
}

// DropStreams forgets every CometD client, as a real org does when it
// moves a client to another server: each must handshake again, and its
// replay id resumes it.
func (e *Emulator) DropStreams() {
	if e.stream != nil {
		e.stream.DropClients()
	}
	e.log.Info("salesforce emulator: streaming clients dropped")
}
