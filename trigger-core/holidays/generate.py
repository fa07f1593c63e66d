"""Writes holidays.json, the mainland-China calendar the trigger service embeds (spec §6.4).

2023-2026: the State Council's published arrangements (国务院办公厅关于部分节假日安排的通知),
days off and makeup workdays as announced. 2027-2046: projected from the statutory days of the
2024 revision of 全国年节及纪念日放假办法 (元旦 1 day, 春节 除夕 to 初三, 清明 1, 劳动节 2,
端午 1, 中秋 1, 国庆 3), lunar dates and the Qingming solar term from lunar_python; the
arrangements of those years (bridging, makeup workdays) are not published yet, so those years
are marked projected and hold the statutory days only. A `holiday_source` row in the service's
database overrides any day.

Run: pip install lunar_python && python3 generate.py  (not needed to build or test)
"""

import datetime as dt
import json
import pathlib

from lunar_python import Lunar, Solar

D = dt.date


def days(a, b):
    out, d = [], a
    while d <= b:
        out.append(d)
        d += dt.timedelta(days=1)
    return out


# name, first day off, last day off, makeup workdays, the festival's own days
PUBLISHED = {
    2023: [
        ("元旦", D(2022, 12, 31), D(2023, 1, 2), [], [D(2023, 1, 1)]),
        ("春节", D(2023, 1, 21), D(2023, 1, 27), [D(2023, 1, 28), D(2023, 1, 29)], [D(2023, 1, 22)]),
        ("清明节", D(2023, 4, 5), D(2023, 4, 5), [], [D(2023, 4, 5)]),
        ("劳动节", D(2023, 4, 29), D(2023, 5, 3), [D(2023, 4, 23), D(2023, 5, 6)], [D(2023, 5, 1)]),
        ("端午节", D(2023, 6, 22), D(2023, 6, 24), [D(2023, 6, 25)], [D(2023, 6, 22)]),
        ("中秋节、国庆节", D(2023, 9, 29), D(2023, 10, 6), [D(2023, 10, 7), D(2023, 10, 8)], [D(2023, 9, 29), D(2023, 10, 1)]),
    ],
    2024: [
        ("元旦", D(2023, 12, 30), D(2024, 1, 1), [], [D(2024, 1, 1)]),
        ("春节", D(2024, 2, 10), D(2024, 2, 17), [D(2024, 2, 4), D(2024, 2, 18)], [D(2024, 2, 10)]),
        ("清明节", D(2024, 4, 4), D(2024, 4, 6), [D(2024, 4, 7)], [D(2024, 4, 4)]),
        ("劳动节", D(2024, 5, 1), D(2024, 5, 5), [D(2024, 4, 28), D(2024, 5, 11)], [D(2024, 5, 1)]),
        ("端午节", D(2024, 6, 8), D(2024, 6, 10), [], [D(2024, 6, 10)]),
        ("中秋节", D(2024, 9, 15), D(2024, 9, 17), [D(2024, 9, 14)], [D(2024, 9, 17)]),
        ("国庆节", D(2024, 10, 1), D(2024, 10, 7), [D(2024, 9, 29), D(2024, 10, 12)], [D(2024, 10, 1)]),
    ],
    2025: [
        ("元旦", D(2025, 1, 1), D(2025, 1, 1), [], [D(2025, 1, 1)]),
        ("春节", D(2025, 1, 28), D(2025, 2, 4), [D(2025, 1, 26), D(2025, 2, 8)], [D(2025, 1, 29)]),
        ("清明节", D(2025, 4, 4), D(2025, 4, 6), [], [D(2025, 4, 4)]),
        ("劳动节", D(2025, 5, 1), D(2025, 5, 5), [D(2025, 4, 27)], [D(2025, 5, 1)]),
        ("端午节", D(2025, 5, 31), D(2025, 6, 2), [], [D(2025, 5, 31)]),
        ("国庆节、中秋节", D(2025, 10, 1), D(2025, 10, 8), [D(2025, 9, 28), D(2025, 10, 11)], [D(2025, 10, 1), D(2025, 10, 6)]),
    ],
    2026: [
        ("元旦", D(2026, 1, 1), D(2026, 1, 3), [D(2026, 1, 4)], [D(2026, 1, 1)]),
        ("春节", D(2026, 2, 15), D(2026, 2, 23), [D(2026, 2, 14), D(2026, 2, 28)], [D(2026, 2, 17)]),
        ("清明节", D(2026, 4, 4), D(2026, 4, 6), [], [D(2026, 4, 5)]),
        ("劳动节", D(2026, 5, 1), D(2026, 5, 5), [D(2026, 5, 9)], [D(2026, 5, 1)]),
        ("端午节", D(2026, 6, 19), D(2026, 6, 21), [], [D(2026, 6, 19)]),
        ("中秋节", D(2026, 9, 25), D(2026, 9, 27), [], [D(2026, 9, 25)]),
        ("国庆节", D(2026, 10, 1), D(2026, 10, 7), [D(2026, 9, 20), D(2026, 10, 10)], [D(2026, 10, 1)]),
    ],
}


def solar(lunar_y, m, d):
    s = Lunar.fromYmd(lunar_y, m, d).getSolar()
    return D(s.getYear(), s.getMonth(), s.getDay())


def projected(y):
    spring = solar(y, 1, 1)
    eve = spring - dt.timedelta(days=1)
    q = Solar.fromYmd(y, 4, 1).getLunar().getJieQiTable()["清明"]
    qingming = D(q.getYear(), q.getMonth(), q.getDay())
    dragon, autumn = solar(y, 5, 5), solar(y, 8, 15)
    return [
        ("元旦", D(y, 1, 1), D(y, 1, 1), [], [D(y, 1, 1)]),
        ("春节", eve, spring + dt.timedelta(days=2), [], [spring]),
        ("清明节", qingming, qingming, [], [qingming]),
        ("劳动节", D(y, 5, 1), D(y, 5, 2), [], [D(y, 5, 1)]),
        ("端午节", dragon, dragon, [], [dragon]),
        ("中秋节", autumn, autumn, [], [autumn]),
        ("国庆节", D(y, 10, 1), D(y, 10, 3), [], [D(y, 10, 1)]),
    ]


def main():
    years = {}
    for y in range(2023, 2047):
        published = y in PUBLISHED
        out = []
        for name, a, b, makeup, festival in PUBLISHED.get(y) or projected(y):
            for d in days(a, b):
                out.append({"date": d.isoformat(), "name": name, "type": "holiday", "festival": d in festival})
            for d in makeup:
                out.append({"date": d.isoformat(), "name": name, "type": "workday", "festival": False})
        years[str(y)] = {"projected": not published, "days": sorted(out, key=lambda x: x["date"])}
    path = pathlib.Path(__file__).with_name("holidays.json")
    path.write_text(json.dumps({"years": years}, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
