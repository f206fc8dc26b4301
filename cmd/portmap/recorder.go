package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/internal/state"
)

// recorder batches the daemon's writes of the state file: a keeper of a
// thousand mappings renews hundreds a second, and writing the file for each
// renewal cost O(n) each, O(n²) a cycle.
type recorder struct {
	file state.File
	log  *slog.Logger

	mu   sync.Mutex
	put  map[string]portmap.Mapping
	drop map[string]portmap.Mapping
}

func newRecorder(f state.File, log *slog.Logger) *recorder {
	return &recorder{file: f, log: log, put: map[string]portmap.Mapping{}, drop: map[string]portmap.Mapping{}}
}

func (r *recorder) record(m portmap.Mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.drop, state.Key(m))
	r.put[state.Key(m)] = m
}

func (r *recorder) forget(m portmap.Mapping) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.put, state.Key(m))
	r.drop[state.Key(m)] = m
}

// flush writes what changed since the last flush.
func (r *recorder) flush() {
	r.mu.Lock()
	put := make([]portmap.Mapping, 0, len(r.put))
	for _, m := range r.put {
		put = append(put, m)
	}
	drop := make([]portmap.Mapping, 0, len(r.drop))
	for _, m := range r.drop {
		drop = append(drop, m)
	}
	r.put, r.drop = map[string]portmap.Mapping{}, map[string]portmap.Mapping{}
	r.mu.Unlock()
	if len(put)+len(drop) == 0 {
		return
	}
	if err := r.file.Apply(put, drop); err != nil {
		r.log.Warn("state file", "err", err)
	}
}

// run flushes every interval until ctx ends.
func (r *recorder) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.flush()
		}
	}
}
