"""Per-job start-up of ``generate`` and ``ntuplize`` on a simulated fresh cluster node, without and with
the production's warmed numba cache.

A fresh node: a copy of this checkout without any compiled cache, bind-mounted read-only in a private
mount namespace (``unshare -m``: needs root or user namespaces), so numba cannot cache beside the
package; an empty home directory; ``NUMBA_CACHE_DIR`` unset. Cases, each a new node (new home):

- ``cold``: home writable: numba falls back to ``$HOME/.cache/numba`` (lost with the node);
- ``cold, read-only home``: numba has nowhere to cache;
- ``warm``: ``NUMBA_CACHE_DIR`` = a cache filled once by ``warm-kernels`` (its cost is printed).

Per case: one ``generate`` job (Res2P_neutral, job 0, ``--events`` events, 50 pile-up from a small
minimum-bias library) and one ``ntuplize`` of its output, on a new node each, pinned to one core: wall
and CPU seconds (the process and its children) and the numba line of its log. A job of the same
commands with 0 events (same node state) separates the fixed cost from the events'.

Usage: sudo-capable shell; python benchmarks/bench_fresh_node.py [--events 20] [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from bench_side_by_side import run  # noqa: E402  (pinned process: CPU, wall, peak memory)

IGNORE = shutil.ignore_patterns(".git", "__pycache__", "results*", ".snakemake", "*.nbi", "*.nbc", ".pytest_cache")
CODE = "import sys; from {mod} import {fn} as main; sys.exit(main())"


def checkout_copy(dest: Path) -> Path:
    """This checkout's code, configuration and cards, without compiled caches."""
    for name in ("jetclass2", "ntuplizer", "config", "cards"):
        shutil.copytree(REPO / name, dest / name, ignore=IGNORE)
    return dest


def on_node(argv: list[str], node: dict, log: Path) -> dict:
    """``argv`` on the fresh node ``node``: the checkout copy (and the home, if asked) read-only."""
    mounts = [node["code"]] + ([node["home"]] if node["home_ro"] else [])
    setup = " && ".join(f"mount --bind -o ro '{m}' '{m}'" for m in mounts)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_", "PYENV", "JETCLASS2_CACHE"))}
    env.update(HOME=str(node["home"]), PYTHONPATH=str(node["code"]),
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    if node.get("cache"):
        env["NUMBA_CACHE_DIR"] = str(node["cache"])
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", f'{setup} && exec "$@"', "sh", *argv]
    try:
        out = run(cmd, log, cwd=node["home"], env=env)
        out["ok"] = True
    except RuntimeError as exc:
        out = {"ok": False, "error": str(exc), "cpu": float("nan"), "wall": float("nan")}
    text = log.read_text(errors="replace")
    out["numba"] = next((line.split(": ", 1)[1] for line in text.splitlines() if "numba kernels:" in line), "(no numba line)")
    out["error_line"] = next((line for line in reversed(text.splitlines()) if "Error" in line or "error:" in line), "")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=20)
    ap.add_argument("--keep", default=None, help="work directory (kept)")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="fresh_node_"))
    work.mkdir(parents=True, exist_ok=True)
    code = checkout_copy(work / "checkout")
    py = sys.executable
    lib = work / "minbias.parquet"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(work / "build_cache"), "PYTHONPATH": str(code)}
    subprocess.run([py, "-c", CODE.format(mod="jetclass2.generation.cli", fn="pileup_main"), "--events", "100",
                    "--seed", "1", "-o", str(lib), "-q"], check=True, env=env)
    # the production's cache, warmed once (the workflow's warm_kernels rule)
    cache = work / "shared_cache"
    warm_env = {**env, "NUMBA_CACHE_DIR": str(cache), "PATH": f"{Path(py).parent}:{os.environ['PATH']}"}
    warm = run([py, "-c", CODE.format(mod="jetclass2.ntuplizer.warm", fn="main"), "-o", str(cache / "warm.ok")], work / "warm.log",
               env=warm_env)
    print(f"warm-kernels (once per production): {warm['wall']:.1f} s wall, {warm['cpu']:.1f} s CPU; "
          f"{(cache / 'warm.ok').read_text().strip()}", flush=True)

    cases = [("cold (home writable, NUMBA_CACHE_DIR unset)", {"home_ro": False}),
             ("cold (home read-only, NUMBA_CACHE_DIR unset)", {"home_ro": True}),
             ("warm (NUMBA_CACHE_DIR = warmed shared cache)", {"home_ro": False, "cache": cache})]
    rows = []
    for i, (name, spec) in enumerate(cases):
        for events in (args.events, 0):
            res = {}
            for tool in ("generate", "ntuplize"):
                node = {"code": code, "home": work / f"home_{i}_{events}_{tool}", **spec}
                node["home"].mkdir()
                delphes = work / f"case{i}_{events}.root"
                if tool == "generate":
                    argv = [py, "-c", CODE.format(mod="jetclass2.fastsim.job", fn="main"), "--sample", "Res2P_neutral", "--job", "0",
                            "--events", str(events), "--seed", "1", "--pileup-library", str(lib), "--pileup-mean", "50",
                            "-o", str(delphes)]
                else:
                    if not res["generate"]["ok"]:
                        res[tool] = {"ok": False, "cpu": float("nan"), "wall": float("nan"), "numba": "(no input)",
                                     "error_line": ""}
                        continue
                    argv = [py, "-c", CODE.format(mod="jetclass2.ntuplizer.cli", fn="main"), str(delphes), "-o",
                            str(work / f"case{i}_{events}_jets.root")]
                res[tool] = on_node(argv, node, work / f"case{i}_{events}_{tool}.log")
                r = res[tool]
                print(f"  {name}, {tool}, {events} events: {'ok' if r['ok'] else 'FAILED'} {r['wall']:.1f} s wall, "
                      f"{r['cpu']:.1f} s CPU; log: {r['numba']}" + ("" if r["ok"] else f"; {r['error_line'][:200]}"),
                      flush=True)
            rows.append((name, events, res))
    load = os.getloadavg()
    print(f"\nOne job per new node, pinned to one core; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"({os.cpu_count()} cores)\n")
    print("| node | events | generate wall [s] | generate CPU [s] | ntuplize wall [s] | ntuplize CPU [s] | log line (generate) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, events, res in rows:
        g, n = res["generate"], res["ntuplize"]
        cell = (lambda r, k: f"{r[k]:.1f}" if r["ok"] else "failed")  # noqa: E731
        print(f"| {name} | {events} | {cell(g, 'wall')} | {cell(g, 'cpu')} | {cell(n, 'wall')} | {cell(n, 'cpu')} | "
              f"{g['numba'] if g['ok'] else g['error_line'][:120]} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
