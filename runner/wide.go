package runner

// Wide reports whether the runner is working through a large backlog
// with its bulk workers (Config.BulkWorkers): the latest claim found more
// runs due than it could take, or more runs than Workers are still in
// flight. The Salesforce batcher then lets a level's writes gather into
// one ingest job (batch.BulkOptions.Wide).
func (r *Runner) Wide() bool {
	if r.cfg.BulkWorkers <= r.cfg.Workers {
		return false
	}
	return r.wide.Load() || len(r.slots) > r.cfg.Workers
}

// saturated reports, while the runner is wide, that every run it may
// have in flight is: no change can start until one finishes.
func (r *Runner) saturated() bool {
	return r.Wide() && len(r.slots) >= r.workers()
}

// workers is how many runs may be in flight now.
func (r *Runner) workers() int {
	if r.wide.Load() {
		return max(r.cfg.Workers, r.cfg.BulkWorkers)
	}
	return r.cfg.Workers
}

// widen widens the runner when a claim took as many runs as it asked
// for (more may be due) and narrows it when it took fewer.
func (r *Runner) widen(got, asked int, slow bool) {
	if r.cfg.BulkWorkers <= r.cfg.Workers {
		return
	}
	wide := got >= asked && !slow
	if r.wide.Swap(wide) != wide {
		r.cfg.Logger.Info("runner width changed for a backlog", "wide", wide, "workers", r.workers())
	}
}
