#!/bin/bash
# A/B of `gpukd bench --quick` between two checkouts, sides alternated run by run, appending to OUT.
# usage: bench/ab_quick.sh BASE_DIR NEW_DIR ONLY OUT [threads]
#   e.g. bench/ab_quick.sh /tmp/main-copy . gram,cosine,sp,cc,irg,skd /tmp/ab.txt 1
# then: python3 bench/ab_quick_agg.py /tmp/ab.txt   (per row: medians over runs of each side's ratio)
# Each block records `uptime`'s load; on the shared 2-core VM alternate several rounds and compare medians.
base=$1; new=$2; only=$3; out=$4; th=${5:-}
for side in base new; do
  dir=$base; [ $side = new ] && dir=$new
  echo "== $side load average: $(uptime | sed 's/.*load average: //')"
  (cd "$dir" && GPUKD_BENCH_THREADS=$th ./gpukd bench --quick --only "$only" 2>&1 | grep -E "libtorch threads|^op|[0-9]x ")
done | tee -a "$out"
