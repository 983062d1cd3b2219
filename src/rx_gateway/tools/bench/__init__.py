"""`rx-gateway bench`: an honest open-loop benchmark against the floor of the same stack.

* The gateway runs as separate `rx-gateway serve` process(es) on a real database (the embedded
  PostgreSQL, or a fresh database on RX_GATEWAY_DATABASE_URL's server), loaded with the
  synthetic data. Traffic goes only to 127.0.0.1.
* Open loop: claims leave at a constant arrival rate whatever the replies do, and each latency
  is measured from the claim's *intended* send time (no coordinated omission), recorded in an
  HDR histogram. One dispatcher sends each claim at its time, over several channels (separate
  TCP connections, so `--workers` processes sharing the port with SO_REUSEPORT all get work);
  requests are serialized before the clock starts, so the load generator spends its CPU on
  sending, not on building messages.
* The mix: new claims across thousands of members and hundreds of pharmacies (HRA splits on the
  commercial plan, Part D, HDHP), retransmissions (D), reversals, and claims that reject (54).
  In the "hot" mix one employer's members send 70% of the claims.
* The bare floor, in the same run on the same stack: a bare gRPC unary call (grpc.health.v1
  Check on the gateway's own server) and a bare one-statement commit through asyncpg on the
  same database, each at saturation (closed loop) and open loop at two of the rates the gateway
  was offered, so the floor's own p99 at those rates is known.
* The claim-shaped floor, in the same run: a bare grpc.aio server process (floor_server: the
  gateway's server options, event loop, asyncpg pool and connection count) whose one RPC
  (ClaimService/Submit) decodes the same ClaimRequest bytes, makes ONE asyncpg call inserting a
  claim's rows in one statement (an entry, its postings, the claim with a response-sized JSON,
  an audit row; tables of its own) and answers a ClaimResponse the size of the gateway's. What
  the gateway would cost if reading member state and adjudicating were free. It is driven by
  the same generator through the same rates and durations, its steps interleaved with the
  gateway's, and its capacity measured the same way (closed loop, interleaved with the
  gateway's); CPU per call at saturation is measured for both.
* A step and a bisection (in quick mode too) over arrival rates find the highest rate that
  holds p99 <= 10 ms with no errors. Each rate reports achieved claims/s, p50/p90/p99/p99.9/max,
  errors, statuses and reject codes, and the CPU of the server, of PostgreSQL and of the load
  generator (% of a core and ms per call: what bounds the number), plus the server's memory.
* Overload without collapse: after the capacity runs, the gateway is offered twice its hot
  capacity, open loop, with the same generator and mix (4 s in quick mode, 10 s in full).
  Calls answered RESOURCE_EXHAUSTED (admission control) are counted as refused, apart from the
  errors, and their latency is not in the histogram: the run reports the goodput (admitted
  claims answered per second) against the capacity, and the p99 of the admitted claims.
* The gateway runs with its Prometheus metrics on a listener of its own (under --workers the
  parent serves one scrape for all workers); they are scraped before and after each of its
  runs, and each run reports its mean read and write batch sizes, its pool acquire wait (mean,
  and p99 from the histogram's buckets) and the calls the gateway refused.
* The CPU of each server process is metered separately: under --workers, each worker's CPU
  per claim at saturation shows how the load spreads.

Output: a Markdown report and a latency-versus-offered-rate PNG (the gateway and the claim
floor on the same axes) in --out, and one final JSON line with claims_per_s_at_p99_10ms,
p99_ms_at_1000, floor_echo_rps, floor_commit_tps, ratio_to_floor, errors, ... and the claim
floor's keys: floor_claim_capacity_per_s, floor_claim_per_s_at_p99_10ms, capacity_ratio,
p99_rate_ratio, cpu_ms_per_claim_gateway, cpu_ms_per_claim_postgres,
cpu_ms_per_call_floor_server, cpu_ms_per_call_floor_postgres, cpu_ratio_gateway and
cpu_ratio_postgres; the overload run's overload_offered_per_s, overload_goodput_per_s,
overload_goodput_ratio, overload_p99_admitted_ms, overload_refused, overload_errors,
overload_server_p99_ms (the admitted claims' p99 inside the handler) and
overload_send_lag_p99_ms (how late the load generator itself sent its calls); the
metrics at saturation batch_size_read_mean_at_capacity, batch_size_write_mean_at_capacity and
pool_wait_ms_p99_at_capacity; and cpu_ms_per_claim_by_worker. --quick stays under 3 minutes;
the full mode under 10 minutes.

    options    BenchOptions: what `rx-gateway bench` was asked
    mix        the population the claims come from and the claim stream (hot and no-hot)
    load       the load generator: open-loop dispatch, the gRPC driver, the database floor
    meter      HDR histograms, the CPU and memory of processes, what a step measured
    stack      the system under test: its database, the gateway process(es), the claim-shaped
               floor's process(es), the process tree
    floor_server  the claim-shaped floor's server (run as a module in its own process)
    search     the rates: step up, then bisect, several servers interleaved
    summary    the final JSON line's keys (pure arithmetic)
    report     the Markdown report, bench-results.json and the latency plot
    run        run_bench: all of it, in order, and the summary
"""

from rx_gateway.tools.bench.options import BenchOptions
from rx_gateway.tools.bench.run import run_bench

__all__ = ["BenchOptions", "run_bench"]
