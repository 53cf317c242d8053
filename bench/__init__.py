"""The benchmark of issue 6: `scripts/bench` (or `python -m bench`) prints one markdown table and writes BENCHMARKS.md.

Three kinds of process on loopback: the Steam simulator (`playerstats-steam-sim`, fixed latencies), the server
(`playerstats-server`, the console script, configured only through its environment) and this driver, which is the
load generator (a Python grpc.aio client; h2load for unary throughput). A bare grpc.aio servicer returning a
canned response (`bench.bare_server`, its own process too) is the reference for throughput.

Modules, by layer:
- load generation: `load` (the Python aio loads), `h2load` (the h2load driver), `stats` (percentiles, the Zipf mix);
- floors: `floors` (the server's Steam calls made straight to the simulator with aiohttp; capturing answers for,
  starting and measuring the bare servicer), `bare_server` (that servicer's process);
- measuring: `rows/` (one module per row: latency, throughput, zipf, fail_fast, rss), `profiling` (py-spy and
  its text summary), `traces` (the critical path from a traced server's spans);
- report rendering: `report` (the table, numbers as text, the machine, BENCHMARKS.md);
- the run: `driver` (the order of the rows, the command line), `config` (the load per row), `run` (what the rows
  share: fresh players, the simulator's admin API, the server's environment), `procs` (starting and reading
  processes).
"""
