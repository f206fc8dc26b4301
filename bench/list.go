//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/portmap-dev/portmap/upnp"
)

// listResult holds scenario 3: listing a gateway's table.
type listResult struct {
	sizes []*listSize
	// autoNote says what "portmap list" does without --via.
	autoNote string
	// bigL is "upnpc -L" with the largest table, run once, last.
	bigL      *series
	bigLN     int
	bigLAlive bool
	restarted string
}

// listSize is the measurements with one table size.
type listSize struct {
	n        int
	populate time.Duration
	rows     []*series
	alive    bool // the gateway daemon after all of them
}

// Series names of the list scenario.
const (
	pmListCold    = "portmap --via upnp --timeout 60s list"
	pmListKnown   = "portmap --via upnp --timeout 60s list (cached URL)"
	pmListDefault = "portmap --via upnp list (default --timeout 10s)"
	upnpcList     = "upnpc -l"
	upnpcBigL     = "upnpc -L"
	upnpcKnownL   = "upnpc -u URL -L"
	libList       = "library ListPortMappings, MaxPerReply "
)

// upnpcEntry matches one mapping line of "upnpc -l" and "upnpc -L".
var upnpcEntry = regexp.MustCompile(`(?m)^\s*\d+\s+(TCP|UDP)\s+\d+->`)

// listScenarios fills the gateway's table with 100 and then 200 mappings
// and times listing it. "upnpc -L" (one GetListOfPortMappings) crashes
// miniupnpd 2.3.1 when the answer would hold more than about 120-140
// entries, so with 200 it runs once, last, and the gateway is restarted
// afterwards if it died.
func (b *bench) listScenarios(ctx context.Context) error {
	res := &listResult{}
	b.rep.list = res
	warm := b.newPMEnv("list-warm")
	if _, err := run(b.pm(ctx, warm, "--via", "upnp", "ip")); err != nil {
		return fmt.Errorf("warming the cache: %w", err)
	}
	have := 0
	defer func() {
		// Remove what was added: a reboot of the gateway flushes its
		// chains (and revives it if upnpc -L killed it).
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.tb.Restart(rctx); err != nil {
			res.restarted = "restart failed: " + err.Error()
		} else if res.restarted == "" {
			res.restarted = "gateway restarted to flush the table"
		}
	}()
	for _, n := range []int{100, 200} {
		ls := &listSize{n: n}
		res.sizes = append(res.sizes, ls)
		t0 := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		_, err := run(b.lan(cctx, nil, b.self, "-child", "fill",
			"-child-gateway", b.tb.GatewayLAN.String(), "-child-host", b.tb.Host.String(),
			"-child-first", itoa(45000+have), "-child-n", itoa(n-have)))
		cancel()
		if err != nil {
			return fmt.Errorf("filling the table: %w", err)
		}
		have = n
		ls.populate = time.Since(t0)
		if got, err := b.countRules(ctx); err == nil && got != n {
			b.progress("list: the gateway holds %d rules, want %d", got, n)
		}
		b.progress("list: %d mappings in the gateway (filled in %v)", n, ls.populate.Round(time.Millisecond))

		newS := func(name string) *series {
			s := &series{name: name}
			ls.rows = append(ls.rows, s)
			return s
		}
		upnpcTimeout := time.Duration(n) * 3 * time.Second
		trials := []*trial{
			b.pmListTrial(newS(pmListCold), n, b.cfg.listRuns, nil, "60s"),
			b.pmListTrial(newS(pmListKnown), n, b.cfg.listRuns, &warm, "60s"),
			b.pmListTrial(newS(pmListDefault), n, b.cfg.slowRuns, nil, ""),
			b.upnpcListTrial(newS(upnpcList), n, b.cfg.listSlowRuns, upnpcTimeout, "-l"),
		}
		for _, per := range []int{64, upnp.MaxSafePerReply} {
			trials = append(trials, b.libListTrial(newS(fmt.Sprintf("%s%d (in-process)", libList, per)), n, per))
		}
		if n <= 100 {
			// Within what miniupnpd 2.3.1 survives.
			trials = append(trials,
				b.upnpcListTrial(newS(upnpcBigL), n, b.cfg.slowRuns, time.Minute, "-L"),
				b.upnpcListTrial(newS(upnpcKnownL), n, b.cfg.listRuns, time.Minute, "-u", b.descURL(), "-L"))
			res.autoNote = b.autoListNote(ctx, warm)
		}
		b.alternate(ctx, trials)
		ls.alive = b.tb.GatewayAlive()
		if !ls.alive {
			return fmt.Errorf("miniupnpd died during the list runs with %d mappings", n)
		}
	}
	if b.cfg.listUpnpcHuge {
		res.bigL = &series{name: upnpcBigL}
		res.bigLN = have
		b.progress("list: upnpc -L with %d mappings (may crash miniupnpd)", have)
		b.once(ctx, b.upnpcListTrial(res.bigL, have, 1, time.Minute, "-L"))
		time.Sleep(500 * time.Millisecond)
		res.bigLAlive = b.tb.GatewayAlive()
		if !res.bigLAlive {
			res.restarted = "miniupnpd died under upnpc -L; restarted"
		}
	}
	return nil
}

// pmListTrial is "portmap --via upnp list --json", checked for n entries,
// with --timeout (empty: the default, 10 s).
func (b *bench) pmListTrial(s *series, n, runs int, shared *pmEnv, timeout string) *trial {
	return &trial{s: s, runs: runs,
		cmd: func(ctx context.Context, _ int) *exec.Cmd {
			e := b.newPMEnv("list")
			if shared != nil {
				e = *shared
			}
			args := []string{"--via", "upnp", "--json", "list"}
			if timeout != "" {
				args = append([]string{"--timeout", timeout}, args...)
			}
			return b.pm(ctx, e, args...)
		},
		check: func(out string) error {
			var entries []json.RawMessage
			if err := json.Unmarshal([]byte(out), &entries); err != nil {
				return fmt.Errorf("portmap list --json: %w", err)
			}
			if len(entries) != n {
				return fmt.Errorf("portmap list: %d entries, want %d", len(entries), n)
			}
			return nil
		},
		timeout: 90 * time.Second,
	}
}

// libListTrial times one upnp.ListPortMappings in a child process (its
// own measurement: no process start, no discovery), checked for n entries.
func (b *bench) libListTrial(s *series, n, perReply int) *trial {
	return &trial{s: s, runs: b.cfg.listRuns,
		cmd: func(ctx context.Context, _ int) *exec.Cmd {
			return b.lan(ctx, nil, b.self, "-child", "list",
				"-child-gateway", b.tb.GatewayLAN.String(), "-child-n", itoa(perReply))
		},
		inner: func(out string) (time.Duration, error) {
			var r upnpChildResult
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				return 0, err
			}
			if r.Entries != n {
				return 0, fmt.Errorf("listed %d entries, want %d", r.Entries, n)
			}
			return r.Elapsed, nil
		},
		timeout: 90 * time.Second,
	}
}

// upnpcListTrial is "upnpc ARGS", checked for n entries.
func (b *bench) upnpcListTrial(s *series, n, runs int, timeout time.Duration, args ...string) *trial {
	return &trial{s: s, runs: runs,
		cmd: func(ctx context.Context, _ int) *exec.Cmd {
			return b.lan(ctx, nil, "upnpc", args...)
		},
		check: func(out string) error {
			if got := len(upnpcEntry.FindAllString(out, -1)); got != n {
				s.note = fmt.Sprintf("printed %d of %d entries", got, n)
				return fmt.Errorf("upnpc %s: %d entries, want %d", strings.Join(args, " "), got, n)
			}
			return nil
		},
		timeout: timeout,
	}
}

// autoListNote runs "portmap list" without --via once and says what it
// listed: auto picks the best protocol, and NAT-PMP and PCP cannot list.
func (b *bench) autoListNote(ctx context.Context, e pmEnv) string {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, out, err := runTimed(b.pm(cctx, e, "--json", "list"))
	if err != nil {
		return fmt.Sprintf("`portmap list` (auto) failed: %v", err)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		return fmt.Sprintf("`portmap list` (auto): bad JSON: %v", err)
	}
	proto := ""
	if len(entries) > 0 {
		proto, _ = entries[0]["protocol"].(string)
	}
	return fmt.Sprintf("`portmap list` without --via printed %d entries (protocol %q) in %s ms", len(entries), proto, ms(s.wall))
}
