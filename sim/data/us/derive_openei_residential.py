#!/usr/bin/env python3
"""Derives `openei-residential-st-louis.csv` from the NREL/OpenEI residential BASE load profile
of St. Louis (`USA_MO_St.Louis-Lambert.Intl.AP.724340_TMY3_BASE.csv`, column
`Electricity:Facility [kW](Hourly)`): the mean hourly load of each month and day type,
held for each of the hour's four quarter-hours, scaled to an annual consumption of
1,000,000 kWh, in the layout of the BDEW 2025 tables (see README.md).

Usage: derive_openei_residential.py SOURCE.csv > openei-residential-st-louis.csv
"""

import csv
import sys

DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
DAY_TYPES = ["WT", "SA", "FT"]


def main(path):
    rows = list(csv.reader(open(path)))[1:]
    kw = [float(r[1]) for r in rows]
    assert len(kw) == 8760, len(kw)
    annual_kwh = sum(kw)
    scale = 1_000_000.0 / annual_kwh * 0.25  # kW of the house -> kWh per quarter-hour per GWh/a
    sums = {}
    counts = {}
    day = 0
    for month, n_days in enumerate(DAYS_IN_MONTH):
        for _ in range(n_days):
            # The simulation year starts on a Sunday (its weekend days are 1, 7, 8, 14, ...).
            weekday = day % 7  # 0 Sunday ... 6 Saturday
            day_type = "FT" if weekday == 0 else "SA" if weekday == 6 else "WT"
            key = (month, day_type)
            counts[key] = counts.get(key, 0) + 1
            acc = sums.setdefault(key, [0.0] * 24)
            for hour in range(24):
                # Row d*24 + h is the hour ending at h+1:00, i.e. h:00 to h+1:00.
                acc[hour] += kw[day * 24 + hour]
            day += 1
    out = csv.writer(sys.stdout, lineterminator="\n")
    columns = [(m, t) for m in range(12) for t in DAY_TYPES]
    out.writerow([""] + [str(m + 1) for m, _ in columns])
    out.writerow(["[kWh]"] + [t for _, t in columns])
    for slot in range(96):
        hour = slot // 4
        label = f"{slot // 4:02d}:{slot % 4 * 15:02d}"
        values = [sums[c][hour] / counts[c] * scale for c in columns]
        out.writerow([label] + [f"{v:.3f}" for v in values])
    print(f"annual kWh of the source house: {annual_kwh:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
