# Aggregates bench/ab_quick.sh output files: per (op, shape, threads) and side, medians of ref ms, GpuKd ms and the per-run ratio.
import re,sys,statistics as st,glob
rows={}
loads={}
for f in sys.argv[1:]:
    side=None;th=None
    for line in open(f):
        m=re.match(r'== (base|new) load average: ([\d.]+)',line)
        if m: side=m.group(1); load=float(m.group(2)); continue
        m=re.search(r'libtorch threads: (\d+)',line)
        if m: th=int(m.group(1)); loads.setdefault((side,th),[]).append(load); continue
        m=re.match(r'(\S.*?)\s+(\[[\d,]+\])\s+([\d.]+)\s+([\d.]+)\s+[\d.]+x',line)
        if m and side:
            key=(m.group(1),m.group(2),th)
            rows.setdefault(key,{}).setdefault(side,[]).append((float(m.group(3)),float(m.group(4))))
print("loads:",{k:v for k,v in loads.items()})
print(f"{'op':24} {'shape':14} thr | base: ref ms  kd ms  ratio(med of runs) n | new: ref ms  kd ms  ratio n")
for (op,shape,th),d in sorted(rows.items(),key=lambda kv:(kv[0][2],)):
    out=f"{op:24} {shape:14} {th:3} |"
    for side in ('base','new'):
        v=d.get(side,[])
        if not v: out+="  -  |"; continue
        r=st.median([a/b for a,b in v]); ra=st.median([a for a,b in v]); kb=st.median([b for a,b in v])
        out+=f" {ra:8.3g} {kb:8.3g} {r:5.2f}x {len(v)} |"
    print(out)
