"""Every format of the audit report, in both languages, for a full-size (2,297-device) audit run.

    flock /tmp/heavy.lock python bench/report_audit.py --store sqlite:////path/store.db [--run RUN] [--rounds 3]

The run: ``--run`` (default the latest finished audit) of ``--store``. With ``--scale N`` (default
2297) and a smaller run, the run's real device results (findings, evidence, statuses, reasons)
are copied round-robin onto the N devices of the generated city inventory (``govops net inventory
generate``'s generator, seed 7, as the lab) into a temporary store, so the report reads N devices
of real shape without a 2,297-device lab. Baseline, same run: Markdown, the format the report
had before (a table dump). Times are medians of ``--rounds``; the figures each format shows are
printed so they can be compared with the run's own summary.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from report_timing import print_load, time_formats

REPO = Path(__file__).resolve().parents[1]


def scaled_store(src_url: str, run_id: str | None, devices: int, folder: Path) -> tuple[str, str, Path]:
    """(store URL, run id, inventory dir) of a copy of the run onto ``devices`` generated devices."""
    from govops.network.audit import RUN_KIND, DeviceResult, summarize
    from govops.network.generate import generate_inventory
    from govops.network.inventory import load_inventory
    from govops.store import open_store

    src = open_store(src_url)
    runs = [r for r in src.runs(RUN_KIND, limit=1000) if r.status == "finished"]
    run = src.get_run(run_id) if run_id else runs[0]
    templates = [DeviceResult.from_dict(t.data) for t in src.results(run.id) if t.data]
    src.close()
    inv_dir = folder / "inventory"
    generate_inventory(sites=devices, seed=7).write(inv_dir)
    inv = load_inventory(inv_dir)
    url = f"sqlite:///{folder / 'store.db'}"
    dst = open_store(url)
    new = dst.start_run(RUN_KIND, {"inventory": str(inv_dir), "filters": {}, "checks": run.params.get("checks", [])})
    results = []
    for i, d in enumerate(inv):
        t = templates[i % len(templates)]
        r = DeviceResult.from_dict(
            {**t.to_dict(), "hostname": d.hostname, "site": d.site.code, "county": d.county, "level": d.level}
        )
        results.append(r)
        dst.record_result(new.id, r.hostname, r.status, r.reason, r.to_dict())
    dst.finish_run(new.id, "finished", summarize(results).to_dict())
    dst.close()
    return url, new.id, inv_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, help="results store URL holding a finished audit run")
    ap.add_argument("--run", help="the audit run (default: the latest finished one)")
    ap.add_argument("--scale", type=int, default=2297, help="devices to report on (0: the run as it is)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, help="keep the rendered files here")
    args = ap.parse_args()

    from govops.network.inventory import load_inventory
    from govops.reports.audit import build, fixes_of, load, site_names_of
    from govops.reports.locale import Locale, zone
    from govops.reports.render import render_bytes
    from govops.store import open_store

    with tempfile.TemporaryDirectory(prefix="bench-report-audit-") as tmp:
        url, run_id, inv_dir = args.store, args.run, None
        if args.scale:
            t0 = time.perf_counter()
            url, run_id, inv_dir = scaled_store(args.store, args.run, args.scale, Path(tmp))
            print(f"run of {args.scale} devices written in {time.perf_counter() - t0:.1f} s (setup, not timed below)")
        store = open_store(url)
        t0 = time.perf_counter()
        data = load(store, run_id)
        inv_path = inv_dir or Path(data.current.run.params["inventory"])
        data.site_names = site_names_of(load_inventory(inv_path))
        from govops.network.analysis import known_facts
        from govops.network.rules.engine import load_rules

        data.fixes = fixes_of(load_rules([], known_facts()))
        load_s = time.perf_counter() - t0
        s = data.current.run.summary
        failing = sum(len(r.failed_findings) for r in data.current.results)
        print(
            f"run {data.current.run.id}: {s['devices']} devices, {s['status'].get('ok', 0)} audited, "
            f"index {s['ipv6_ready_pct']} %, {failing} failing checks; loaded from the store in {load_s:.2f} s"
        )
        tz = zone("Asia/Shanghai")
        medians = time_formats(
            lambda fmt, lang: render_bytes(build(data, lang, loc=Locale(lang, tz)), fmt),
            rounds=args.rounds,
            out=args.out,
            prefix="audit",
            heading="includes building the document",
        )
        worst = max(medians.values()) + load_s
        print(f"slowest format incl. loading the run: {worst:.2f} s (goal <= 10 s)")
        print_load()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
