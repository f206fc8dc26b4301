//go:build linux

// Package testbed builds a real home-router testbed out of Linux network
// namespaces for the project's end-to-end tests and benchmarks.
//
// Three namespaces make up one testbed:
//
//	LAN host (Host, Host6) --veth-- gateway (GatewayLAN | WAN) --veth-- internet host (Internet)
//
// The gateway runs Debian's miniupnpd (nftables backend), which speaks UPnP
// IGD v2, NAT-PMP and PCP, and forwards between the LAN and the internet side
// through an nftables ruleset that only lets in what miniupnpd opens. The WAN
// address looks public but exists only inside the namespaces, so no traffic
// ever leaves the machine.
//
// Every testbed has namespace names unique to the process that made it
// ("pmtb<pid>-gw" and so on). [Up] first removes testbeds whose creating
// process is gone, so a crashed run leaves nothing behind for long, and
// [Testbed.Close] removes everything it made.
//
// End-to-end test packages call [Main] from TestMain: it builds a testbed and
// runs the test binary again inside the LAN namespace, where [Get] hands the
// testbed to each test. Setting it up needs root, iproute2, nftables and
// miniupnpd; without them tests skip, except under CI=true, where they fail.
package testbed
