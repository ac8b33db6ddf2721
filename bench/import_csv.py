"""Benchmark: our importer against sqlite3's own `.import` on a 1,000,000-row ECM file.

    .venv/bin/python bench/import_csv.py [--rows N] [--workdir DIR] [--keep]

Generates the file (20% of contacts with 5 phones, all 12 business parameters filled, unique
valid US numbers in the ways people write them), imports it with `import_file` into a fresh
database in a child process (whose peak RSS, and its worker's, are read from `ru_maxrss`), then
loads the same file into a plain table with `sqlite3 db ".mode csv" ".import file t"`.
Prints one JSON document. Targets: ratio >= 0.35, peak RSS < 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 0.35
TARGET_RSS_MB = 200.0

# Area codes of every US time zone, including ones libphonenumber maps to several zones.
AREAS = [
    "201",
    "202",
    "203",
    "205",
    "206",
    "207",
    "208",
    "209",
    "210",
    "212",
    "213",
    "214",
    "215",
    "216",
    "217",
    "218",
    "219",
    "224",
    "225",
    "228",
    "229",
    "231",
    "234",
    "239",
    "240",
    "248",
    "251",
    "252",
    "253",
    "254",
    "256",
    "260",
    "262",
    "267",
    "269",
    "270",
    "276",
    "281",
    "301",
    "302",
    "303",
    "304",
    "305",
    "307",
    "308",
    "309",
    "310",
    "312",
    "313",
    "314",
    "315",
    "316",
    "317",
    "318",
    "319",
    "320",
    "321",
    "323",
    "325",
    "330",
    "334",
    "336",
    "337",
    "339",
    "347",
    "351",
    "352",
    "360",
    "361",
    "386",
    "401",
    "402",
    "404",
    "405",
    "406",
    "407",
    "408",
    "409",
    "410",
    "412",
    "413",
    "414",
    "415",
    "417",
    "419",
    "423",
    "424",
    "425",
    "430",
    "432",
    "434",
    "435",
    "440",
    "443",
    "469",
    "478",
    "479",
    "480",
    "484",
    "501",
    "502",
    "503",
    "504",
    "505",
    "507",
    "508",
    "509",
    "510",
    "512",
    "513",
    "515",
    "516",
    "517",
    "518",
    "520",
    "530",
    "540",
    "541",
    "551",
    "559",
    "561",
    "562",
    "563",
    "567",
    "570",
    "571",
    "573",
    "574",
    "575",
    "580",
    "585",
    "586",
    "601",
    "602",
    "603",
    "605",
    "606",
    "607",
    "608",
    "609",
    "610",
    "612",
    "614",
    "615",
    "616",
    "617",
    "618",
    "619",
    "620",
    "623",
    "626",
    "630",
    "631",
    "636",
    "641",
    "646",
    "650",
    "651",
    "660",
    "661",
    "662",
    "678",
    "682",
    "701",
    "702",
    "703",
    "704",
    "706",
    "707",
    "708",
    "712",
    "713",
    "714",
    "715",
    "716",
    "717",
    "718",
    "719",
    "720",
    "724",
    "727",
    "731",
    "732",
    "734",
    "740",
    "754",
    "757",
    "760",
    "763",
    "765",
    "770",
    "772",
    "773",
    "774",
    "775",
    "781",
    "785",
    "786",
    "801",
    "802",
    "803",
    "804",
    "805",
    "806",
    "808",
    "810",
    "812",
    "813",
    "814",
    "815",
    "816",
    "817",
    "818",
    "828",
    "830",
    "831",
    "832",
    "843",
    "845",
    "847",
    "848",
    "850",
    "856",
    "857",
    "858",
    "859",
    "860",
    "862",
    "863",
    "864",
    "865",
    "870",
    "901",
    "903",
    "904",
    "906",
    "907",
    "908",
    "909",
    "910",
    "912",
    "913",
    "914",
    "915",
    "916",
    "917",
    "918",
    "919",
    "920",
    "925",
    "928",
    "931",
    "936",
    "937",
    "940",
    "941",
    "947",
    "949",
    "951",
    "952",
    "954",
    "956",
    "970",
    "971",
    "972",
    "973",
    "978",
    "979",
    "980",
    "985",
    "989",
]
STYLES = (
    "({a}) {e}-{n}",
    "{a}-{e}-{n}",
    "+1 {a} {e} {n}",
    "{a}{e}{n}",
    "1-{a}-{e}-{n}",
    "{a}.{e}.{n}",
)
FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Sofía",
    "Wei",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Nguyen",
]


def numbers(seed: int) -> object:
    """Unique valid US numbers: a bijective walk over area × exchange × line."""
    exchanges = [e for e in range(200, 1000) if e % 100 != 11 and e != 555]
    space = len(AREAS) * len(exchanges) * 10_000
    step = 2_654_435_761  # odd, coprime with the space: i -> i*step mod space is a permutation
    while space % 2 == 0 and step % 2 == 0:
        step += 1
    i = seed
    while True:
        k = (i * step) % space
        i += 1
        line, k = k % 10_000, k // 10_000
        exchange, area = exchanges[k % len(exchanges)], AREAS[k // len(exchanges)]
        yield area, exchange, line


def generate(path: Path, rows: int) -> None:
    rng = random.Random(2026)
    source = numbers(1)
    with path.open("w", encoding="utf-8", newline="") as out:
        for i in range(rows):
            count = 5 if rng.random() < 0.2 else 1
            phones = []
            for _ in range(count):
                area, exchange, line = next(source)  # type: ignore[call-overload]
                phones.append(rng.choice(STYLES).format(a=area, e=exchange, n=f"{line:04d}"))
            phones += [""] * (5 - count)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            bps = [
                f'"{last}, {first}"',
                f"AC-{i:09d}",
                f"{rng.randint(100, 999_999) / 100:.2f}",
                f"{first.lower()}.{last.lower()}{i}@example.com",
                rng.choice(("gold", "silver", "bronze")),
                f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                rng.choice(("en", "es", "zh")),
                rng.choice(("retail", "business", "student")),
                f"BR-{rng.randint(1, 40):03d}",
                str(rng.randint(0, 9)),
                rng.choice(("", "call after 5pm", "prefers SMS", "disputed amount")) or "-",
                f"CRM-{i:08d}",
            ]
            out.write(",".join(phones + bps) + "\n")


def child(db_path: str, csv_path: str) -> None:
    """Import in this (child) process and report time and peak memory as JSON on stdout."""
    from appliance.domain import CampaignType
    from appliance.importing.importer import import_file
    from appliance.store import open_database
    from appliance.store.campaigns import create_campaign

    db = open_database(db_path)
    campaign = create_campaign(db, "bench", CampaignType.AGENT, "US", {}, 0.0, "bench")
    started = time.perf_counter()
    report = import_file(
        db,
        campaign,
        csv_path,
        region="US",
        mappings={},
        now=time.time(),
        actor="bench",
        source="bench",
    )
    elapsed = time.perf_counter() - started
    db.close()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    kib = 1 if sys.platform.startswith("linux") else 1 / 1024  # macOS reports bytes
    json.dump(
        {
            "seconds": elapsed,
            "rows": report.rows,
            "imported": report.imported,
            "rejected": report.rejected,
            "duplicates": report.duplicates,
            "rss_main_mb": me.ru_maxrss * kib / 1024,
            "rss_worker_mb": kids.ru_maxrss * kib / 1024,
            "cpu_main_s": me.ru_utime + me.ru_stime,
            "cpu_worker_s": kids.ru_utime + kids.ru_stime,
        },
        sys.stdout,
    )


def sqlite_import(db_path: Path, csv_path: Path) -> float:
    sqlite3 = shutil.which("sqlite3")
    if sqlite3 is None:
        sys.exit(
            "bench: the sqlite3 command line tool is missing; install it: apt-get install sqlite3"
        )
    columns = ", ".join(f"c{i} TEXT" for i in range(1, 18))
    started = time.perf_counter()
    subprocess.run(
        [sqlite3, str(db_path), f"CREATE TABLE t({columns})", ".mode csv", f".import {csv_path} t"],
        check=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--workdir", type=Path, help="where the file and databases go (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--child", nargs=2, metavar=("DB", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if shutil.which("sqlite3") is None:
        sys.exit(
            "bench: the sqlite3 command line tool is missing; install it: apt-get install sqlite3"
        )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="dialbox-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    for stale in [*work.glob("ours.db*"), *work.glob("plain*.db*")]:
        stale.unlink()
    try:
        csv_path = work / "contacts.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        generated = time.perf_counter() - started
        before = sqlite_import(work / "plain-before.db", csv_path)
        ours = json.loads(
            subprocess.run(
                [sys.executable, __file__, "--child", str(work / "ours.db"), str(csv_path)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        after = sqlite_import(work / "plain.db", csv_path)
        theirs = min(before, after)  # the faster run: the ratio errs against us
        ours_rate = args.rows / ours["seconds"]
        sqlite_rate = args.rows / theirs
        peak = ours["rss_main_mb"] + ours["rss_worker_mb"]
        result = {
            "rows": args.rows,
            "file_mb": round(csv_path.stat().st_size / 2**20, 1),
            "generate_seconds": round(generated, 1),
            "ours": {
                "seconds": round(ours["seconds"], 2),
                "rows_per_s": round(ours_rate),
                "imported": ours["imported"],
                "rejected": ours["rejected"],
                "duplicates": ours["duplicates"],
                "cpu_seconds": {
                    "main": round(ours["cpu_main_s"], 1),
                    "worker": round(ours["cpu_worker_s"], 1),
                },
                "peak_rss_mb": {
                    "main": round(ours["rss_main_mb"], 1),
                    "worker": round(ours["rss_worker_mb"], 1),
                    "sum": round(peak, 1),
                },
            },
            "sqlite3_import": {
                "seconds": round(theirs, 2),
                "rows_per_s": round(sqlite_rate),
                "runs_seconds": [round(before, 2), round(after, 2)],
            },
            "ratio": round(ours_rate / sqlite_rate, 3),
            "targets": {
                "ratio>=0.35": ours_rate / sqlite_rate >= TARGET_RATIO,
                "peak_rss<200MB": peak < TARGET_RSS_MB,
            },
            "cpus": os.cpu_count(),
            "load_average_1m_after": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
