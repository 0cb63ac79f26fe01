"""Regenerate race_control/resources/demo/roster.csv: a made-up roster for the bibs in the 2021 sample race.

The reads are real (ChronoTrack controller files); the people are invented, deterministically,
so the demo shows names, cities and messages.  About 1 in 60 bibs is left out on purpose so the
demo also shows how an unknown bib looks ("Bib 1234").  Run: python scripts/make_demo_roster.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from race_control.timing.protocols.controller_files import load_controller_dir

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "race_control" / "resources" / "demo"
FIRST = [
    "Ann",
    "Raj",
    "Maria",
    "Tom",
    "Aisha",
    "Chen",
    "Lucas",
    "Sofia",
    "Mateo",
    "Olivia",
    "Noah",
    "Emma",
    "Liam",
    "Ava",
    "Ethan",
    "Mia",
    "Yuki",
    "Omar",
    "Zoe",
    "Diego",
    "Priya",
    "Jonas",
    "Fatima",
    "Sam",
    "Grace",
    "Ivan",
    "Leila",
    "Hugo",
    "Nora",
    "Kwame",
    "Elena",
    "Ben",
    "Chloe",
    "Arjun",
    "Lena",
    "Marco",
]
LAST = [
    "Lee",
    "Patel",
    "Garcia",
    "Smith",
    "Khan",
    "Wang",
    "Martin",
    "Rossi",
    "Lopez",
    "Brown",
    "Kim",
    "Nguyen",
    "Müller",
    "Silva",
    "Haddad",
    "Okafor",
    "Johansson",
    "O'Brien",
    "Dubois",
    "Tanaka",
    "Novak",
    "Cohen",
    "Andersen",
    "Costa",
    "Schmidt",
    "Rivera",
    "Ivanova",
    "Mensah",
    "Moreau",
    "Walker",
    "Singh",
]
PLACES = [
    ("Denver", "CO"),
    ("Boulder", "CO"),
    ("Fort Collins", "CO"),
    ("Golden", "CO"),
    ("Salt Lake City", "UT"),
    ("Santa Fe", "NM"),
    ("Cheyenne", "WY"),
    ("Colorado Springs", "CO"),
    ("Estes Park", "CO"),
    ("Aspen", "CO"),
]
MESSAGES = [
    "Proud of you, {first}!",
    "Mountain goat!",
    "You crushed it, {first}!",
    "Go {first} go!",
    "First trail race — welcome home!",
    "",
]


def main() -> None:
    bibs: set[str] = set()
    for folder in ("FINISH1", "9K", "19K"):
        data = load_controller_dir(DEMO / "chronotrack-2021" / folder)
        bibs.update(r.tag for r in data.reads if r.tag not in {"99995", "99996", "99997", "99998"})
    rng = random.Random(2021)
    rows = []
    for bib in sorted(bibs, key=int):
        if rng.random() < 1 / 60:
            continue  # left unknown on purpose
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, state = rng.choice(PLACES)
        age = rng.randint(16, 72)
        gender = rng.choice("FM")
        division = f"{gender}{age // 10 * 10}-{age // 10 * 10 + 9}"
        message = rng.choice(MESSAGES).format(first=first)
        rows.append(
            {
                "bib": bib,
                "first_name": first,
                "last_name": last,
                "age": age,
                "gender": gender,
                "city": city,
                "state": state,
                "country": "USA",
                "division": division,
                "message": message,
                "alias": "",
                "hidden": "",
            }
        )
    rows[7]["hidden"] = "true"  # privacy opt-out: shown as "Bib N"
    rows[11]["alias"] = "The Flying Dutchman"
    with (DEMO / "roster.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} participants for {len(bibs)} bibs")


if __name__ == "__main__":
    main()
