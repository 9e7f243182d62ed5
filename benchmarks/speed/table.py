"""The figures as one markdown table."""

from __future__ import annotations

import argparse
from typing import Any

from .common import (
    TARGET_BYTES_PER_ALLOCATION,
    TARGET_CREATE_SHARE,
    TARGET_GET_SHARE,
    TARGET_P99_MS,
    TARGET_SCALE_RATIO,
    UVICORN_FLAGS,
)
from .wrk import WrkResult


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def cpu_share(result: WrkResult) -> str:
    """The server's CPU time per request, and how busy its core was."""
    if not result.cpu or not result.rps:
        return "?"
    per_request = result.cpu["server"] / result.rps * 1e6
    return f"{per_request:.0f} µs ({result.cpu['server']:.0%})"


def _machine_section(machine: dict[str, str], args: argparse.Namespace) -> list[str]:
    """The machine and how the runs were made."""
    out: list[str] = []
    out.append("## Machine")
    out.append("")
    out.append("| | |")
    out.append("| --- | --- |")
    for key, value in machine.items():
        out.append(f"| {key} | {value} |")
    out.append(
        f"| run | wrk -t{args.threads} -c{args.connections}, {args.duration} s per operation and"
        f" server in rounds of {args.round_seconds} s alternating mock and ceiling"
        f" (warm-up {args.warmup} s); servers on CPU {args.server_cpu}, wrk on CPU"
        f" {args.client_cpu}; uvicorn {' '.join(UVICORN_FLAGS[2:])} |"
    )
    out.append("")

    return out


def _http_section(
    http: dict[str, Any], prism: dict[str, Any] | None, args: argparse.Namespace
) -> list[str]:
    """Create, get and delete: the mock against the ceiling, with their targets."""
    out: list[str] = []
    out.append("## HTTP: GreenPin on loopback")
    out.append("")
    out.append(
        "| operation | mock req/s | mock p50 / p99 ms | ceiling req/s | ceiling p50 / p99 ms"
        " | mock/ceiling | target | throughput | p99 < 10 ms | errors (mock / ceiling)"
        " | server CPU per request, core busy (mock / ceiling) |"
    )
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- |")
    targets = {"create": TARGET_CREATE_SHARE, "get": TARGET_GET_SHARE, "delete": None}
    for op in ("create", "get", "delete"):
        m, c = http["mock"][op], http["ceiling"][op]
        ratio = m.rps / c.rps if c.rps else float("nan")
        share = targets[op]
        valid = m.valid and c.valid
        met_share = (ratio >= share) if share is not None and valid else None
        met_p99 = (m.p99_ms < TARGET_P99_MS) if m.valid else None
        out.append(
            f"| {op} | {m.rps:,.0f} | {m.p50_ms:.2f} / {m.p99_ms:.2f} | {c.rps:,.0f}"
            f" | {c.p50_ms:.2f} / {c.p99_ms:.2f} | {ratio:.0%}"
            f" | {'≥ ' + format(share, '.0%') if share is not None else '—'}"
            f" | {verdict(met_share)} | {verdict(met_p99)}"
            f" | {m.error_count}{'' if m.valid else ' INVALID'}"
            f" / {c.error_count}{'' if c.valid else ' INVALID'}"
            f" | {cpu_share(m)} / {cpu_share(c)} |"
        )
    out.append("")
    short = http["mock"]["delete"]
    if round(short.seconds) < args.duration:
        out.append(
            f"- the delete runs lasted {short.seconds:.1f} s: the ids the mock's create runs"
            " made last that long at its delete rate"
        )
    for server in ("mock", "ceiling"):
        for result in http[server].values():
            if result.problems:
                out.append(f"- {result.label}: " + "; ".join(result.problems))
    disturbed = [
        r for server in ("mock", "ceiling") for r in http[server].values() if r.disturbed
    ]
    if prism and isinstance(prism.get("create"), WrkResult) and prism["create"].disturbed:
        disturbed.append(prism["create"])
    for r in disturbed:
        out.append(
            f"- warning: other processes used {r.cpu['other'] + r.cpu['steal']:.0%} of a core"
            f" during {r.label}: its figures are lower than this machine can do"
        )
    out.append("")

    return out


def _prism_section(prism: dict[str, Any], http: dict[str, Any] | None) -> list[str]:
    """Prism's create against the mock's."""
    out: list[str] = []
    out.append("## Prism on the same spec (create, same wrk script)")
    out.append("")
    if "create" in prism:
        p = prism["create"]
        mock_create = http["mock"]["create"] if http else None
        gain = f"{mock_create.rps / p.rps:.1f}x" if mock_create and p.rps else "—"
        out.append(
            "| server | create req/s | p50 / p99 ms | errors | mock ÷ Prism throughput |"
        )
        out.append("| --- | ---: | ---: | --- | ---: |")
        if mock_create:
            out.append(
                f"| mock | {mock_create.rps:,.0f} | {mock_create.p50_ms:.2f} /"
                f" {mock_create.p99_ms:.2f} | {mock_create.error_count} | |"
            )
        out.append(
            f"| Prism {prism.get('version', '')} | {p.rps:,.0f} | {p.p50_ms:.2f} /"
            f" {p.p99_ms:.2f} | {p.error_count}{'' if p.valid else ' INVALID'} | {gain} |"
        )
        out.append("")
        out.append(
            f"Prism served {prism['spec']} (`prism mock -v silent`), started in"
            f" {prism['startup_s']:.1f} s; it answers from the schemas and examples, without"
            " state: the same PIN, id and numbers for every create."
        )
    else:
        out.append(f"Not measured: {prism.get('skipped', 'unknown reason')}")
    for note in prism.get("notes", []):
        out.append(f"- {note}")
    out.append("")

    return out


def _scale_section(scale: dict[str, Any]) -> list[str]:
    """The scale check, as the first rows of the last table."""
    out: list[str] = []
    out.append("## Scale (in-process, through the domain) and the contract suite")
    out.append("")
    out.append("| figure | value | target | |")
    out.append("| --- | ---: | --- | --- |")
    if "error" in scale:
        out.append(f"| scale check | failed: {scale['error']} | | |")
    else:
        small, large = scale["small"], scale["large"]
        n_small, n_large = f"{small['allocations']:,}", f"{large['allocations']:,}"
        fa, fb = small["dict_floor"]["mean_us"], large["dict_floor"]["mean_us"]
        floor_ratio = fb / fa
        for op in ("create", "get"):
            a, b = small[op]["mean_us"], large[op]["mean_us"]
            ratio = b / a
            if op == "create":
                target = f"≤ {TARGET_SCALE_RATIO}x"
                judged = verdict(ratio <= TARGET_SCALE_RATIO)
            else:
                # The issue sets no figure for get, only that lookups must not scan: a get
                # is a dictionary lookup, so it is judged against a bare one (the floor).
                target = "no scan"
                judged = (
                    "met: grows no more than a bare dict lookup"
                    if ratio <= floor_ratio * TARGET_SCALE_RATIO
                    else "**missed**: grows faster than a bare dict lookup"
                )
            out.append(
                f"| {op}: µs per op at {n_small} → {n_large} active (p99)"
                f" | {a:.2f} ({small[op]['p99_us']:.1f}) → {b:.2f} ({large[op]['p99_us']:.1f})"
                f" = {ratio:.2f}x | {target} | {judged} |"
            )
        out.append(
            f"| floor: a bare dict lookup of the same ids, µs at {n_small} → {n_large}"
            f" | {fa:.2f} → {fb:.2f} = {floor_ratio:.2f}x | | |"
        )
        how_gc = (
            "the collector as a served mock runs it"
            if scale.get("gc_tuning")
            else "the collector untouched"
        )
        filling, timing = scale["pauses_while_filling"], scale["pauses_while_timing"]
        out.append(
            f"| longest garbage-collector pause (no request is answered during it) while"
            f" filling to {n_large} / while timing at {n_large} ({how_gc})"
            f" | {filling['longest_ms']:,.0f} ms / {timing['longest_ms']:,.0f} ms | | |"
        )
        out.append(
            f"| an explicit full collection (`gc.collect()`) at {n_small} → {n_large}"
            f" | {small['full_gc_ms']:,.0f} ms → {large['full_gc_ms']:,.0f} ms | | |"
        )
        mem = scale["memory"]
        per = mem["bytes_per_allocation"]
        out.append(
            f"| memory per active allocation (RSS growth ÷ {mem['active_allocations']:,})"
            f" | {per:,.0f} B | ≤ {TARGET_BYTES_PER_ALLOCATION:,} B"
            f" | {verdict(per <= TARGET_BYTES_PER_ALLOCATION)} |"
        )
        how = (
            "MemoryStore.save of allocations built as GreenPins.create builds them"
            if scale["populate_mode"] == "store"
            else "GreenPins.create"
        )
        out.append(
            f"| time to populate {n_large} ({how}) | {large['populate_s']:.1f} s"
            f" ({large['populate_rate_per_s']:,.0f}/s) | | |"
        )
        if scale.get("other_cpu", 0.0) >= 0.10:
            out.append(
                f"| warning: other processes used {scale['other_cpu']:.0%} of a core during"
                " the scale check | | | |"
            )

    return out

def render(report: dict[str, Any], args: argparse.Namespace) -> str:
    """The whole report, as markdown."""
    prism, http, scale = report.get("prism"), report.get("http"), report.get("scale")
    out = _machine_section(report["machine"], args)
    if http:
        out += _http_section(http, prism, args)
    if prism is not None:
        out += _prism_section(prism, http)
    if scale is not None:
        out += _scale_section(scale)
    contract = report.get("contract")
    if contract is not None:
        if scale is None:
            out += ["| figure | value | target | |", "| --- | ---: | --- | --- |"]
        out.append(
            f"| contract suite against the mock (wall) | {contract['wall_s']:.1f} s"
            f" | | {contract['outcome']} (exit {contract['exit_code']}) |"
        )
    out.append("")
    return "\n".join(out)
