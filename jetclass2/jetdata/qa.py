"""Quality report of a packed dataset: checks with PASS/WARN/FAIL, and plots, per category.

Checks (per category):

conservation   jets of the inputs = jets of the files = jets of the labels, per label (manifest)
empty files    no file without jets
finite values  no NaN or infinite value in any branch (counted by the gather jobs over every jet)
labels         every label of the category's family is present. An absent label FAILs when the
               category holds at least ``min_jets_all_labels`` jets (the full production), and only
               WARNs below (a small configuration cannot be expected to produce every class);
               a label of another category FAILs
schema         branch names and types as in the published JetClass-II files (the 100 published jets)

and for information: GEN-jet match rate, constituent multiplicity, jet pT and soft-drop mass per
label group (:mod:`jetclass2.training.groups`), grid coverage from the generation jobs' provenance
(``<delphes output>.gridpoints.json``; absent: a WARN) and our jets against the published ones.
"""
from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np

from jetclass2.generation.samples import load_config, mass_grid, pt_grid, qcd_pthat_grid
from jetclass2.ntuplizer.label_names import LABEL_NAMES
from jetclass2.ntuplizer.schema import BRANCHES
from jetclass2.packing.categories import CATEGORY_LABELS
from jetclass2.training.groups import group_of

from .loader import _read_chunks, files
from .qa_plots import CAPTIONS, PLOTS, make_plots

log = logging.getLogger(__name__)
ORDER = {"PASS": 0, "INFO": 0, "SKIP": 0, "WARN": 1, "FAIL": 2}
SCALARS = ["jet_pt", "jet_eta", "jet_sdmass", "jet_nparticles", "jet_label", "genjet_pt", "genjet_nparticles"]


def _check(name: str, status: str, detail: str) -> dict:
    return {"check": name, "status": status, "detail": detail}


def manifest_checks(m: dict, min_jets_all_labels: int) -> list[dict]:
    """The PASS/WARN/FAIL checks that the manifest answers."""
    cat = m["category"]
    out = []
    files = m["files"]
    labels = {int(k): v for k, v in m["labels"].items()}
    per_file = {}
    for f in files:
        for k, v in f["labels"].items():
            per_file[int(k)] = per_file.get(int(k), 0) + v
    n_inputs = sum(i["jets"] for i in m.get("inputs", []))
    ok = m["jets"] == sum(f["jets"] for f in files) == sum(labels.values()) == n_inputs and per_file == labels
    out.append(_check("conservation", "PASS" if ok else "FAIL",
                      f"{n_inputs} jets in {len(m.get('inputs', []))} ntuples, {sum(f['jets'] for f in files)} in "
                      f"{len(files)} files" + ("" if ok else f"; per label in files {per_file} vs manifest {labels}")))
    empty = [f["file"] for f in files if f["jets"] == 0]
    out.append(_check("empty files", "FAIL" if empty else "PASS",
                      f"{len(empty)} of {len(files)} files without jets" + (f": {', '.join(empty[:5])}" if empty else "")))
    if all("nonfinite" in f for f in files):
        bad = {f["file"]: f["nonfinite"] for f in files if f["nonfinite"]}
        out.append(_check("finite values", "FAIL" if bad else "PASS",
                          "no NaN or inf in any branch of any jet" if not bad else f"NaN/inf in {json.dumps(bad)[:300]}"))
    else:
        out.append(_check("finite values", "SKIP", "manifest without per-file NaN/inf counts (packed by an older pack)"))
    family = set(CATEGORY_LABELS[cat].tolist())
    foreign = sorted(set(labels) - family)
    absent = sorted(family - set(labels))
    if foreign:
        out.append(_check("labels", "FAIL", f"labels of another category: {[LABEL_NAMES[k] for k in foreign][:10]}"))
    elif absent:
        status = "FAIL" if m["jets"] >= min_jets_all_labels else "WARN"
        out.append(_check("labels", status, f"{len(family) - len(absent)} of {len(family)} {cat} labels present; absent: "
                          f"{', '.join(LABEL_NAMES[k] for k in absent[:12])}{' ...' if len(absent) > 12 else ''} "
                          f"({m['jets']} jets; absent labels fail from {min_jets_all_labels} jets)"))
    else:
        out.append(_check("labels", "PASS", f"all {len(family)} {cat} labels present"))
    return out


def read_sample(dataset_dir, category: str, max_jets: int) -> dict:
    """Jet-level branches of up to ``max_jets`` jets, spread over all files (each file is shuffled)."""
    paths = files(dataset_dir, "all", [category])
    per_file = max(1, -(-max_jets // max(1, len(paths))))
    parts = []
    for _cat, path in paths:
        for chunk in iterate_file(path, per_file):
            parts.append(chunk)
    if not parts:
        return {b: np.zeros(0) for b in SCALARS}
    return {b: np.concatenate([p[b] for p in parts]) for b in SCALARS}


def iterate_file(path, n):
    """The first ``n`` jets of a file (jet-level branches), in chunks."""
    got = 0
    for cols in _read_chunks(Path(path), SCALARS, min(n, 100_000)):
        take = min(n - got, len(cols["jet_label"]))
        yield {k: v[:take] for k, v in cols.items()}
        got += take
        if got >= n:
            break


def read_provenance(provenance_dir, samples_config, category: str):
    """Grid points drawn per sample of ``category`` (from ``*.gridpoints.json``), and files that failed to parse."""
    cfg = load_config(samples_config)
    samples = [s for s, sc in cfg["samples"].items() if sc.get("category") == category]
    points = {s: [] for s in samples}
    bad = []
    root = Path(provenance_dir) if provenance_dir else None
    if root is None or not root.is_dir():
        return cfg, points, bad, 0
    n_files = 0
    for sample in samples:
        for path in sorted((root / sample).glob("*.gridpoints.json")):
            n_files += 1
            try:
                data = json.loads(path.read_text())
                batches = data["batches"] if isinstance(data, dict) else data
                points[sample] += [b for b in batches if isinstance(b, dict)]
            except (OSError, ValueError, KeyError, TypeError):
                bad.append(str(path))
    return cfg, points, bad, n_files


def grid_coverage(cfg: dict, points: dict) -> dict:
    """Per sample: grid values drawn / grid size, per axis and for (m_X, pT_min) pairs."""
    out = {}
    for sample, pts in points.items():
        if not pts:
            continue
        cov = {"grid points drawn": len(pts)}
        if any("pthat_min" in p for p in pts):
            grid = qcd_pthat_grid(cfg)
            drawn = {round(float(p["pthat_min"]), 3) for p in pts if "pthat_min" in p}
            cov["pthat_min"] = [len(drawn), len(grid)]
        if any("mass_x" in p for p in pts):
            mx, pt = mass_grid(cfg), pt_grid(cfg)
            drawn = {(round(float(p["mass_x"]), 3), round(float(p.get("pt_min", 0)), 3)) for p in pts if "mass_x" in p}
            cov["mass_x"] = [len({d[0] for d in drawn}), len(mx)]
            cov["pt_min"] = [len({d[1] for d in drawn}), len(pt)]
            cov["(mass_x, pt_min)"] = [len(drawn), len(mx) * len(pt)]
        out[sample] = cov
    return out


def _families(labels: np.ndarray) -> dict[str, np.ndarray]:
    groups = np.array([group_of(LABEL_NAMES[int(k)]) for k in range(len(LABEL_NAMES))])
    fam = groups[labels] if len(labels) else np.zeros(0, dtype=groups.dtype)
    return {g: fam == g for g in dict.fromkeys(fam.tolist())}


def category_report(dataset_dir, category: str, outdir, samples_config=None, provenance_dir=None, reference=None,
                    max_jets: int = 200_000, min_jets_all_labels: int = 1_000_000) -> dict:
    """Checks, numbers and plots of one category; writes ``outdir/summary.json`` and the plots."""
    dataset_dir, outdir = Path(dataset_dir), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    m = json.loads((dataset_dir / f"{category}.manifest.json").read_text())
    checks = manifest_checks(m, min_jets_all_labels)
    sample = read_sample(dataset_dir, category, max_jets)
    ref = None
    ref_path = Path(reference) if reference else None
    if ref_path is not None and ref_path.is_file():
        import pyarrow.parquet as pq

        table = pq.read_table(ref_path)
        published = [(f.name, str(f.type)) for f in table.schema]
        ours = _our_schema(dataset_dir, m)
        same = [n for n, _ in published] == [n for n, _ in ours] and all(_same_type(a, b) for (_, a), (_, b) in zip(published, ours))
        checks.append(_check("schema", "PASS" if same else "FAIL",
                             f"{len(ours)} branches, names and types as the published files" if same else
                             f"differs from the published files: ours {[n for n, _ in ours][:8]}..., published {[n for n, _ in published][:8]}..."))
        ref_all = {b: table.column(b).to_numpy() for b in SCALARS}
        in_cat = np.isin(ref_all["jet_label"], CATEGORY_LABELS[category])
        ref = {b: v[in_cat] for b, v in ref_all.items()} if in_cat.sum() >= 5 else ref_all
    else:
        checks.append(_check("schema", "SKIP", f"published reference jets not found ({reference})"))
    cfg, points, bad, n_prov = read_provenance(provenance_dir, samples_config, category)
    coverage = grid_coverage(cfg, points)
    if bad:
        checks.append(_check("grid coverage", "WARN", f"unreadable provenance files: {', '.join(bad[:3])}"))
    elif not n_prov:
        checks.append(_check("grid coverage", "WARN", f"no provenance files (*.gridpoints.json) under {provenance_dir}"))
    else:
        checks.append(_check("grid coverage", "INFO", "; ".join(
            f"{s}: " + ", ".join(f"{k} {v[0]}/{v[1]}" if isinstance(v, list) else f"{v} {k}" for k, v in c.items())
            for s, c in coverage.items())))
    fams = _families(sample["jet_label"].astype(np.int64))
    match = {g: float(np.mean(sample["genjet_nparticles"][sel] > 0)) for g, sel in fams.items() if sel.sum()}
    overall = float(np.mean(sample["genjet_nparticles"] > 0)) if len(sample["genjet_nparticles"]) else float("nan")
    checks.append(_check("GEN-jet match rate", "INFO", f"{overall:.3f} of {len(sample['jet_label'])} jets read"))
    make_plots(outdir, category, m, sample, fams, ref, cfg, points)
    status = max((c["status"] for c in checks), key=ORDER.__getitem__)
    summary = {"category": category, "status": "FAIL" if status == "FAIL" else ("WARN" if status == "WARN" else "PASS"),
               "jets": m["jets"], "files": len(m["files"]), "jets_read": int(len(sample["jet_label"])),
               "checks": checks, "gen_match_rate": match, "grid_coverage": coverage,
               "labels": {LABEL_NAMES[int(k)]: v for k, v in m["labels"].items()}, "plots": list(PLOTS)}
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _our_schema(dataset_dir: Path, m: dict) -> list[tuple[str, str]]:
    """Branch names (file order, ROOT counters left out) and Arrow-style types of our first non-empty file."""
    path = next((dataset_dir / f["file"] for f in m["files"] if f["jets"] > 0), None)
    if path is None:
        return []
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        names = pq.ParquetFile(path).schema_arrow.names
    else:
        import uproot

        known = {name for name, _, _ in BRANCHES}
        names = [k for k in uproot.open(path)["tree"].keys() if k in known or not k.startswith("n")]
    cols = next(_read_chunks(path, [n for n in names if n in {b for b, _, _ in BRANCHES}], 10))
    types = {"float32": "float", "int32": "int32", "bool": "bool", "float64": "double", "int64": "int64"}
    out = []
    for name in names:
        v = cols.get(name)
        if v is None:
            out.append((name, "unknown"))
        elif isinstance(v, tuple):
            out.append((name, f"list<item: {types.get(str(v[1].dtype), str(v[1].dtype))}>"))
        else:
            out.append((name, types.get(str(v.dtype), str(v.dtype))))
    return out


def _same_type(published: str, ours: str) -> bool:
    return published.replace(" not null", "") == ours


def _data_uri(path: Path) -> str | None:
    import base64

    try:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return None


def html_summary(summaries: list[dict], outdir=None) -> str:
    """One self-contained page: overall status, a table of the categories, then each category's checks and
    plots (``outdir/CATEGORY/*.png`` embedded as data URIs: the page needs no other file)."""
    color = {"PASS": "#2e7d32", "WARN": "#ef6c00", "FAIL": "#c62828", "INFO": "#555", "SKIP": "#555"}
    overall = max((s["status"] for s in summaries), key=ORDER.__getitem__, default="PASS")
    index = ["<table class='index'><tr><th>category</th><th>status</th><th>jets</th><th>files</th>"
             "<th>FAIL / WARN</th></tr>"]
    rows = []
    for s in summaries:
        cat = html.escape(s["category"])
        worst = ", ".join(html.escape(c["check"]) for c in s["checks"] if c["status"] in ("FAIL", "WARN"))
        index.append(f"<tr><td><a href='#{cat}'>{cat}</a></td><td style='color:{color[s['status']]};font-weight:bold'>"
                     f"{s['status']}</td><td>{s['jets']}</td><td>{s['files']}</td><td>{worst}</td></tr>")
        rows.append(f"<section id='{cat}'><h2>{cat}: <span style='color:{color[s['status']]}'>{s['status']}</span> "
                    f"({s['jets']} jets, {s['files']} files, {s.get('jets_read', 0)} read for the plots)</h2><table>")
        for c in s["checks"]:
            rows.append(f"<tr><td>{html.escape(c['check'])}</td><td style='color:{color[c['status']]};font-weight:bold'>"
                        f"{c['status']}</td><td>{html.escape(c['detail'])}</td></tr>")
        rows.append("</table><div class='plots'>")
        for plot in s.get("plots", []) if outdir is not None else []:
            uri = _data_uri(Path(outdir) / s["category"] / plot)
            caption = html.escape(CAPTIONS.get(plot, plot))
            rows.append(f"<figure><img src='{uri}' alt='{cat} {html.escape(plot)}'><figcaption>{caption}</figcaption></figure>"
                        if uri else f"<p class='missing'>{cat}/{html.escape(plot)} missing</p>")
        rows.append("</div></section>")
    index.append("</table>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Dataset QA</title><style>"
            "body{font-family:sans-serif;max-width:1500px;margin:auto;padding:0 12px}"
            "td,th{padding:2px 8px;vertical-align:top;border-bottom:1px solid #ddd;text-align:left}"
            "section{border-top:3px solid #888;margin-top:24px}"
            ".plots{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}"
            "figure{margin:8px 0;max-width:100%;display:table}img{max-width:100%;height:auto;border:1px solid #eee}"
            "figcaption{display:table-caption;caption-side:bottom;color:#444;font-size:90%}.missing{color:#c62828}</style></head><body>"
            f"<h1>Dataset QA: <span style='color:{color[overall]}'>{overall}</span></h1>"
            "<p>FAIL: conservation, empty files, NaN/inf, labels of another category, absent labels at full statistics, "
            "schema. WARN: absent labels below the full-statistics threshold, no grid provenance, a QA older than "
            "its category's manifest. Error bars: statistical (Poisson counts, binomial rates).</p>"
            + "".join(index) + "".join(rows) + "</body></html>\n")


def page_summaries(outdir: Path, dataset: Path, fresh: list[dict]) -> list[dict]:
    """The summaries of the page: ``fresh`` ones and, for every other category of the dataset (its manifest
    present), the ``OUTDIR/CATEGORY/summary.json`` of an earlier run, so that rerunning one category
    keeps the others on the page. A summary older than its category's manifest gets a WARN."""
    by_cat = {s["category"]: s for s in fresh}
    for path in sorted(Path(outdir).glob("*/summary.json")):
        cat = path.parent.name
        if cat in by_cat or not (dataset / f"{cat}.manifest.json").is_file():
            continue
        try:
            by_cat[cat] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable, left off the page (%s)", path, exc)
    out = []
    for cat in sorted(by_cat):
        s = by_cat[cat]
        manifest = dataset / f"{cat}.manifest.json"
        summary = Path(outdir) / cat / "summary.json"
        if manifest.is_file() and summary.is_file() and summary.stat().st_mtime < manifest.stat().st_mtime:
            s = {**s, "status": "FAIL" if s["status"] == "FAIL" else "WARN",
                 "checks": s["checks"] + [_check("up to date", "WARN", "this QA is older than the category's manifest: "
                                                 "rerun qa-report for it")]}
        out.append(s)
    return out


def main(argv=None) -> int:
    """``qa-report``: checks and plots per category, and one HTML summary page."""
    import re
    import sys

    from jetclass2.cliargs import ArgumentParser, UsageError, inside, integer, report
    from jetclass2.logs import setup_cli_logging

    ap = ArgumentParser(prog="qa-report", description="Quality report of a packed dataset: PASS/WARN/FAIL checks "
                                 "and plots per category (OUTDIR/CATEGORY/), one summary page (OUTDIR/summary.html).")
    ap.add_argument("dataset_dir")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--categories", nargs="+", default=None, help="default: every manifest in the dataset")
    ap.add_argument("--summary-only", action="store_true", help="only (re)write summary.html from OUTDIR/CATEGORY/summary.json")
    ap.add_argument("--samples-config", default=None, help="samples configuration (grids, categories of the samples)")
    ap.add_argument("--provenance-dir", default=None, help="folder of the generation jobs (SAMPLE/*.gridpoints.json)")
    ap.add_argument("--reference", default=None, help="the published jets (parquet) to compare with")
    ap.add_argument("--max-jets", type=integer(minimum=1), default=200_000, help="jets read per category for the distributions")
    ap.add_argument("--min-jets-all-labels", type=integer(minimum=0), default=1_000_000,
                    help="from this many jets in a category an absent label is a FAIL (below: WARN)")
    ap.add_argument("--strict", action="store_true", help="exit status 1 when a check FAILs")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    setup_cli_logging(a.quiet)
    outdir = Path(a.outdir)
    dataset = Path(a.dataset_dir)
    summaries = []
    try:
        for cat in a.categories or []:
            if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", cat):
                raise UsageError(f"--categories {cat!r}: not a category name (letters, digits, '_', '.', '-')")
        if not dataset.is_dir():
            raise UsageError(f"{dataset}: dataset directory not found")
        if inside(outdir, dataset):
            raise UsageError(f"{outdir}: --outdir is the dataset directory {dataset} or lies in it")
        cats = a.categories or sorted(p.name[: -len(".manifest.json")] for p in dataset.glob("*.manifest.json"))
        if not cats:
            raise UsageError(f"{dataset}: no manifest (*.manifest.json) in the dataset directory")
        for cat in cats:
            if a.summary_only:
                summaries.append(json.loads((outdir / cat / "summary.json").read_text()))
            else:
                summaries.append(category_report(dataset, cat, outdir / cat, a.samples_config, a.provenance_dir, a.reference,
                                                 a.max_jets, a.min_jets_all_labels))
    except (OSError, ValueError, KeyError) as exc:  # UsageError is a ValueError
        return report("qa-report", exc if not isinstance(exc, KeyError) else ValueError(f"missing key {exc}"))
    if a.summary_only or len(cats) > 1 or not a.categories:
        from jetclass2.atomic import atomic_output

        try:
            with atomic_output(outdir / "summary.html") as tmp:
                tmp.write_text(html_summary(page_summaries(outdir, dataset, summaries), outdir))
        except OSError as exc:
            return report("qa-report", exc)
    for s in summaries:
        worst = [c for c in s["checks"] if c["status"] in ("FAIL", "WARN")]
        print(f"qa-report: {s['category']}: {s['status']}" + "".join(f"; {c['check']} {c['status']}: {c['detail']}" for c in worst),
              file=sys.stderr)
    return 1 if a.strict and any(s["status"] == "FAIL" for s in summaries) else 0


if __name__ == "__main__":
    raise SystemExit(main())
