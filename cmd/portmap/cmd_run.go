package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
)

func newRunCmd(a *app) *cobra.Command {
	var configPath, statusAddr string
	cmd := &cobra.Command{
		Use:   "run --config FILE",
		Short: "Keep the mappings of a configuration file alive (daemon)",
		Long: `run keeps every mapping declared in a TOML file alive: it renews them, makes
them again after a gateway reboot or address change, waits for the gateway when
it is unreachable, and deletes them on SIGINT or SIGTERM. It logs to stderr.

Example configuration:

  via = "auto"                # optional: auto, upnp, natpmp or pcp
  gateway = "192.168.1.1"     # optional: skip detection
  status = "127.0.0.1:7654"   # optional: GET /status returns JSON

  [[mapping]]
  port = "8080"               # [EXT:]INT[/tcp|/udp], as for "portmap add"
  lifetime = "2h"             # optional (default 168h)
  description = "web server"

  [[mapping]]
  port = "51413/udp"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if configPath == "" {
				return usageErrorf("run needs --config FILE (see 'portmap run --help')")
			}
			return a.runDaemon(cmd, configPath, statusAddr)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "TOML `FILE` declaring the mappings to keep")
	cmd.Flags().StringVar(&statusAddr, "status", "", "serve the status as JSON on http://`ADDR`/status (overrides the file's status)")
	return cmd
}

func (a *app) runDaemon(cmd *cobra.Command, path, statusAddr string) error {
	conf, err := loadConfig(path)
	if err != nil {
		return err
	}
	reqs, err := conf.requests()
	if err != nil {
		return err
	}
	// The file's settings apply unless given on the command line.
	if conf.Gateway != "" && !cmd.Flags().Changed("gateway") {
		a.gateway = conf.Gateway
	}
	if conf.Via != "" && !cmd.Flags().Changed("via") {
		a.via = conf.Via
	}
	if statusAddr == "" {
		statusAddr = conf.Status
	}
	opts, err := a.options()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	ctx := cmd.Context()

	st := &daemonStatus{started: time.Now()}
	if statusAddr != "" {
		stop, err := serveStatus(ctx, statusAddr, st)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("status", "url", "http://"+statusAddr+"/status")
	}
	c, err := discoverUntil(ctx, opts, log)
	if err != nil {
		return nil // stopped before a gateway was found: nothing to delete
	}
	defer c.Close()
	log.Info("gateway", "address", c.Gateway(), "protocol", c.Protocol(), "local", c.LocalAddr())
	rec := newRecorder(a.state(), log)
	recCtx, stopRec := context.WithCancel(ctx)
	var recDone sync.WaitGroup
	recDone.Go(func() { rec.run(recCtx, 5*time.Second) })
	defer func() {
		stopRec()
		recDone.Wait()
		rec.flush() // the deletions made as the keeper stopped
	}()
	k := portmap.NewKeeper(c, portmap.KeeperOptions{
		Discovery: opts,
		OnEvent: func(e portmap.Event) {
			st.event(e)
			attrs := []any{"transport", e.Mapping.Transport, "external", e.Mapping.External, "internal", e.Mapping.Internal, "protocol", e.Mapping.Protocol}
			switch {
			case e.Err != nil:
				log.Warn(e.Kind.String(), append(attrs, "err", e.Err)...)
			case e.Kind == portmap.Renewed:
				log.Debug(e.Kind.String(), attrs...)
			default:
				log.Info(e.Kind.String(), attrs...)
			}
			switch e.Kind {
			case portmap.Created, portmap.Restored, portmap.Renewed, portmap.AddressChanged:
				rec.record(e.Mapping)
			case portmap.Deleted:
				rec.forget(e.Mapping)
			}
		},
	})
	st.setKeeper(k)
	for _, r := range reqs {
		k.Hold(r)
	}
	err = k.Run(ctx)
	log.Info("stopped")
	return err
}

// discoverUntil looks for the gateway until it answers or ctx ends, waiting
// longer between attempts (1 s doubling to 1 min).
func discoverUntil(ctx context.Context, opts portmap.Options, log *slog.Logger) (*portmap.Client, error) {
	wait := time.Second
	for {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := portmap.Discover(dctx, opts)
		cancel()
		if err == nil {
			return c, nil
		}
		log.Warn("no gateway yet; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Minute)
	}
}

// daemonStatus is what GET /status shows.
type daemonStatus struct {
	started time.Time
	mu      sync.Mutex
	k       *portmap.Keeper
	events  []statusEvent
}

type statusEvent struct {
	Time    time.Time   `json:"time"`
	Event   string      `json:"event"`
	Mapping mappingJSON `json:"mapping"`
	Error   string      `json:"error,omitempty"`
}

// maxStatusEvents is how many recent events the status keeps.
const maxStatusEvents = 100

func (s *daemonStatus) setKeeper(k *portmap.Keeper) {
	s.mu.Lock()
	s.k = k
	s.mu.Unlock()
}

func (s *daemonStatus) event(e portmap.Event) {
	ev := statusEvent{Time: e.Time, Event: e.Kind.String(), Mapping: toJSON(e.Mapping)}
	if e.Err != nil {
		ev.Error = e.Err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	if len(s.events) > maxStatusEvents {
		s.events = s.events[len(s.events)-maxStatusEvents:]
	}
}

func (s *daemonStatus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	k := s.k
	out := struct {
		Started  time.Time     `json:"started"`
		Gateway  string        `json:"gateway,omitempty"`
		Protocol string        `json:"protocol,omitempty"`
		Mappings []mappingJSON `json:"mappings"`
		Events   []statusEvent `json:"events"`
	}{Started: s.started, Mappings: []mappingJSON{}, Events: append([]statusEvent{}, s.events...)}
	s.mu.Unlock()
	if k != nil {
		c := k.Client()
		out.Gateway, out.Protocol = c.Gateway().String(), string(c.Protocol())
		for _, m := range k.Mappings() {
			out.Mappings = append(out.Mappings, toJSON(m))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// serveStatus serves GET /status on addr until stop is called.
func serveStatus(ctx context.Context, addr string, h http.Handler) (stop func(), err error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, usageErrorf("status address %q: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /status", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Warn("status server", "err", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}
