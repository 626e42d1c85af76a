#!/usr/bin/env python3
"""Write the walkthrough's sample data: small, synthetic, deterministic, with the real schemas.

    python data/generate.py            # rewrites the files next to this script
    python data/generate.py --out DIR  # writes them under DIR instead (the tests compare the two)

Every value comes from random.Random(SEED): the same script writes the same bytes on every run, so
the committed files are reproducible and the SQL tests can assert exact counts. The anomalies
(cancellations, malformed numbers and dates, bad location ids...) are injected on purpose and
counted in ANOMALIES / TRIP_SPECIALS, which the tests read. See data/README.md for the full
public datasets these files stand in for.
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20240131
DATA_DIR = Path(__file__).resolve().parent

ECOMMERCE_FILE = "data.csv"
ZONES_FILE = "taxi_zone_lookup.csv"
RETRY_OK_FILE = "yc-retry/retry-ok-file.csv"
RETRY_ERROR_FILE = "yc-retry/retry-error-file.csv"
RETRY_DIRTY_FILE = "yc-retry/retry-dirty-file.csv"
# What this script writes. The zone lookup is the TLC's own file, shipped as is (data/README.md).
FILES = (ECOMMERCE_FILE, RETRY_OK_FILE, RETRY_DIRTY_FILE, RETRY_ERROR_FILE)
REFERENCE_FILES = (ZONES_FILE,)

ECOMMERCE_HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
TRIP_HEADER = [
    "VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count", "trip_distance",
    "RatecodeID", "store_and_fwd_flag", "PULocationID", "DOLocationID", "payment_type", "fare_amount",
    "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge", "total_amount",
    "congestion_surcharge", "Airport_fee",
]

# Rows of data.csv that the clean step must reject, by the reason it must give (in the order the
# SQL checks them). Cancellations are whole invoices, so their row count is decided while writing.
ANOMALIES = {
    "non_positive_quantity": 6,
    "invalid_quantity": 4,
    "invalid_unit_price": 4,
    "negative_unit_price": 2,
    "invalid_invoice_date": 4,
    "invalid_customer_id": 3,
}
CANCELLED_INVOICES = 8
MISSING_CUSTOMER_ROWS = 20  # valid sales without a customer: they stay in the clean table

# Trips of retry-ok-file.csv built to trip each detection rule of the Yellow Cab pipeline.
TRIP_SPECIALS = {"suspicious": 5, "short": 4, "long": 3, "invalid_location": 5}
NORMAL_TRIPS = 220
DIRTY_FILE_ROWS = 24
ERROR_FILE_ROWS = 16

# Boroughs of the lookup's "no usable place" entries (264 Unknown, 265 Outside of NYC).
UNKNOWN_BOROUGHS = ("Unknown", "N/A")

PRODUCT_WORDS = [
    "CERAMIC", "ENAMEL", "GLASS", "PAPER", "TIN", "WOODEN", "WICKER", "VINTAGE", "RETRO", "FLORAL",
    "SPOTTY", "STRIPED", "PINK", "BLUE", "RED", "IVORY", "GREEN", "HEART", "STAR", "BIRD",
]
PRODUCT_THINGS = [
    "MUG", "TEA CUP", "CAKE TIN", "LUNCH BOX", "NAPKINS", "CANDLE", "LANTERN", "PHOTO FRAME", "DOORMAT",
    "BUNTING", "COASTER", "GIFT BAG", "NOTEBOOK", "CLOCK", "HOT WATER BOTTLE", "JAM JAR", "TRINKET BOX",
]
COUNTRIES = [("United Kingdom", 70), ("France", 6), ("Germany", 6), ("EIRE", 5), ("Spain", 3),
             ("Netherlands", 3), ("Belgium", 2), ("Switzerland", 2), ("Portugal", 2), ("Australia", 1)]


# ------------------------------------------------------------------------------------------------
# E-commerce transactions (UCI Online Retail schema)
# ------------------------------------------------------------------------------------------------

def uci_date(moment: datetime) -> str:
    """UCI's format: month/day/year hour:minute, without zero padding on month, day and hour."""
    return f"{moment.month}/{moment.day}/{moment.year} {moment.hour}:{moment.minute:02d}"


def products(rng: random.Random) -> list[tuple[str, str, str]]:
    items, seen = [], set()
    while len(items) < 40:
        name = f"{rng.choice(PRODUCT_WORDS)} {rng.choice(PRODUCT_WORDS)} {rng.choice(PRODUCT_THINGS)}"
        if name in seen or len(set(name.split()[:2])) < 2:
            continue
        seen.add(name)
        code = str(rng.randint(20000, 90000)) + rng.choice(["", "", "", "A", "B", "C"])
        price = f"{rng.randint(29, 1275) / 100:.2f}"
        items.append((code, name, price))
    # Descriptions with a comma and with quotes exercise the CSV quoting on both ends.
    items[3] = (items[3][0], "SET OF 3 CAKE TINS, PANTRY DESIGN", items[3][2])
    items[7] = (items[7][0], 'MUG "HOME SWEET HOME"', items[7][2])
    items.append(("POST", "POSTAGE", "18.00"))
    return items


def ecommerce_rows(rng: random.Random) -> list[list[str]]:
    catalogue = products(rng)
    countries = [c for c, weight in COUNTRIES for _ in range(weight)]
    customers = [(str(rng.randint(12346, 18287)), rng.choice(countries)) for _ in range(60)]

    rows: list[list[str]] = []
    invoice = 536365
    moment = datetime(2010, 12, 1, 8, 26)
    for _ in range(105):
        customer, country = rng.choice(customers)
        for _ in range(rng.randint(1, 6)):
            code, name, price = rng.choice(catalogue)
            quantity = rng.choice([1, 2, 3, 4, 6, 6, 8, 12, 12, 24, 48])
            rows.append([str(invoice), code, name, str(quantity), uci_date(moment), price, customer, country])
        invoice += rng.randint(1, 40)
        moment += timedelta(minutes=rng.randint(20, 5000))
        if moment.hour < 7 or moment.hour > 20:
            moment = moment.replace(hour=rng.randint(8, 18))

    # Valid sales without a customer id (UCI has ~25% of them).
    for row in rng.sample(rows, MISSING_CUSTOMER_ROWS):
        row[6] = ""

    def variant(column: str, value: str) -> list[str]:
        # A copy of a valid sale with one field spoiled, so the row has exactly one reason to fail.
        row = list(rng.choice([r for r in rows if r[6]]))
        row[ECOMMERCE_HEADER.index(column)] = value
        return row

    anomalies: list[list[str]] = []
    # Cancellations: a 'C' invoice repeating lines of an earlier one with negative quantities.
    for _ in range(CANCELLED_INVOICES):
        source = rng.choice(rows)[0]
        cancelled = "C" + str(invoice)
        invoice += rng.randint(1, 40)
        for line in [r for r in rows if r[0] == source][: rng.randint(1, 3)]:
            anomalies.append([cancelled, line[1], line[2], str(-int(line[3])), line[4], line[5], line[6], line[7]])
    for quantity in ["-3", "-12", "-1", "0", "-24", "-2"][: ANOMALIES["non_positive_quantity"]]:
        anomalies.append(variant("Quantity", quantity))
    for quantity in ["abc", "", "3 pcs", "N/A"][: ANOMALIES["invalid_quantity"]]:
        anomalies.append(variant("Quantity", quantity))
    for price in ["N/A", "", "2,55", "free"][: ANOMALIES["invalid_unit_price"]]:
        anomalies.append(variant("UnitPrice", price))
    for price in ["-11062.06", "-3.50"][: ANOMALIES["negative_unit_price"]]:
        anomalies.append(variant("UnitPrice", price))
    for date in ["not a date", "13/1/2011 10:00", "2/30/2011 9:15", ""][: ANOMALIES["invalid_invoice_date"]]:
        anomalies.append(variant("InvoiceDate", date))
    for customer in ["CUST-17", "unknown", "1234O"][: ANOMALIES["invalid_customer_id"]]:
        anomalies.append(variant("CustomerID", customer))

    for row in anomalies:
        rows.insert(rng.randint(0, len(rows)), row)
    return rows


# ------------------------------------------------------------------------------------------------
# Taxi zone lookup (real, not generated: the trips below draw their location ids from it)
# ------------------------------------------------------------------------------------------------

def read_zones(path: Path) -> dict[int, tuple[str, str, str]]:
    """LocationID -> (Borough, Zone, service_zone) of the TLC lookup shipped in data/."""
    with path.open(newline="", encoding="utf-8") as f:
        return {int(r["LocationID"]): (r["Borough"], r["Zone"], r["service_zone"]) for r in csv.DictReader(f)}


@dataclass(frozen=True)
class ZonePools:
    """Location ids to draw trips from, by the kind of place a yellow cab serves."""
    yellow: tuple[int, ...]  # Manhattan's Yellow Zone, where most yellow cab trips start and end
    boro: tuple[int, ...]    # the outer boroughs' Boro Zone
    airports: tuple[int, ...]
    known: tuple[int, ...]   # every id with a real place (not Unknown / Outside of NYC)

    @classmethod
    def from_lookup(cls, zones: dict[int, tuple[str, str, str]]) -> "ZonePools":
        def ids(service: str) -> tuple[int, ...]:
            return tuple(sorted(i for i, (_, _, s) in zones.items() if s == service))
        known = tuple(sorted(i for i, (b, _, _) in zones.items() if b not in UNKNOWN_BOROUGHS))
        return cls(ids("Yellow Zone"), ids("Boro Zone"), ids("Airports"), known)

    def pickup(self, rng: random.Random, airport: bool) -> int:
        if airport:
            return rng.choice(self.airports)
        return rng.choice(self.yellow) if rng.random() < 0.85 else rng.choice(self.boro)

    def dropoff(self, rng: random.Random) -> int:
        draw = rng.random()
        if draw < 0.7:
            return rng.choice(self.yellow)
        return rng.choice(self.boro) if draw < 0.9 else rng.choice(self.known)


# ------------------------------------------------------------------------------------------------
# Yellow Cab trips (TLC yellow trip record columns, as CSV)
# ------------------------------------------------------------------------------------------------

def money(value: float) -> str:
    return f"{value:.2f}"


def trip(rng: random.Random, zones: ZonePools, *, distance: float | None = None, minutes: float | None = None,
         pickup_id: int | None = None, dropoff_id: int | None = None, fare: float | None = None,
         backwards: bool = False) -> list[str]:
    pickup = datetime(2024, 1, 1) + timedelta(seconds=rng.randint(0, 30 * 86400))
    distance = round(rng.uniform(0.6, 12.0), 2) if distance is None else distance
    minutes = max(3.0, distance * rng.uniform(2.5, 5.0)) if minutes is None else minutes
    dropoff = pickup + timedelta(seconds=int(minutes * 60))
    if backwards:
        pickup, dropoff = dropoff, pickup
    airport = rng.random() < 0.08
    fare = round(3.0 + 2.5 * distance + 0.35 * minutes, 2) if fare is None else fare
    extra = rng.choice([0.0, 1.0, 2.5])
    tip = round(fare * rng.choice([0.0, 0.15, 0.2, 0.25]), 2)
    tolls = 6.94 if rng.random() < 0.05 else 0.0
    congestion = 2.5 if rng.random() < 0.85 else 0.0
    airport_fee = 1.75 if airport else 0.0
    total = round(fare + extra + 0.5 + tip + tolls + 1.0 + congestion + airport_fee, 2)
    return [
        str(rng.choice([1, 2])),
        pickup.strftime("%Y-%m-%d %H:%M:%S"),
        dropoff.strftime("%Y-%m-%d %H:%M:%S"),
        str(rng.choice([1, 1, 1, 1, 2, 2, 3, 4])),
        f"{distance:.2f}",
        "2" if airport and rng.random() < 0.5 else "1",
        "Y" if rng.random() < 0.03 else "N",
        str(pickup_id if pickup_id is not None else zones.pickup(rng, airport)),
        str(dropoff_id if dropoff_id is not None else zones.dropoff(rng)),
        str(rng.choice([1, 1, 1, 2, 2, 3, 4])),
        money(fare), money(extra), "0.50", money(tip), money(tolls), "1.00", money(total),
        money(congestion), money(airport_fee),
    ]


def ok_trip_rows(rng: random.Random, zones: ZonePools) -> list[list[str]]:
    rows = [trip(rng, zones) for _ in range(NORMAL_TRIPS)]
    # Like the real files, some rows (payment_type 0, "flex fare") carry no passenger count,
    # rate code, flag, congestion or airport fee: empty fields, which load as NULL.
    for row in rng.sample(rows, 6):
        row[3] = row[5] = row[6] = row[17] = row[18] = ""
        row[9] = "0"
    specials = [
        # suspicious: fare far above what the distance explains, fare with no distance, a refund,
        # and a dropoff before the pickup
        trip(rng, zones, distance=1.2, minutes=8, fare=150.0),
        trip(rng, zones, distance=0.0, minutes=12, fare=52.0),
        trip(rng, zones, distance=2.3, minutes=11, fare=-7.2),
        trip(rng, zones, distance=0.9, minutes=6, fare=210.0),
        trip(rng, zones, distance=3.1, minutes=14, backwards=True),
        # short: under half a mile or under two minutes
        trip(rng, zones, distance=0.2, minutes=3),
        trip(rng, zones, distance=0.35, minutes=4),
        trip(rng, zones, distance=0.8, minutes=1.5),
        trip(rng, zones, distance=0.45, minutes=1),
        # long: over 30 miles or over three hours
        trip(rng, zones, distance=35.4, minutes=70),
        trip(rng, zones, distance=12.0, minutes=200),
        trip(rng, zones, distance=48.9, minutes=95),
        # invalid location: ids the lookup does not know, or its Unknown / Outside of NYC entries
        trip(rng, zones, pickup_id=0),
        trip(rng, zones, dropoff_id=300),
        trip(rng, zones, pickup_id=264),
        trip(rng, zones, dropoff_id=265),
        trip(rng, zones, pickup_id=999, dropoff_id=264),
    ]
    assert len(specials) == sum(TRIP_SPECIALS.values())
    for row in specials:
        rows.insert(rng.randint(0, len(rows)), row)
    return rows


# Cells a strict CAST rejects and SAFE_CAST turns into NULL: (column, value). '""' marks an
# explicitly quoted empty string, as opposed to an empty (NULL) field. No time among them: a trip
# without its times is refused by both paths (BAD_TIMES).
BAD_CELLS = [
    ("VendorID", "N/A"), ("passenger_count", "abc"), ("trip_distance", '""'), ("fare_amount", "N/A"),
    ("PULocationID", "abc"), ("total_amount", "12,50"), ("payment_type", "card"), ("tip_amount", "n/a"),
    ("RatecodeID", "?"), ("DOLocationID", '""'), ("extra", "one"), ("Airport_fee", "1.75$"),
]
BAD_TIMES = [
    ("tpep_pickup_datetime", "not-a-date"), ("tpep_dropoff_datetime", "2024-13-45 25:61:00"),
    ("tpep_pickup_datetime", ""), ("tpep_dropoff_datetime", "31/01/2024 10:00"),
]


def dirty_trip_rows(rng: random.Random, zones: ZonePools) -> list[list[str]]:
    """Only the soft path loads this file: bad values become NULL, every trip keeps its times."""
    rows = [trip(rng, zones) for _ in range(DIRTY_FILE_ROWS)]
    # Every other row gets one or two bad cells; the rest stay valid, so a soft load keeps them.
    for index, row in enumerate(rows):
        if index % 2 == 0:
            for column, value in rng.sample(BAD_CELLS, rng.choice([1, 2])):
                row[TRIP_HEADER.index(column)] = value
    return rows


def error_trip_rows(rng: random.Random, zones: ZonePools) -> list[list[str]]:
    """Neither path loads this file: some trips have no readable pickup or dropoff time, which
    the strict CAST refuses and the soft path cannot null (the target requires both times)."""
    rows = [trip(rng, zones) for _ in range(ERROR_FILE_ROWS)]
    for index, (column, value) in zip(range(1, ERROR_FILE_ROWS, 4), BAD_TIMES):
        rows[index][TRIP_HEADER.index(column)] = value
    # A bad amount besides, which alone the soft path would have taken as NULL.
    rows[0][TRIP_HEADER.index("fare_amount")] = "N/A"
    return rows


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------

def csv_line(fields: list[str]) -> str:
    """RFC 4180 quoting, only where needed; a field written as '""' is kept as a quoted empty string."""
    out = []
    for field in fields:
        if field == '""':
            out.append(field)
        elif any(c in field for c in ',"\n\r'):
            out.append('"' + field.replace('"', '""') + '"')
        else:
            out.append(field)
    return ",".join(out) + "\n"


def render_files() -> dict[str, str]:
    """File name (relative to data/) -> content. One generator per file, so editing one file's
    rules does not reshuffle the others."""
    ecommerce = ecommerce_rows(random.Random(SEED))
    zones = ZonePools.from_lookup(read_zones(DATA_DIR / ZONES_FILE))
    ok_trips = ok_trip_rows(random.Random(SEED + 2), zones)
    dirty_trips = dirty_trip_rows(random.Random(SEED + 3), zones)
    error_trips = error_trip_rows(random.Random(SEED + 4), zones)
    return {
        ECOMMERCE_FILE: "".join(csv_line(r) for r in [ECOMMERCE_HEADER] + ecommerce),
        RETRY_OK_FILE: "".join(csv_line(r) for r in [TRIP_HEADER] + ok_trips),
        RETRY_DIRTY_FILE: "".join(csv_line(r) for r in [TRIP_HEADER] + dirty_trips),
        RETRY_ERROR_FILE: "".join(csv_line(r) for r in [TRIP_HEADER] + error_trips),
    }


def write_files(out_dir: Path) -> list[Path]:
    written = []
    for name, content in render_files().items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8"))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder (default: data/)")
    args = parser.parse_args(argv)
    for path in write_files(args.out):
        print(path)


if __name__ == "__main__":
    main()
