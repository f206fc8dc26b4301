// Command bench measures portmap side by side with upnpc (miniupnpc) and
// natpmpc against a real miniupnpd 2.3.1 in network namespaces (the
// project's testbed, internal/testbed), and prints a markdown report.
//
// Run it as root from the module root:
//
//	sudo go run ./bench                   # everything, about 20-25 minutes
//	sudo go run ./bench -runs 15 -o report.md
//	sudo go run ./bench -parts add,floor  # some parts only
//	sudo go run ./bench -hold 10m         # only bring up a testbed to explore by hand
//
// It needs what ./scripts/test installs (miniupnpd-nftables, miniupnpc,
// natpmpc, nftables, iproute2) and Go; nothing else, and it installs
// nothing. Traffic stays inside the testbed's namespaces and on loopback.
//
// The parts, all in one run:
//
//   - floor: what no tool can go below: "ip netns exec LAN true", an empty
//     "portmap version", and bare round trips to the gateway from one
//     process (NAT-PMP over UDP; a new TCP connection with a SOAP call, the
//     description, AddPortMapping and DeletePortMapping; the first answer to
//     a unicast SSDP search).
//   - add: a new process adding one mapping. Cold: "portmap add" with
//     --via upnp, natpmp, pcp and auto, each run with an empty control-URL
//     cache and state directory (XDG_CACHE_HOME, XDG_STATE_HOME), also auto
//     without --gateway (default-route detection), against "natpmpc -g GW -a"
//     and "upnpc -a" (which waits 2 s for SSDP answers). Gateway known:
//     portmap with a warm control-URL cache against "upnpc -u URL -a".
//     Every mapping is deleted after its run, untimed.
//   - list: the gateway's table filled with 100 and then 200 mappings;
//     "portmap --via upnp list" (cold and with the cache) against
//     "upnpc -l", "upnpc -L" and "upnpc -u URL -L" (100 only: miniupnpd
//     2.3.1 dies when one GetListOfPortMappings answer would hold more than
//     128 entries), plus the library's windowed listing timed in-process
//     with 64 and 128 entries per reply; whether miniupnpd is
//     alive afterwards; then "upnpc -L" once with 200 mappings, last, and a
//     gateway restart (which also empties the table).
//   - keeper: a child process keeps 1, 100 and 1000 mappings (library
//     Keeper, with PCP, NAT-PMP and UPnP) against the fake gateway of
//     package portmaptest on loopback, with short lifetimes so that renewals
//     happen during the window; its peak resident set (VmHWM) and CPU per
//     renewal cycle are reported. Then "portmap run --config" with the
//     largest size, the daemon users run.
//   - micro: the codec micro-benchmarks (natpmp, pcp, upnp
//     *_bench_test.go) with the Go benchmark harness, with allocations.
//
// Times are measured around the exec of "ip netns exec LAN <tool>", the
// same way for every tool; the tools run interleaved round by round
// (rotating the order), fast tools -runs times and the upnpc commands that
// wait for SSDP -slow-runs times; the report gives median and p90. The
// machine, the load average at start and end, and the versions of the peers
// are in the report: on a busy machine the figures move, so compare ratios
// from one run, and prefer a quiet machine (-wait-quiet 15m waits for the
// load to drop).
package main
