//go:build linux

package main

import (
	"fmt"
	"strings"
	"time"
)

// report collects every result and renders the markdown.
type report struct {
	start              time.Time
	command            string
	machine, versions  []string
	loadStart, loadEnd load
	quietWait          string
	floor              *floorResult
	add                *addResult
	list               *listResult
	keeper             []keeperRun
	micro              []microResult
	microCmd           string
	errors             []string
}

func newReport() *report { return &report{start: time.Now()} }

// Targets of issue 9.
const (
	targetVsNatpmpc = 1.5  // cold add at most 1.5x natpmpc
	targetVsUpnpc   = 50.0 // cold add at least 50x faster than upnpc -a
	targetList      = 20.0 // list of 100 at least 20x faster than upnpc -l
	targetRSSMiB    = 30.0 // keeper of 1000 under 30 MiB resident
)

func (r *report) markdown() string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	p("## Benchmark run of %s", r.start.UTC().Format("2006-01-02 15:04 UTC"))
	p("")
	p("- Command: `%s`", strings.TrimSpace(r.command))
	for _, m := range r.machine {
		p("- %s", m)
	}
	if len(r.versions) > 0 {
		p("- Peers and gateway: %s", strings.Join(r.versions, ", "))
	}
	p("- Load average (1, 5, 15 min): %s at start, %s at end", r.loadStart, r.loadEnd)
	if r.quietWait != "" {
		p("- %s", r.quietWait)
	}
	p("- Times are wall clock around the exec of `ip netns exec LAN <tool>` (the same for every tool), median and p90 (nearest rank) of the runs, in ms; the tools ran interleaved, round by round. CPU is user+system of the process (`ip` itself included, see the floor).")
	p("")
	r.targets(p)
	r.floorSection(p)
	r.addSection(p)
	r.listSection(p)
	r.keeperSection(p)
	r.microSection(p)
	if len(r.errors) > 0 {
		p("### Errors")
		p("")
		for _, e := range r.errors {
			p("- %s", e)
		}
		p("")
	}
	return w.String()
}

type printer func(format string, args ...any)

func metStr(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**not met**"
}

func (r *report) targets(p printer) {
	p("### Targets")
	p("")
	p("| target | measured | |")
	p("|---|---|---|")
	if r.add != nil {
		nat := lookup(r.add.cold, natpmpcAdd)
		up := lookup(r.add.cold, upnpcAdd)
		for _, name := range []string{pmUPnPCold, pmAutoCold, pmAutoNoGW} {
			s := lookup(r.add.cold, name)
			if s == nil || nat == nil || s.median() == 0 || nat.median() == 0 {
				continue
			}
			x := float64(s.median()) / float64(nat.median())
			p("| cold `%s` within %.1fx of `natpmpc -a` | %s ms vs %s ms = %.2fx | %s |", name, targetVsNatpmpc, ms(s.median()), ms(nat.median()), x, metStr(x <= targetVsNatpmpc))
			if up != nil && up.median() > 0 {
				y := float64(up.median()) / float64(s.median())
				p("| cold `%s` >= %.0fx faster than `upnpc -a` | %s ms vs %s ms = %.0fx | %s |", name, targetVsUpnpc, ms(s.median()), ms(up.median()), y, metStr(y >= targetVsUpnpc))
			}
		}
	}
	if r.list != nil && len(r.list.sizes) > 0 {
		ls := r.list.sizes[0]
		up := lookup(ls.rows, upnpcList)
		for _, name := range []string{pmListCold, pmListKnown} {
			s := lookup(ls.rows, name)
			if s == nil || up == nil || s.median() == 0 || up.median() == 0 {
				continue
			}
			y := float64(up.median()) / float64(s.median())
			p("| `%s` of %d >= %.0fx faster than `upnpc -l` | %s ms vs %s ms = %.0fx | %s |", name, ls.n, targetList, ms(s.median()), ms(up.median()), y, metStr(y >= targetList))
		}
		last := r.list.sizes[len(r.list.sizes)-1]
		p("| gateway daemon alive after listing %d (portmap list, upnpc -l) | %v | %s |", last.n, yesNo(last.alive), metStr(last.alive))
	}
	for _, k := range r.keeper {
		if k.res.Mappings < 1000 || k.err != "" {
			continue
		}
		mib := float64(k.res.RSSPeak) / 1024
		p("| keeper of %d (%s, %s) under %.0f MiB resident | peak %.1f MiB | %s |", k.res.Mappings, k.kind, k.res.Protocol, targetRSSMiB, mib, metStr(mib < targetRSSMiB))
	}
	p("")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (r *report) floorSection(p printer) {
	f := r.floor
	if f == nil {
		return
	}
	p("### Physical floor")
	p("")
	p("| what | median ms | p90 ms | min ms | runs | CPU ms |")
	p("|---|---|---|---|---|---|")
	for _, s := range []*series{f.nsTrue, f.version} {
		p("| `ip netns exec LAN %s` | %s | %s | %s | %d | %s |", strings.TrimPrefix(s.name, "ip netns exec LAN "), ms(s.median()), ms(s.p90()), ms(s.min()), len(s.samples), ms(s.medianCPU()))
	}
	rt := f.rtt
	row := func(name string, s rttStats) {
		p("| %s | %s | %s | %s | %d | |", name, ms(s.Median), ms(s.P90), ms(s.Min), s.N)
	}
	row("UDP round trip to the gateway (NAT-PMP address request, in-process)", rt.UDP)
	row("new TCP connection + SOAP GetExternalIPAddress (in-process)", rt.SOAP)
	row("new TCP connection + GET rootDesc.xml (in-process)", rt.Desc)
	row("unicast SSDP M-SEARCH to the gateway, first answer (in-process)", rt.SSDP)
	row("new TCP connection + SOAP AddPortMapping (in-process)", rt.AddPM)
	row("new TCP connection + SOAP DeletePortMapping (in-process)", rt.DelPM)
	row("UDP round trip sent right after 5 unicast SSDP searches (in-process)", rt.UDPAfterSSDP)
	if f.version.median() > 0 && rt.UDP.Median > 0 {
		p("| **floor of a NAT-PMP/PCP add**: `portmap version` + 1 UDP round trip | %s | | | | |", ms(f.version.median()+rt.UDP.Median))
		p("| **floor of a UPnP add, URL known**: `portmap version` + 1 AddPortMapping | %s | | | | |", ms(f.version.median()+rt.AddPM.Median))
		p("| **floor of a cold UPnP add**: `portmap version` + SSDP answer + GET description + 1 AddPortMapping | %s | | | | |", ms(f.version.median()+rt.SSDP.Median+rt.Desc.Median+rt.AddPM.Median))
	}
	if rt.Error != "" {
		p("")
		p("Round-trip errors: %s", rt.Error)
	}
	p("")
}

// toolTable renders rows with ratios against natpmpc and an upnpc row.
func toolTable(p printer, rows []*series, nat, up *series, upName string) {
	p("| tool | runs | median ms | p90 ms | min ms | CPU ms | / natpmpc | %s / this | gateway saw (one run) | notes |", upName)
	p("|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range rows {
		if s == nil {
			continue
		}
		vsNat, vsUp := "", ""
		if strings.HasPrefix(s.name, "portmap") {
			if nat != nil {
				vsNat = ratio(s.median(), nat.median())
			}
			if up != nil {
				vsUp = ratio(up.median(), s.median())
			}
		}
		note := s.note
		if s.failures > 0 {
			note = strings.TrimPrefix(fmt.Sprintf("%s; %d failed: %s", note, s.failures, s.lastErr), "; ")
		}
		p("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s |", s.name, len(s.samples), ms(s.median()), ms(s.p90()), ms(s.min()),
			ms(s.medianCPU()), vsNat, vsUp, s.requests, note)
	}
	p("")
}

func (r *report) addSection(p printer) {
	a := r.add
	if a == nil {
		return
	}
	nat := lookup(a.cold, natpmpcAdd)
	p("### 1. Cold add: new process, discovery included")
	p("")
	p("Each portmap run starts with an empty control-URL cache and state (`XDG_CACHE_HOME`, `XDG_STATE_HOME` fresh directories): the first run on a machine. Every tool maps a new port and the mapping is deleted after the run, untimed.")
	p("")
	toolTable(p, a.cold, nat, lookup(a.cold, upnpcAdd), "upnpc -a")
	p("### 2. Add with the gateway known")
	p("")
	p("portmap with the control URL in its on-disk cache (a second run), upnpc with `-u URL`. natpmpc always gets the gateway's address (`-g`): its row is the one of part 1.")
	p("")
	toolTable(p, a.known, nat, lookup(a.known, upnpcKnownAdd), "upnpc -u")
	p("Mapping rules left in the gateway after the add runs: %d.", a.leftover)
	p("")
	if a.verbose != "" {
		p("Where a cold `portmap -v --via upnp add` spends its time (log record times, relative to the first):")
		p("")
		p("```")
		w := strings.TrimRight(a.verbose, "\n")
		p("%s", w)
		p("```")
		p("")
	}
}

func (r *report) listSection(p printer) {
	l := r.list
	if l == nil {
		return
	}
	p("### 3. List the gateway's table")
	p("")
	for _, ls := range l.sizes {
		up := lookup(ls.rows, upnpcList)
		p("**%d mappings** (table filled with one AddPortMapping per mapping in %s s); gateway daemon alive afterwards: %s", ls.n, fmt.Sprintf("%.1f", ls.populate.Seconds()), yesNo(ls.alive))
		p("")
		p("| tool | runs | median ms | p90 ms | min ms | CPU ms | upnpc -l / this | gateway saw (one run) | notes |")
		p("|---|---|---|---|---|---|---|---|---|")
		for _, s := range ls.rows {
			vs := ""
			if up != nil && s != up {
				vs = ratio(up.median(), s.median())
			}
			note := s.note
			if s.failures > 0 {
				note = strings.TrimPrefix(fmt.Sprintf("%s; %d failed: %s", note, s.failures, s.lastErr), "; ")
			}
			p("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s |", s.name, len(s.samples), ms(s.median()), ms(s.p90()), ms(s.min()), ms(s.medianCPU()), vs, s.requests, note)
		}
		p("")
	}
	if l.bigL != nil {
		s := l.bigL
		res := "answered"
		if s.failures > 0 {
			res = "failed: " + s.lastErr
		}
		p("`upnpc -L` with %d mappings, run once, last: %s (%s ms); gateway daemon alive afterwards: **%s**.", l.bigLN, res, ms(s.median()), yesNo(l.bigLAlive))
		p("")
	}
	if l.autoNote != "" {
		p("%s.", l.autoNote)
		p("")
	}
	if l.restarted != "" {
		p("After the list runs: %s.", l.restarted)
		p("")
	}
}

func (r *report) keeperSection(p printer) {
	if len(r.keeper) == 0 {
		return
	}
	p("### 4. Keeper against the fake gateway (portmaptest, loopback)")
	p("")
	p("One child process per row (the gateway runs in the parent). Mappings asked for with a short lifetime so that renewals happen during the window; a renewal cycle is one renewal of every mapping. CPU is user+system of the keeper's process.")
	p("")
	p("| keeper | protocol | mappings | add all s | RSS after adds MiB | peak RSS MiB | window s | CPU in window ms | renewals | cycles | CPU per cycle ms | CPU per renewal µs | stop s | left on gateway | errors |")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, k := range r.keeper {
		x := k.res
		cycles := 0.0
		if x.Mappings > 0 {
			cycles = float64(x.Renewed) / float64(x.Mappings)
		}
		perCycle, perRenewal := "-", "-"
		if cycles > 0 {
			perCycle = fmt.Sprintf("%.2f", float64(x.CPUWindow)/cycles/float64(time.Millisecond))
			perRenewal = fmt.Sprintf("%.0f", float64(x.CPUWindow)/float64(x.Renewed)/float64(time.Microsecond))
		}
		errs := k.err
		if x.AddErrors > 0 {
			errs = strings.TrimPrefix(fmt.Sprintf("%s; %d adds failed: %s", errs, x.AddErrors, x.FirstError), "; ")
		}
		if x.Failed > 0 {
			errs = strings.TrimPrefix(fmt.Sprintf("%s; %d failed/lost events", errs, x.Failed), "; ")
		}
		p("| %s | %s | %d | %.2f | %.1f | %.1f | %.1f | %.0f | %d | %.1f | %s | %s | %.2f | %d | %s |",
			k.kind, x.Protocol, x.Mappings, x.AddTime.Seconds(), float64(x.RSSAfter)/1024, float64(x.RSSPeak)/1024,
			x.Window.Seconds(), float64(x.CPUWindow)/float64(time.Millisecond), x.Renewed, cycles, perCycle, perRenewal,
			x.StopTime.Seconds(), k.left, errs)
	}
	p("")
}

func (r *report) microSection(p printer) {
	if len(r.micro) == 0 && r.microCmd == "" {
		return
	}
	p("### 5. Codec micro-benchmarks")
	p("")
	p("`%s`", r.microCmd)
	p("")
	p("| package | benchmark | ns/op | B/op | allocs/op |")
	p("|---|---|---|---|---|")
	for _, m := range r.micro {
		p("| %s | %s | %s | %s | %s |", m.pkg, strings.TrimPrefix(m.name, "Benchmark"), m.nsOp, m.bOp, m.allocsOp)
	}
	p("")
}
