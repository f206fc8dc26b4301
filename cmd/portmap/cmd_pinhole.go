package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/portmap-dev/portmap"
	"github.com/portmap-dev/portmap/pcp"
)

// portmap pinhole add|update|delete|check|list: IPv6 firewall pinholes,
// with UPnP WANIPv6FirewallControl or PCP over IPv6.
//
// A pinhole is named on the command line by its UPnP ID (a number), or by
// PORT/tcp|udp (its internal port and transport), which is how PCP
// pinholes, which have no ID, are named. Neither protocol can list
// pinholes, and PCP deletes only with the nonce that made one, so portmap
// records the pinholes it opens in pinholes.json beside the record of
// mappings (mappings.json) and finds them there.

func newPinholeCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pinhole",
		Short: "Open IPv6 firewall pinholes (UPnP WANIPv6FirewallControl, PCP over IPv6)",
		Long: `pinhole opens, renews, checks and closes inbound IPv6 firewall pinholes: with
IPv6 there is no NAT, but the router's firewall drops unsolicited traffic, and
a pinhole lets it reach one port of this host. UPnP (WANIPv6FirewallControl)
and PCP can do it, NAT-PMP cannot; with --via auto, PCP is preferred.

A pinhole is named by its UPnP ID (a number), or by PORT/tcp|udp, its
internal port and transport (PCP pinholes have no ID). Neither protocol can
list pinholes: portmap records those it opens, and 'pinhole list' shows them.`,
		Example: `  portmap pinhole add 8080
  portmap pinhole add 5000/udp --remote 2001:db8::7 --lifetime 30m
  portmap pinhole check 3
  portmap pinhole update 3 --lifetime 2h
  portmap pinhole delete 3
  portmap pinhole delete 8080/tcp
  portmap pinhole list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("missing pinhole command: add, update, delete, check or list; see 'portmap pinhole --help'")
		},
	}
	cmd.AddCommand(newPinholeAddCmd(a), newPinholeUpdateCmd(a), newPinholeDeleteCmd(a),
		newPinholeCheckCmd(a), newPinholeListCmd(a))
	return cmd
}

type pinholeAddFlags struct {
	to       string
	remote   string
	lifetime time.Duration
}

func newPinholeAddCmd(a *app) *cobra.Command {
	var f pinholeAddFlags
	cmd := &cobra.Command{
		Use:   "add PORT[/tcp|/udp]",
		Short: "Open an IPv6 pinhole to PORT on this host",
		Long: `add opens an inbound IPv6 pinhole to PORT on this host (or --to) for any
sender, or only for --remote. The transport is tcp unless /udp is given.`,
		Example: `  portmap pinhole add 8080
  portmap pinhole add 5000/udp --remote [2001:db8::7]:4000 --lifetime 30m`,
		Args: exactArgs(1, "pinhole add needs one port, e.g. 'portmap pinhole add 8080' or 'portmap pinhole add 5000/udp'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.pinholeAdd(cmd, args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.to, "to", "", "internal IPv6 `ADDRESS` to open to (default: this host's IPv6 address toward the gateway)")
	cmd.Flags().StringVar(&f.remote, "remote", "", "let in only this sender: `IPv6`, [IPv6]:PORT or :PORT (default: anyone)")
	cmd.Flags().DurationVar(&f.lifetime, "lifetime", portmap.DefaultPinholeLifetime, "lease to ask for (UPnP allows up to 24h; the gateway may grant less)")
	return cmd
}

func newPinholeUpdateCmd(a *app) *cobra.Command {
	var lifetime time.Duration
	cmd := &cobra.Command{
		Use:   "update ID|PORT/tcp|PORT/udp --lifetime DURATION",
		Short: "Renew a pinhole",
		Example: `  portmap pinhole update 3 --lifetime 2h
  portmap pinhole update 8080/tcp`,
		Args: exactArgs(1, "pinhole update needs the pinhole's ID or PORT/tcp|udp, e.g. 'portmap pinhole update 3 --lifetime 2h'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if lifetime < 0 {
				return usageErrorf("--lifetime %v is negative", lifetime)
			}
			return a.pinholeDo(cmd, args[0], func(ctx context.Context, c *portmap.Client, p portmap.Pinhole) error {
				np, err := c.UpdatePinhole(ctx, p, lifetime)
				if err != nil {
					return err
				}
				if np.Internal.IsValid() {
					a.recordPinhole(np) // not one named by its ID alone
				}
				if a.json {
					return a.printJSON(pinholeToJSON(np))
				}
				fmt.Fprintf(a.stdout, "renewed %s\n", pinholeLine(np))
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&lifetime, "lifetime", 0, "new lease (default: the lease the pinhole was granted)")
	return cmd
}

func newPinholeDeleteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID|PORT/tcp|PORT/udp",
		Short:   "Close a pinhole",
		Aliases: []string{"rm", "del"},
		Example: `  portmap pinhole delete 3
  portmap pinhole delete 8080/tcp`,
		Args: exactArgs(1, "pinhole delete needs the pinhole's ID or PORT/tcp|udp, e.g. 'portmap pinhole delete 3'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.pinholeDo(cmd, args[0], func(ctx context.Context, c *portmap.Client, p portmap.Pinhole) error {
				err := c.DeletePinhole(ctx, p)
				if errors.Is(err, pcp.ErrLifetimeCut) {
					// miniupnpd 2.3.1 refuses to delete a PCP pinhole that
					// was renewed; the library cut its lifetime instead, and
					// the gateway drops it in seconds.
					a.warnf("%v: the pinhole closes by itself in moments", err)
					err = nil
				}
				if err != nil {
					return err
				}
				a.forgetPinhole(p)
				if a.json {
					return a.printJSON(pinholeToJSON(p))
				}
				if p.Internal.IsValid() {
					fmt.Fprintf(a.stdout, "deleted pinhole %s (%s to %s)\n", pinholeName(p), p.Transport, p.Internal)
				} else {
					fmt.Fprintf(a.stdout, "deleted pinhole %s\n", pinholeName(p))
				}
				return nil
			})
		},
	}
}

func newPinholeCheckCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "check ID|PORT/tcp|PORT/udp",
		Short: "Check that a pinhole exists and whether traffic went through it (UPnP)",
		Long: `check asks the gateway whether traffic has passed through a pinhole and how
many packets (UPnP CheckPinholeWorking and GetPinholePackets). It fails when
the gateway no longer knows the pinhole. PCP has no such request.`,
		Example: `  portmap pinhole check 3`,
		Args:    exactArgs(1, "pinhole check needs the pinhole's ID or PORT/tcp|udp, e.g. 'portmap pinhole check 3'"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.pinholeDo(cmd, args[0], func(ctx context.Context, c *portmap.Client, p portmap.Pinhole) error {
				st, err := c.CheckPinhole(ctx, p)
				if err != nil {
					return err
				}
				if a.json {
					out := pinholeToJSON(p)
					out.Working, out.Packets = &st.Working, &st.Packets
					return a.printJSON(out)
				}
				working := "no traffic seen yet"
				if st.Working {
					working = "working"
				}
				fmt.Fprintf(a.stdout, "pinhole %s: open, %s, %d packets\n", pinholeName(p), working, st.Packets)
				return nil
			})
		},
	}
}

func newPinholeListCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the pinholes portmap opened from this host",
		Long: `list shows the pinholes portmap opened from this host and recorded, which
have not expired. Neither UPnP nor PCP can list pinholes, so the gateway is
not asked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ps, err := a.pinholes().load()
			if err != nil {
				return err
			}
			if a.via != "auto" && a.via != "" {
				ps = slices.DeleteFunc(ps, func(p portmap.Pinhole) bool { return string(p.Protocol) != a.via })
			}
			if a.json {
				out := make([]pinholeJSON, 0, len(ps))
				for _, p := range ps {
					out = append(out, pinholeToJSON(p))
				}
				return a.printJSON(out)
			}
			if len(ps) == 0 {
				fmt.Fprintln(a.stderr, "no pinholes recorded")
				return nil
			}
			printPinholeTable(a.stdout, ps)
			return nil
		},
	}
}

func (a *app) pinholeAdd(cmd *cobra.Command, arg string, f pinholeAddFlags) error {
	ports, transport, err := splitTransport(arg)
	if err != nil {
		return err
	}
	port, err := parsePort(ports, arg)
	if err != nil {
		return err
	}
	req := portmap.PinholeRequest{Transport: transport, InternalPort: port, Lifetime: f.lifetime}
	if f.lifetime < 0 {
		return usageErrorf("--lifetime %v is negative", f.lifetime)
	}
	if f.to != "" {
		to, err := netip.ParseAddr(f.to)
		switch {
		case err != nil || !to.Is6() || to.Is4In6():
			return usageErrorf("--to %q is not an IPv6 address: pinholes open to IPv6 addresses", f.to)
		case to.IsLinkLocalUnicast() || to.IsMulticast() || to.IsUnspecified():
			return usageErrorf("--to %s cannot be reached from the internet: give a global IPv6 address", f.to)
		}
		req.InternalIP = to
	}
	if f.remote != "" {
		if req.RemoteIP, req.RemotePort, err = parseRemote(f.remote); err != nil {
			return err
		}
	}
	ctx, cancel := a.context(cmd)
	defer cancel()
	c, err := a.pinholeClient(ctx, "")
	if err != nil {
		return err
	}
	defer c.Close()
	p, err := c.AddPinhole(ctx, req)
	if errors.Is(err, portmap.ErrInvalidRequest) {
		return usageErrorf("%v", err)
	}
	if err != nil {
		return err
	}
	a.recordPinhole(p)
	if a.json {
		return a.printJSON(pinholeToJSON(p))
	}
	fmt.Fprintf(a.stdout, "opened %s\n", pinholeLine(p))
	return nil
}

// pinholeDo finds the pinhole named by arg (in the record, or by its UPnP
// ID alone), reaches its gateway with its protocol and runs fn.
func (a *app) pinholeDo(cmd *cobra.Command, arg string, fn func(context.Context, *portmap.Client, portmap.Pinhole) error) error {
	name, err := parsePinholeName(arg)
	if err != nil {
		return err
	}
	p, err := a.findPinhole(name)
	if err != nil {
		return err
	}
	ctx, cancel := a.context(cmd)
	defer cancel()
	c, err := a.pinholeClient(ctx, p.Protocol)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c, p)
}

// pinholeClient discovers the gateway with proto (which made the pinhole),
// or, for a new pinhole with --via auto, with the protocols that can open
// pinholes.
func (a *app) pinholeClient(ctx context.Context, proto portmap.Protocol) (*portmap.Client, error) {
	o, err := a.options()
	if err != nil {
		return nil, err
	}
	switch {
	case len(o.Protocols) > 0 && proto != "" && o.Protocols[0] != proto:
		return nil, usageErrorf("the pinhole was opened with %s, not %s: drop --via", proto, o.Protocols[0])
	case len(o.Protocols) > 0:
	case proto != "":
		o.Protocols = []portmap.Protocol{proto}
	default:
		o.Protocols = []portmap.Protocol{portmap.PCP, portmap.UPnP} // NAT-PMP cannot
	}
	return portmap.Discover(ctx, o)
}

// pinholeRef is a pinhole named on the command line: by UPnP ID, or by
// internal port and transport.
type pinholeRef struct {
	id        uint16
	port      uint16
	transport portmap.Transport
}

func parsePinholeName(s string) (pinholeRef, error) {
	if ports, tr, ok := strings.Cut(s, "/"); ok {
		t, err := portmap.ParseTransport(tr)
		if err != nil {
			return pinholeRef{}, usageErrorf("%q: unknown transport %q: use /tcp or /udp", s, tr)
		}
		port, err := parsePort(ports, s)
		if err != nil {
			return pinholeRef{}, err
		}
		return pinholeRef{port: port, transport: t}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return pinholeRef{}, usageErrorf("%q names no pinhole: give its ID (a number from 1 to 65535) or PORT/tcp|udp", s)
	}
	return pinholeRef{id: uint16(n)}, nil
}

func (r pinholeRef) String() string {
	if r.id != 0 {
		return strconv.Itoa(int(r.id))
	}
	return fmt.Sprintf("%d/%s", r.port, r.transport)
}

// findPinhole looks the pinhole up in the record (the latest match, with
// the protocol of --via if given). A UPnP ID that is not there names a
// pinhole another program opened for this host: the ID is enough.
func (a *app) findPinhole(r pinholeRef) (portmap.Pinhole, error) {
	ps, err := a.pinholes().load()
	if err != nil {
		return portmap.Pinhole{}, err
	}
	for _, p := range slices.Backward(ps) {
		if a.via != "auto" && a.via != "" && string(p.Protocol) != a.via {
			continue
		}
		switch {
		case r.id != 0 && p.Protocol == portmap.UPnP && p.ID == r.id:
			return p, nil
		case r.id == 0 && p.Internal.Port() == r.port && p.Transport == r.transport:
			return p, nil
		}
	}
	if r.id != 0 {
		return portmap.Pinhole{Protocol: portmap.UPnP, ID: r.id, Transport: portmap.TCP}, nil
	}
	return portmap.Pinhole{}, fmt.Errorf("portmap has no record of a pinhole to port %s: name a UPnP pinhole by its ID (PCP pinholes need the record's nonce); see 'portmap pinhole list'", r)
}

// parseRemote parses --remote: IPv6, [IPv6]:PORT or :PORT.
func parseRemote(s string) (netip.Addr, uint16, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if !a.Is6() || a.Is4In6() {
			return netip.Addr{}, 0, usageErrorf("--remote %s: pinholes let IPv6 senders in; give an IPv6 address", s)
		}
		return a, 0, nil
	}
	if port, ok := strings.CutPrefix(s, ":"); ok {
		p, err := parsePort(port, s)
		return netip.Addr{}, p, err
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, 0, usageErrorf("--remote %q is not IPv6, [IPv6]:PORT or :PORT", s)
	}
	if !ap.Addr().Is6() || ap.Addr().Is4In6() {
		return netip.Addr{}, 0, usageErrorf("--remote %s: pinholes let IPv6 senders in; give an IPv6 address", s)
	}
	if ap.Port() == 0 {
		return netip.Addr{}, 0, usageErrorf("--remote %s: port 0; omit :PORT to allow any port", s)
	}
	return ap.Addr(), ap.Port(), nil
}

// pinholeJSON is a pinhole as the CLI spells it in JSON.
type pinholeJSON struct {
	Protocol        portmap.Protocol  `json:"protocol"`
	Gateway         string            `json:"gateway"`
	ID              uint16            `json:"id"` // UPnP; 0 for PCP
	InternalIP      string            `json:"internal_ip"`
	InternalPort    uint16            `json:"internal_port"`
	RemoteIP        string            `json:"remote_ip"`   // "" = any
	RemotePort      uint16            `json:"remote_port"` // 0 = any
	Transport       portmap.Transport `json:"transport"`
	LifetimeSeconds int64             `json:"lifetime_seconds"`
	Expires         string            `json:"expires,omitempty"` // RFC 3339
	Working         *bool             `json:"working,omitempty"` // check only
	Packets         *uint32           `json:"packets,omitempty"` // check only
}

func pinholeToJSON(p portmap.Pinhole) pinholeJSON {
	out := pinholeJSON{
		Protocol:        p.Protocol,
		Gateway:         addrString(p.Gateway),
		ID:              p.ID,
		InternalIP:      addrString(p.Internal.Addr()),
		InternalPort:    p.Internal.Port(),
		RemoteIP:        addrString(p.RemoteIP()),
		RemotePort:      p.Remote.Port(),
		Transport:       p.Transport,
		LifetimeSeconds: int64(p.Lifetime.Seconds()),
	}
	if !p.Expires.IsZero() {
		out.Expires = p.Expires.UTC().Format(time.RFC3339)
	}
	return out
}

// pinholeName is how the command line names p: its UPnP ID, or
// PORT/transport.
func pinholeName(p portmap.Pinhole) string {
	if p.Protocol == portmap.UPnP && p.ID != 0 {
		return strconv.Itoa(int(p.ID))
	}
	return fmt.Sprintf("%d/%s", p.Internal.Port(), p.Transport)
}

func remoteString(p portmap.Pinhole) string {
	ip, port := p.RemoteIP(), p.Remote.Port()
	switch {
	case !ip.IsValid() && port == 0:
		return "anyone"
	case !ip.IsValid():
		return fmt.Sprintf("any host from port %d", port)
	case port == 0:
		return ip.String()
	}
	return netip.AddrPortFrom(ip, port).String()
}

// pinholeLine describes p in one line. A pinhole named only by its UPnP
// ID (not recorded by portmap) has no details.
func pinholeLine(p portmap.Pinhole) string {
	if !p.Internal.IsValid() {
		return fmt.Sprintf("pinhole %s (not recorded by portmap), via %s (gateway %s), lifetime %s",
			pinholeName(p), p.Protocol, p.Gateway, p.Lifetime)
	}
	return fmt.Sprintf("pinhole %s: %s to %s from %s, via %s (gateway %s), lifetime %s",
		pinholeName(p), p.Transport, p.Internal, remoteString(p), p.Protocol, p.Gateway, p.Lifetime)
}

func printPinholeTable(w io.Writer, ps []portmap.Pinhole) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROTO\tINTERNAL\tREMOTE\tEXPIRES\tVIA\tGATEWAY")
	for _, p := range ps {
		expires := "-"
		if !p.Expires.IsZero() {
			expires = p.Expires.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", pinholeName(p), p.Transport, p.Internal, remoteString(p), expires, p.Protocol, p.Gateway)
	}
	tw.Flush()
}

// The record of pinholes: pinholes.json beside the record of mappings.

// maxPinholeRecord bounds the record file read back.
const maxPinholeRecord = 1 << 20

type pinholeRecord struct{ path string }

func (a *app) pinholes() pinholeRecord {
	return pinholeRecord{path: filepath.Join(filepath.Dir(a.state().Path), "pinholes.json")}
}

// load reads the recorded pinholes, dropping those whose lease has ended.
// A missing file is an empty record.
func (r pinholeRecord) load() ([]portmap.Pinhole, error) {
	fh, err := os.Open(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pinhole record: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxPinholeRecord+1))
	if err != nil {
		return nil, fmt.Errorf("pinhole record: %w", err)
	}
	if len(b) > maxPinholeRecord {
		return nil, fmt.Errorf("pinhole record %s is larger than %d bytes: delete it to start afresh", r.path, maxPinholeRecord)
	}
	ps, err := parsePinholeRecord(b, time.Now())
	if err != nil {
		return nil, fmt.Errorf("pinhole record %s is damaged (%v): delete it to start afresh", r.path, err)
	}
	return ps, nil
}

// parsePinholeRecord decodes the record, dropping the pinholes expired at
// now.
func parsePinholeRecord(b []byte, now time.Time) ([]portmap.Pinhole, error) {
	var ps []portmap.Pinhole
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ps, func(p portmap.Pinhole) bool { return !p.Expires.IsZero() && !p.Expires.After(now) }), nil
}

// save replaces the record atomically (a temporary file renamed).
func (r pinholeRecord) save(ps []portmap.Pinhole) error {
	if ps == nil {
		ps = []portmap.Pinhole{}
	}
	b, err := json.MarshalIndent(ps, "", "  ")
	if err != nil {
		return err
	}
	return r.write(b)
}

// write replaces the file atomically with b.
func (r pinholeRecord) write(b []byte) error {
	if err := os.MkdirAll(filepath.Dir(r.path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(r.path), ".pinholes-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), r.path)
}

// pinholeKey identifies a pinhole on a gateway: UPnP by ID, PCP by internal
// address, port and transport (what the PCP server keys it on).
func pinholeKey(p portmap.Pinhole) string {
	if p.Protocol == portmap.UPnP {
		return fmt.Sprintf("%s|%s|%d", p.Protocol, p.Gateway, p.ID)
	}
	return fmt.Sprintf("%s|%s|%s|%s", p.Protocol, p.Gateway, p.Internal, p.Transport)
}

// update applies fn to the record.
func (r pinholeRecord) update(fn func([]portmap.Pinhole) []portmap.Pinhole) error {
	ps, err := r.load()
	if err != nil {
		return err
	}
	return r.save(fn(ps))
}

func (a *app) recordPinhole(p portmap.Pinhole) {
	key := pinholeKey(p)
	err := a.pinholes().update(func(ps []portmap.Pinhole) []portmap.Pinhole {
		ps = slices.DeleteFunc(ps, func(o portmap.Pinhole) bool { return pinholeKey(o) == key })
		return append(ps, p)
	})
	if err != nil {
		a.warnf("could not record the pinhole (%v): 'portmap pinhole list' will not show it", err)
	}
}

func (a *app) forgetPinhole(p portmap.Pinhole) {
	key := pinholeKey(p)
	err := a.pinholes().update(func(ps []portmap.Pinhole) []portmap.Pinhole {
		return slices.DeleteFunc(ps, func(o portmap.Pinhole) bool { return pinholeKey(o) == key })
	})
	if err != nil {
		a.warnf("could not update the record of pinholes: %v", err)
	}
}
