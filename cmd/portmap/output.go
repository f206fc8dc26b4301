package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/portmap-dev/portmap"
)

// mappingJSON is a mapping as the CLI contract spells it in JSON.
type mappingJSON struct {
	Protocol        portmap.Protocol  `json:"protocol"`
	Gateway         string            `json:"gateway"`
	ExternalIP      string            `json:"external_ip"`
	ExternalPort    uint16            `json:"external_port"`
	InternalIP      string            `json:"internal_ip"`
	InternalPort    uint16            `json:"internal_port"`
	Transport       portmap.Transport `json:"transport"`
	LifetimeSeconds int64             `json:"lifetime_seconds"`
	Description     string            `json:"description"`
}

func toJSON(m portmap.Mapping) mappingJSON {
	return mappingJSON{
		Protocol:        m.Protocol,
		Gateway:         addrString(m.Gateway),
		ExternalIP:      addrString(m.External.Addr()),
		ExternalPort:    m.External.Port(),
		InternalIP:      addrString(m.Internal.Addr()),
		InternalPort:    m.Internal.Port(),
		Transport:       m.Transport,
		LifetimeSeconds: int64(m.Lifetime.Seconds()),
		Description:     m.Description,
	}
}

func addrString[T interface {
	IsValid() bool
	String() string
}](a T) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// lifetimeString shows a lease the way a person reads it.
func lifetimeString(m portmap.Mapping) string {
	if m.Lifetime == 0 {
		return "permanent"
	}
	return m.Lifetime.String()
}

// printMappingTable writes mappings as an aligned table.
func printMappingTable(w io.Writer, ms []portmap.Mapping) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROTO\tEXTERNAL\tINTERNAL\tLIFETIME\tVIA\tDESCRIPTION")
	for _, m := range ms {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Transport, externalString(m), addrString(m.Internal), lifetimeString(m), m.Protocol, sanitize(m.Description))
	}
	tw.Flush()
}

func externalString(m portmap.Mapping) string {
	if m.External.Addr().IsValid() {
		return m.External.String()
	}
	return fmt.Sprintf("*:%d", m.External.Port())
}

// sanitize keeps a router-supplied string from moving the terminal's
// cursor or changing its colours: control characters become '?'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
