"""The benchmark of issue 6: `scripts/bench` (or `python -m bench`) prints one markdown table and writes BENCHMARKS.md.

Three kinds of process on loopback: the Steam simulator (`playerstats-steam-sim`, fixed latencies), the server
(`playerstats-server`, the console script, configured only through its environment) and this driver, which is the
load generator (a Python grpc.aio client; h2load for unary throughput). A bare grpc.aio servicer returning a
canned response (`bench.bare_server`, its own process too) is the reference for throughput.

Modules: `driver` (the rows, the command line), `load` (the Python aio loads), `h2load` (the h2load driver),
`bare_server`, `procs` (starting and reading processes), `profiling` (py-spy and its text summary), `report`
(the table, the machine, BENCHMARKS.md), `stats` (percentiles, the Zipf mix).
"""
