//go:build linux

package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// addResult holds scenarios 1 (cold add) and 2 (gateway known).
type addResult struct {
	cold, known []*series
	leftover    int    // mapping rules left in the gateway after the part
	verbose     string // timeline of one cold "portmap --via upnp add -v"
}

// lookup finds a series by name.
func lookup(list []*series, name string) *series {
	for _, s := range list {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Series names used by the report.
const (
	pmUPnPCold    = "portmap --via upnp add"
	pmNATPMPCold  = "portmap --via natpmp add"
	pmPCPCold     = "portmap --via pcp add"
	pmAutoCold    = "portmap --via auto add"
	pmAutoNoGW    = "portmap add (no --gateway)"
	natpmpcAdd    = "natpmpc -g GW -a"
	upnpcAdd      = "upnpc -a"
	pmUPnPKnown   = "portmap --via upnp add (cached URL)"
	pmAutoKnown   = "portmap --via auto add (cached URL)"
	upnpcKnownAdd = "upnpc -u URL -a"
	natpmpcKnown  = natpmpcAdd
)

// addScenarios measures a new process adding one mapping: cold (empty
// control-URL cache and state: discovery included) and with the gateway
// known (a warm cache for portmap, -u URL for upnpc). Every tool maps its
// own ports and deletes its mapping after each run, untimed.
func (b *bench) addScenarios(ctx context.Context) error {
	res := &addResult{}
	b.rep.add = res
	gw := b.tb.GatewayLAN.String()
	host := b.tb.Host.String()
	life := "3600"
	newS := func(list *[]*series, name string) *series {
		s := &series{name: name}
		*list = append(*list, s)
		return s
	}
	base := 40000
	nextBase := func() int { base += 200; return base }

	// portmapTrial is a portmap add with a fresh environment per run
	// (cold) or a shared, pre-warmed one (known).
	portmapTrial := func(s *series, runs int, via string, withGW bool, shared *pmEnv) *trial {
		b0 := nextBase()
		envs := map[int]pmEnv{}
		env := func(i int) pmEnv {
			if shared != nil {
				return *shared
			}
			if e, ok := envs[i]; ok {
				return e
			}
			e := b.newPMEnv("add")
			envs[i] = e
			return e
		}
		want := "via " + via
		return &trial{s: s, runs: runs,
			cmd: func(ctx context.Context, i int) *exec.Cmd {
				p := itoa(b0 + i)
				args := []string{"--via", via, "add", "--lifetime", "1h", p + ":" + p}
				if withGW {
					return b.pm(ctx, env(i), args...)
				}
				return b.pmNoGW(ctx, env(i), args...)
			},
			check: func(out string) error {
				if via != "auto" && !strings.Contains(out, want) {
					return fmt.Errorf("unexpected output %q", out)
				}
				if via == "auto" {
					if m := regexp.MustCompile(`via (\w+)`).FindStringSubmatch(out); m != nil {
						s.note = "auto chose " + m[1]
					}
				}
				return nil
			},
			cleanup: func(ctx context.Context, i int) error {
				_, err := run(b.pm(ctx, env(i), "--via", via, "delete", itoa(b0+i)))
				return err
			},
		}
	}
	natpmpcTrial := func(s *series) *trial {
		b0 := nextBase()
		return &trial{s: s, runs: b.cfg.runs,
			cmd: func(ctx context.Context, i int) *exec.Cmd {
				p := itoa(b0 + i)
				return b.lan(ctx, nil, "natpmpc", "-g", gw, "-a", p, p, "tcp", life)
			},
			check: func(out string) error {
				if !strings.Contains(out, "Mapped public port") {
					return fmt.Errorf("natpmpc: %q", lastLine(out))
				}
				return nil
			},
			cleanup: func(ctx context.Context, i int) error {
				p := itoa(b0 + i)
				_, err := run(b.lan(ctx, nil, "natpmpc", "-g", gw, "-a", p, p, "tcp", "0"))
				return err
			},
		}
	}
	upnpcTrial := func(s *series, runs int, known bool) *trial {
		b0 := nextBase()
		return &trial{s: s, runs: runs,
			cmd: func(ctx context.Context, i int) *exec.Cmd {
				p := itoa(b0 + i)
				args := []string{"-a", host, p, p, "TCP", life}
				if known {
					args = append([]string{"-u", b.descURL()}, args...)
				}
				return b.lan(ctx, nil, "upnpc", args...)
			},
			check: upnpcAdded,
			cleanup: func(ctx context.Context, i int) error {
				_, err := run(b.lan(ctx, nil, "upnpc", "-u", b.descURL(), "-d", itoa(b0+i), "TCP"))
				return err
			},
		}
	}

	// A warm control-URL cache, as after a first run of portmap.
	warm := b.newPMEnv("warm")
	if _, err := run(b.pm(ctx, warm, "--via", "upnp", "ip")); err != nil {
		return fmt.Errorf("warming the cache: %w", err)
	}
	warmAuto := b.newPMEnv("warm-auto")
	if _, err := run(b.pm(ctx, warmAuto, "--via", "upnp", "ip")); err != nil {
		return fmt.Errorf("warming the cache: %w", err)
	}

	n, slow := b.cfg.runs, b.cfg.slowRuns
	trials := []*trial{
		portmapTrial(newS(&res.cold, pmUPnPCold), n, "upnp", true, nil),
		portmapTrial(newS(&res.cold, pmNATPMPCold), n, "natpmp", true, nil),
		portmapTrial(newS(&res.cold, pmPCPCold), n, "pcp", true, nil),
		portmapTrial(newS(&res.cold, pmAutoCold), n, "auto", true, nil),
		portmapTrial(newS(&res.cold, pmAutoNoGW), n, "auto", false, nil),
		natpmpcTrial(newS(&res.cold, natpmpcAdd)),
		upnpcTrial(newS(&res.cold, upnpcAdd), slow, false),
		portmapTrial(newS(&res.known, pmUPnPKnown), n, "upnp", true, &warm),
		portmapTrial(newS(&res.known, pmAutoKnown), n, "auto", true, &warmAuto),
		upnpcTrial(newS(&res.known, upnpcKnownAdd), n, true),
	}
	b.alternate(ctx, trials)
	for _, t := range trials {
		if t.cleanupFails > 0 {
			t.s.note = strings.TrimPrefix(t.s.note+fmt.Sprintf("; %d cleanups failed", t.cleanupFails), "; ")
		}
	}
	// The natpmpc row of the "known" table is the same measurement: natpmpc
	// always gets the gateway's address.
	res.known = append(res.known, lookup(res.cold, natpmpcAdd))

	var err error
	res.leftover, err = b.countRules(ctx)
	if err != nil {
		return err
	}
	res.verbose = b.verboseTimeline(ctx)
	return nil
}

func upnpcAdded(out string) error {
	if !strings.Contains(out, "is redirected to internal") {
		return fmt.Errorf("upnpc: %q", lastLine(out))
	}
	return nil
}

// countRules counts the DNAT rules in the gateway's ruleset: the mappings.
func (b *bench) countRules(ctx context.Context) (int, error) {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	rs, err := b.tb.ReadRuleset(cctx)
	if err != nil {
		return 0, err
	}
	return strings.Count(rs, "dnat "), nil
}

// verboseTimeline runs one cold "portmap -v --via upnp add" and returns
// its log with times relative to the first record: where the time goes.
func (b *bench) verboseTimeline(ctx context.Context) string {
	e := b.newPMEnv("verbose")
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := b.pm(cctx, e, "-v", "--via", "upnp", "add", "--lifetime", "1h", "39999:39999")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	total := time.Since(start)
	defer func() {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		defer dcancel()
		run(b.pm(dctx, e, "--via", "upnp", "delete", "39999"))
	}()
	var sb strings.Builder
	fmt.Fprintf(&sb, "total %s ms (wall, around the exec)", ms(total))
	if err != nil {
		fmt.Fprintf(&sb, "; failed: %v", err)
	}
	sb.WriteString("\n")
	timeRE := regexp.MustCompile(`time=(\S+)`)
	var first time.Time
	for line := range strings.SplitSeq(strings.TrimSpace(stderr.String()), "\n") {
		m := timeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		t, perr := time.Parse(time.RFC3339Nano, m[1])
		if perr != nil {
			continue
		}
		if first.IsZero() {
			first = t
		}
		rest := strings.TrimSpace(strings.Replace(line, m[0], "", 1))
		if len(rest) > 160 {
			rest = rest[:160] + "..."
		}
		fmt.Fprintf(&sb, "+%7.2f ms  %s\n", float64(t.Sub(first))/float64(time.Millisecond), rest)
	}
	return sb.String()
}
