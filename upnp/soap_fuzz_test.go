package upnp

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func addTestdataSeeds(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzParseSOAPReply checks that any reply body yields a reply, a
// *SOAPError with a sane code, or an ErrMalformedResponse error, without
// panicking.
func FuzzParseSOAPReply(f *testing.F) {
	addTestdataSeeds(f, "miniupnpd-soap-*.xml")
	addTestdataSeeds(f, "list-*.xml")
	f.Add([]byte(`<s:Envelope><s:Body><s:Fault><detail><UPnPError><errorCode>718</errorCode></UPnPError></detail></s:Fault></s:Body></s:Envelope>`))
	f.Add([]byte(`<a:Envelope><a:Body><X><Y><Z/></Y></X></a:Body></a:Envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSOAPReply(b, "Act")
		var se *SOAPError
		switch {
		case err == nil:
			for _, a := range r.Args {
				if a.Name == "" {
					t.Fatalf("empty argument name in %q", r.Args)
				}
			}
		case errors.As(err, &se):
			if se.Code < 0 || se.Code > 9999 || se.Action != "Act" || se.Error() == "" {
				t.Fatalf("bad SOAPError %+v", se)
			}
		case !errors.Is(err, ErrMalformedResponse):
			t.Fatalf("unexpected error type %T %v", err, err)
		}
	})
}

// FuzzBuildEnvelope checks that any argument value round-trips through the
// request envelope and never adds markup.
func FuzzBuildEnvelope(f *testing.F) {
	f.Add(`<&>"'`)
	f.Add(`]]></NewPortMappingDescription><NewLeaseDuration>0`)
	f.Add("tab\there\nnewline\r\n")
	f.Fuzz(func(t *testing.T, v string) {
		b, err := buildEnvelope(urnIP2, "AddPortMapping", []soapArg{{"NewPortMappingDescription", v}, {"NewLeaseDuration", "1"}})
		if err != nil {
			t.Fatal(err)
		}
		req, err := decodeFakeRequest(b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if len(req.Args) != 2 || req.Args[1] != (soapArg{"NewLeaseDuration", "1"}) {
			t.Fatalf("args %q", req.Args)
		}
		if xmlClean(v) && req.Args[0].Value != v {
			t.Fatalf("value %q came back as %q", v, req.Args[0].Value)
		}
	})
}

// xmlClean reports whether s has only characters XML 1.0 can carry.
func xmlClean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return true
}
