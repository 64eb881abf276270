#!/usr/bin/env python3
"""Merges the GpuKd harness CSV, the PyTorch CSV and the ptxas reports into one markdown summary.

Speed-up = PyTorch ms / GpuKd ms (> 1: GpuKd faster). GFLOP/s use the harness's FLOP model for both
(bench/GpuKd.KernelBench/OpCatalog.cs). % of peak is against the FP32 non-tensor-core peak:
SMs x FP32 lanes per SM x 2 x max SM clock (nvidia-smi), or a table by device name.

Usage: python3 merge.py --gpukd CSV --pytorch CSV [--device-json F] [--smi F] [--ptxas-dir D]
                        [--gpukd-log F] [--out FILE]
"""
import argparse
import csv
import glob
import json
import os
import re
import sys

# FP32 lanes per SM by compute capability (CUDA programming guide, arithmetic instruction throughput).
LANES = {(6, 0): 64, (7, 0): 64, (7, 5): 64, (8, 0): 64, (8, 6): 128, (8, 7): 128, (8, 9): 128,
         (9, 0): 128, (10, 0): 128, (12, 0): 128}
# Published FP32 (non-tensor) peaks in TFLOP/s, used when the clock cannot be read.
PEAKS = [("H200", 66.9), ("H100 SXM", 66.9), ("H100 80GB HBM3", 66.9), ("H100 PCIe", 51.2), ("H100", 51.2),
         ("A100", 19.5), ("L40S", 91.6), ("L4", 30.3)]


def read_csv(path):
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return {(r["op"], r["pass"], int(r["b"]), int(r["d"])): r for r in csv.DictReader(f)}


def peak_tflops(device_json, smi):
    info = {}
    if device_json and os.path.exists(device_json):
        with open(device_json) as f:
            info = json.load(f)
    name = info.get("name", "")
    clock = None
    if smi and os.path.exists(smi):
        with open(smi) as f:
            parts = [p.strip() for p in f.readline().split(",")]
        if not name and parts:
            name = parts[0]
        try:
            clock = float(parts[1])
        except (IndexError, ValueError):
            clock = None
    cc = tuple(info.get("cc", ()))
    if clock and info.get("sm_count") and cc in LANES:
        tf = info["sm_count"] * LANES[cc] * 2 * clock * 1e6 / 1e12
        return tf, "%s: %d SMs x %d FP32 lanes x 2 x %.0f MHz = %.1f TFLOP/s" % (name, info["sm_count"], LANES[cc], clock, tf)
    for key, tf in PEAKS:
        if key.lower() in name.lower():
            return tf, "%s: table value %.1f TFLOP/s" % (name, tf)
    return None, "peak unknown for '%s'" % name


def ptxas_table(ptx_dir):
    rows = []
    for report in sorted(glob.glob(os.path.join(ptx_dir or "", "*.ptxas.txt"))):
        text = open(report).read()
        kernel = os.path.basename(report)[:-len(".ptxas.txt")]
        regs = re.search(r"Used (\d+) registers", text)
        smem = re.search(r"(\d+) bytes smem", text)
        spill = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", text)
        stack = re.search(r"(\d+) bytes stack frame", text)
        err = "error" in text.lower() and not regs
        rows.append((kernel, regs.group(1) if regs else "?", smem.group(1) if smem else "0",
                     "%s/%s" % spill.groups() if spill else "?", stack.group(1) if stack else "?",
                     "FAILED" if err else "ok"))
    return rows


def fmt(v, spec="%.3f"):
    try:
        x = float(v)
        return spec % x if x == x else "—"
    except (TypeError, ValueError):
        return "—"


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpukd")
    ap.add_argument("--pytorch")
    ap.add_argument("--device-json")
    ap.add_argument("--smi")
    ap.add_argument("--ptxas-dir")
    ap.add_argument("--gpukd-log")
    ap.add_argument("--out")
    a = ap.parse_args(argv)

    g, p = read_csv(a.gpukd), read_csv(a.pytorch)
    peak, peak_note = peak_tflops(a.device_json, a.smi)
    lines = ["# GpuKd kernels vs PyTorch references", "", "FP32 peak: " + peak_note, ""]
    if a.gpukd_log and os.path.exists(a.gpukd_log):
        checks = [l.rstrip() for l in open(a.gpukd_log) if l.rstrip().endswith(("PASS", "FAIL"))]
        fails = [c for c in checks if c.endswith("FAIL")]
        lines += ["Validation of the GPU results against float64 CPU references: %d checks, %d failed" % (len(checks), len(fails))]
        lines += ["    " + c.strip() for c in fails] + [""]
    lines += ["| op | pass | b | D | GpuKd ms | PyTorch ms | speed-up | GpuKd GFLOP/s | % FP32 peak | PyTorch GFLOP/s |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key in sorted(set(g) | set(p), key=lambda k: (k[0], k[2], k[3], k[1])):
        gr, pr = g.get(key, {}), p.get(key, {})
        gms, pms = gr.get("ms_median", ""), pr.get("ms_median", "")
        gms_s = fmt(gms) if gr.get("status", "ok") == "ok" else gr.get("status", "")
        pms_s = fmt(pms) if pr.get("status", "ok") == "ok" else pr.get("note", pr.get("status", ""))
        try:
            ratio = "%.2f" % (float(pms) / float(gms))
        except (TypeError, ValueError, ZeroDivisionError):
            ratio = "—"
        gflop = gr.get("gflop") or pr.get("gflop")
        try:
            gfs = float(gflop) / (float(gms) / 1e3)
        except (TypeError, ValueError, ZeroDivisionError):
            gfs = float("nan")
        try:
            pfs = float(gflop) / (float(pms) / 1e3)
        except (TypeError, ValueError, ZeroDivisionError):
            pfs = float("nan")
        pct = fmt(gfs / (peak * 1e3) * 100, "%.1f") if peak and gfs == gfs else "—"
        lines.append("| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |" % (
            key[0], key[1], key[2], key[3], gms_s or "—", pms_s or "—", ratio, fmt(gfs, "%.0f"), pct, fmt(pfs, "%.0f")))
    kernels = ptxas_table(a.ptxas_dir)
    if kernels:
        lines += ["", "## ptxas -v per kernel (registers, static shared memory, spills)", "",
                  "MatMul's tiles are dynamic shared memory (2·16² elements), which ptxas does not count.", "",
                  "| kernel | registers | smem bytes | spill st/ld bytes | stack bytes | ptxas |", "|---|---:|---:|---:|---:|---|"]
        lines += ["| %s | %s | %s | %s | %s | %s |" % k for k in kernels]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
