package upnp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePropertySetMiniupnpd(t *testing.T) {
	props, err := ParsePropertySet([]byte(discFixture(t, "gena-miniupnpd-2.3.1-notify.xml")))
	if err != nil {
		t.Fatal(err)
	}
	want := []Property{
		{"PossibleConnectionTypes", "IP_Routed"},
		{"ConnectionStatus", "Connected"},
		{"ExternalIPAddress", "11.77.0.1"},
		{"PortMappingNumberOfEntries", "3"},
		{"SystemUpdateID", "1"},
	}
	if len(props) != len(want) {
		t.Fatalf("got %v", props)
	}
	for i := range want {
		if props[i] != want[i] {
			t.Errorf("property %d = %+v, want %+v", i, props[i], want[i])
		}
	}
	ev := Event{Properties: props}
	if v, ok := ev.Value("ExternalIPAddress"); !ok || v != "11.77.0.1" {
		t.Errorf("Value = %q %v", v, ok)
	}
	if _, ok := ev.Value("Nope"); ok {
		t.Error("Value found a missing variable")
	}
}

func TestParsePropertySet(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string // name=value;...
		wantErr bool
	}{
		{"no namespace prefix", `<propertyset><property><A>1</A></property><property><B> x </B></property></propertyset>`, "A=1;B=x;", false},
		{"several variables in one property", `<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><A>1</A><B>2</B></e:property></e:propertyset>`, "A=1;B=2;", false},
		{"escaped XML value (LastChange style)", `<propertyset><property><LastChange>&lt;Event&gt;&amp;&lt;/Event&gt;</LastChange></property></propertyset>`, "LastChange=<Event>&</Event>;", false},
		{"nested elements concatenated", `<propertyset><property><A>x<b>y</b>z</A></property></propertyset>`, "A=xyz;", false},
		{"empty value", `<propertyset><property><ExternalIPAddress/></property></propertyset>`, "ExternalIPAddress=;", false},
		{"empty set", `<propertyset/>`, "", false},
		{"non-property children ignored", `<propertyset><junk><A>1</A></junk></propertyset>`, "", false},
		{"ISO-8859-1", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><propertyset><property><N>caf\xe9</N></property></propertyset>", "N=café;", false},
		{"wrong root", `<foo><property><A>1</A></property></foo>`, "", true},
		{"not XML", `hello`, "", true},
		{"unclosed", `<propertyset><property><A>1`, "", true},
		{"too deep", "<propertyset><property><A>" + strings.Repeat("<x>", maxEventDepth) + strings.Repeat("</x>", maxEventDepth) + "</A></property></propertyset>", "", true},
		{"too many", "<propertyset><property>" + strings.Repeat("<A>1</A>", maxEventProperties+1) + "</property></propertyset>", "", true},
		{"too large", "<propertyset>" + strings.Repeat(" ", maxEventBody) + "</propertyset>", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props, err := ParsePropertySet([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformedEvent) {
					t.Fatalf("err = %v, want ErrMalformedEvent", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, p := range props {
				got.WriteString(p.Name + "=" + p.Value + ";")
			}
			if got.String() != tt.want {
				t.Errorf("got %q, want %q", got.String(), tt.want)
			}
		})
	}
}

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"Second-1800", 30 * time.Minute, true},
		{"second-60", time.Minute, true},
		{" Second-5 ", 5 * time.Second, true},
		{"Second-infinite", 0, false},
		{"Second-0", 0, false},
		{"Second--5", 0, false},
		{"Second-99999999999", 0, false},
		{"1800", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTimeout(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseTimeout(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if got := formatTimeout(1800 * time.Second); got != "Second-1800" {
		t.Errorf("formatTimeout = %q", got)
	}
	if got := formatTimeout(0); got != "Second-1" {
		t.Errorf("formatTimeout(0) = %q", got)
	}
}

func FuzzParsePropertySet(f *testing.F) {
	f.Add([]byte(discFixture(f, "gena-miniupnpd-2.3.1-notify.xml")))
	f.Add([]byte(`<propertyset><property><A>x<b>y</b></A></property></propertyset>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><propertyset><property><A>&amp;</A></property></propertyset>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		props, err := ParsePropertySet(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedEvent) {
				t.Fatalf("error %v does not wrap ErrMalformedEvent", err)
			}
			return
		}
		if len(props) > maxEventProperties {
			t.Fatalf("%d properties", len(props))
		}
		total := 0
		for _, p := range props {
			if p.Name == "" {
				t.Fatal("property without name")
			}
			total += len(p.Value)
		}
		if total > 8*maxEventBody {
			t.Fatalf("values total %d bytes", total)
		}
	})
}
