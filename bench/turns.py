"""Full-turn latency and throughput through Rasa's REST channel, and parse latency.

Each simulated resident runs a scripted conversation again and again, as a new sender each time
(for Linli a complete complaint that ends in a ticket write — from the second pass on, in following
the open ticket of the same leak — then a status check and a FAQ); every
POST to the REST webhook is one turn, timed from request to full reply. Run against a server that is already up:

    python bench/turns.py --url http://127.0.0.1:5005 --script linli --concurrency 1 10 50
    python bench/turns.py --url http://127.0.0.1:5006 --script stock  --concurrency 1 10 50
    python bench/turns.py --parse              # in-process `linli parse` latency

Results are printed as a table and appended as JSON lines to bench/results/turns.jsonl.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import statistics
import time
import uuid
from pathlib import Path

import aiohttp

SCRIPTS = {
    # A complete complaint (first message carries everything, then the confirmation that writes the
    # ticket), a status check and a FAQ: the mix of turns residents actually send.
    "linli": ["万柳西园5号楼2单元502屋顶漏水了，电话13812345678", "确认", "我报的事怎么样了",
              "12345是干什么的", "谢谢"],
    # The conversation `rasa init`'s moodbot is built for.
    "stock": ["hello", "I am sad", "yes", "bye"],
}
PARSE_SAMPLES = ["下大雨屋里跟水帘洞似的", "5号楼楼道里堆满了纸箱子", "物业电话多少", "查一下GD202611220007",
                 "电梯又坏了困了人", "你好", "我想当志愿者", "垃圾怎么分类"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def resident(client: aiohttp.ClientSession, url: str, script: list[str], deadline: float,
                   latencies: list[float], errors: list[str]) -> None:
    """One resident's conversation, repeated from the start with a new sender id each time (as new
    residents would), so trackers stay the length real conversations have."""
    while time.monotonic() < deadline:
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        for text in script:
            start = time.perf_counter()
            try:
                async with client.post(f"{url}/webhooks/rest/webhook",
                                       json={"sender": sender, "message": text}) as response:
                    response.raise_for_status()
                    if not await response.json():
                        errors.append(f"empty reply to {text!r}")
            except aiohttp.ClientError as error:
                errors.append(repr(error))
                continue
            latencies.append(time.perf_counter() - start)


async def run_level(url: str, script: list[str], concurrency: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    # aiohttp sets TCP_NODELAY; a client without it adds Linux's 40 ms delayed-ACK wait to every turn.
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        # Warm-up: one full script, not measured.
        await resident(client, url, script, time.monotonic() + 0.001, [], [])
        start = time.monotonic()
        await asyncio.gather(*(resident(client, url, script, start + seconds, latencies, errors)
                               for _ in range(concurrency)))
        elapsed = time.monotonic() - start
    return {"concurrency": concurrency, "turns": len(latencies), "errors": len(errors),
            "turns_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 0.5) * 1000, 1) if latencies else None,
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1) if latencies else None}


def parse_latency(rounds: int) -> dict:
    from bot.cli.serve import Parser

    parser = Parser()
    loop = asyncio.new_event_loop()
    for text in PARSE_SAMPLES:
        loop.run_until_complete(parser.parse(text))
    timings = []
    for text in itertools.islice(itertools.cycle(PARSE_SAMPLES), rounds):
        start = time.perf_counter()
        loop.run_until_complete(parser.parse(text))
        timings.append(time.perf_counter() - start)
    return {"parse_rounds": rounds, "p50_ms": round(statistics.median(timings) * 1000, 2),
            "p99_ms": round(percentile(timings, 0.99) * 1000, 2)}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--url", default="http://127.0.0.1:5005")
    args.add_argument("--script", choices=sorted(SCRIPTS), default="linli")
    args.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50])
    args.add_argument("--seconds", type=float, default=20.0, help="measured time per level")
    args.add_argument("--label", default="")
    args.add_argument("--parse", action="store_true", help="measure in-process parse latency instead")
    opts = args.parse_args()
    machine = {"machine": platform.machine(), "cpus": __import__("os").cpu_count(),
               "python": platform.python_version()}
    if opts.parse:
        rows = [parse_latency(2000)]
    else:
        rows = [asyncio.run(run_level(opts.url, SCRIPTS[opts.script], level, opts.seconds))
                for level in opts.concurrency]
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with (out / "turns.jsonl").open("a") as sink:
        for row in rows:
            record = {"label": opts.label or opts.script, **machine, **row, "at": time.strftime("%F %T")}
            print(json.dumps(record, ensure_ascii=False))
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
