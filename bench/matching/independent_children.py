#!/usr/bin/env python3
"""A second, independent generator of synthetic child records in the canonical child CSV.

The engine is judged on child data it has never seen. Its own generator (the `synthetic`
crate) and its model were developed together, so a figure measured only on that generator
may reward the generator's quirks. This script was written apart from it, shares none of
its tables or code, and makes its own choices where real registries vary:

- names are built from syllables, so the engine's nickname and household-name tables and
  any name-frequency habit of the other generator do not apply; Ugandan siblings often
  carry different family names (clan and birth-order names), Cambodian ones share the
  father's;
- an estimated birth date is the registration year less a stated age, written as 1 January,
  1 July, 30 June or the day of registration, and flagged as estimated only some of the
  time;
- agencies differ: capitals, the whole name in one field, family name first, day and month
  entered the other way round, a village spelt with a hyphen or space, Khmer script in some
  Cambodian records, a parent written by one part of their name, children who moved;
- twins (same parents, village and birth date), siblings, and namesakes from common names.

Every person is generated; no list of real people is used.

    python3 independent_children.py --records 200000 --seed 1 --output f.csv --truth t.csv
"""
import argparse
import csv
import datetime
import random

HEADER = [
    "record_id", "source_system", "source_record_id", "given_name", "family_name", "sex",
    "date_of_birth", "date_of_birth_estimated", "district", "subcounty", "village",
    "mother_name", "father_name",
]

# Khmer syllables with the Latin spellings agencies use for them.
KHMER_SYLLABLES = [
    ("សុ", ["so", "su"]), ("ភា", ["pha", "phea"]), ("ដា", ["da"]), ("រ៉ា", ["ra"]),
    ("វី", ["vy", "vi", "vey"]), ("ចាន់", ["chan"]), ("ធី", ["thy", "thi"]), ("ណា", ["na"]),
    ("លី", ["ly", "li"]), ("ស្រី", ["srey", "srei"]), ("មុំ", ["mom"]), ("ណាង", ["nang", "neang"]),
    ("ម៉ី", ["my", "mey"]), ("នី", ["ny", "ni", "nie"]), ("ថា", ["tha"]), ("តា", ["ta"]),
    ("ភី", ["phy", "phi"]), ("ពិ", ["pi", "pe"]), ("សី", ["sy", "sei", "sey"]), ("ម៉ា", ["ma"]),
    ("រី", ["ry", "ri", "rey"]), ("យ៉ា", ["ya"]), ("ឡា", ["la"]), ("ហួរ", ["hour", "huor"]),
    ("គា", ["kea", "kia"]), ("ពៅ", ["pov", "pao"]), ("សុខ", ["sok", "sokh"]), ("ដែន", ["den", "daen"]),
    ("រិទ្ធ", ["rith", "reth"]), ("ពេជ្រ", ["pich", "pech"]), ("វណ្ណ", ["van", "vann"]),
    ("បូ", ["bo", "bou"]), ("រ័ត្ន", ["rath", "roth", "ratn"]),
]
KHMER_FAMILY = [
    ("សុខ", ["sok", "sokh"]), ("ចាន់", ["chan"]), ("ហេង", ["heng"]), ("គឹម", ["kim", "keum"]),
    ("ឡុង", ["long"]), ("ទូច", ["touch", "toch"]), ("ស៊ុន", ["sun", "soun"]),
    ("កែវ", ["keo", "kaev", "keov"]), ("ប៊ុន", ["bun", "boun"]), ("ម៉ៅ", ["mao", "mau"]),
    ("ឈួន", ["chhuon", "chhoun", "chuon"]), ("សេង", ["seng"]), ("ប៉ែន", ["pen", "paen"]),
    ("លឹម", ["lim", "leum"]), ("អ៊ុក", ["uk", "ouk"]), ("ណុប", ["nop", "nob"]),
    ("ស៊ាន", ["sean", "sian"]), ("ទេព", ["tep", "tep"]), ("យិន", ["yin", "yen"]),
    ("ព្រំ", ["prom", "prum"]), ("ខៀវ", ["khiev", "khieu"]), ("នួន", ["nuon", "noun"]),
]

# Latin given names of Christian usage, as Ugandan agencies write them.
CHRISTIAN_NAMES = {
    "F": ["Grace", "Patience", "Mercy", "Esther", "Ruth", "Joan", "Sarah", "Agnes", "Brenda",
          "Florence", "Harriet", "Irene", "Juliet", "Lydia", "Miriam", "Prossy", "Rebecca",
          "Sharon", "Winnie", "Doreen", "Gloria", "Immaculate", "Josephine", "Elizabeth",
          "Christine", "Olivia", "Peace", "Faith", "Hope", "Caroline"],
    "M": ["Brian", "Joseph", "Samuel", "Daniel", "Emmanuel", "Isaac", "Moses", "Peter", "Paul",
          "Ronald", "Godfrey", "Henry", "Ivan", "Julius", "Kenneth", "Martin", "Nicholas",
          "Robert", "Simon", "Timothy", "Denis", "Edward", "Frank", "Allan", "Benjamin",
          "Christopher", "David", "Andrew", "Joshua", "Jonathan"],
}
SHORT_FORMS = {
    "Emmanuel": "Emma", "Christopher": "Chris", "Benjamin": "Ben", "Elizabeth": "Liz",
    "Samuel": "Sam", "Josephine": "Jose", "Nicholas": "Nick", "Timothy": "Tim",
    "Kenneth": "Ken", "Jonathan": "Jon", "Rebecca": "Becky", "Christine": "Christy",
    "Immaculate": "Imma", "Caroline": "Carol", "Godfrey": "Godie", "Daniel": "Dan",
}

CONSONANTS = ["k", "t", "m", "n", "b", "s", "w", "g", "l", "ny", "ng", "ky", "mb", "nd", "kw",
              "z", "r", "y", "j", "bw", "ts", "p", "d", "ch"]
VOWELS = ["a", "e", "i", "o", "u"]
KEYBOARD = "qwertyuiop asdfghjkl zxcvbnm"


def keyboard_neighbours(letter):
    rows = KEYBOARD.split(" ")
    for row in rows:
        i = row.find(letter)
        if i >= 0:
            return [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
    return []


class Generator:
    def __init__(self, seed, family_size_weights=(30, 30, 20, 12, 8), sibling_syllable_share=0.0):
        self.rng = random.Random(seed)
        self.family_size_weights = list(family_size_weights)
        self.sibling_syllable_share = sibling_syllable_share
        rng = self.rng
        self.roots = self._zipf_pool([self._bantu_root() for _ in range(700)])
        self.places = {"UG": self._places(30, "UG"), "KH": self._places(20, "KH")}
        self.today = datetime.date(2026, 6, 30)
        self.khmer_given = self._zipf_pool(
            [tuple(rng.sample(KHMER_SYLLABLES, rng.choice([1, 2, 2, 2]))) for _ in range(500)])
        self.khmer_family = self._zipf_pool(KHMER_FAMILY)
        self.christian = {s: self._zipf_pool(names) for s, names in CHRISTIAN_NAMES.items()}

    def _zipf_pool(self, items):
        weights = [1.0 / (rank + 3) for rank in range(len(items))]
        return items, weights

    def pick(self, pool):
        items, weights = pool
        return self.rng.choices(items, weights)[0]

    def _bantu_root(self):
        rng = self.rng
        return "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(rng.choice([2, 2, 3])))

    def _place_name(self, country):
        rng = self.rng
        if country == "KH":
            return "".join(rng.choice(rng.choice(KHMER_SYLLABLES)[1]) for _ in range(2)).capitalize()
        return (("Ka" + self._bantu_root()) if rng.random() < 0.3 else self._bantu_root()).capitalize()

    def _places(self, districts, country):
        tree = []
        for _ in range(districts):
            district = self._place_name(country)
            subcounties = []
            for _ in range(self.rng.randint(5, 10)):
                villages = [self._place_name(country) for _ in range(self.rng.randint(6, 14))]
                subcounties.append((self._place_name(country), villages))
            tree.append((district, subcounties))
        return tree

    def place(self, country):
        district, subcounties = self.rng.choice(self.places[country])
        subcounty, villages = self.rng.choice(subcounties)
        return district, subcounty, self.rng.choice(villages)

    # People -------------------------------------------------------------------------------

    def ugandan_local_name(self, sex):
        root = self.pick(self.roots)
        style = self.rng.random()
        if style < 0.35:
            return ("Na" if sex == "F" else "O") + root
        if style < 0.5:
            return ("A" if sex == "F" else "Wa") + root
        return root.capitalize()

    def khmer_name(self, syllables):
        """A Khmer name as (script, latin) with one agency-independent romanisation."""
        script = "".join(s for s, _ in syllables)
        latin = "".join(self.rng.choice(v) for _, v in syllables).capitalize()
        return script, latin, syllables

    def household(self):
        rng = self.rng
        country = "UG" if rng.random() < 0.6 else "KH"
        home = self.place(country)
        if country == "UG":
            father_family = self.ugandan_local_name("M")
            mother = f"{self.pick(self.christian['F'])} {self.ugandan_local_name('F')}"
            father = f"{self.pick(self.christian['M'])} {father_family}"
        else:
            father_family = self.pick(self.khmer_family)
            mother_family = self.pick(self.khmer_family)
            mother = (mother_family, self.pick(self.khmer_given))
            father = (father_family, self.pick(self.khmer_given))
        # Some Cambodian parents give every child a name that begins alike (Sok-ha,
        # Sok-hom): siblings whose given names are close. Drawn only when asked, so the
        # default population stays the same for a seed.
        shared = None
        if country == "KH" and self.sibling_syllable_share > 0:
            if rng.random() < self.sibling_syllable_share:
                shared = rng.choice(KHMER_SYLLABLES)
        sizes = range(1, len(self.family_size_weights) + 1)
        size = rng.choices(sizes, self.family_size_weights)[0]
        children = []
        born = self.today - datetime.timedelta(days=rng.randint(0, 17 * 365))
        for _ in range(size):
            twins = rng.random() < 0.04
            for _ in range(2 if twins else 1):
                children.append(
                    self.child(country, home, father_family, mother, father, born, shared))
            born -= datetime.timedelta(days=rng.randint(300, 4 * 365))
            if born < self.today - datetime.timedelta(days=18 * 365):
                break
        return children

    def child(self, country, home, father_family, mother, father, born, shared=None):
        rng = self.rng
        sex = rng.choice("MF")
        if country == "UG":
            given = [self.pick(self.christian[sex])]
            if rng.random() < 0.3:
                given.append(self.ugandan_local_name(sex))
            family = father_family if rng.random() < 0.45 else self.ugandan_local_name(sex)
            names = {"given": given, "family": family}
        else:
            given = self.pick(self.khmer_given)
            if shared is not None:
                given = (shared, rng.choice([s for s in KHMER_SYLLABLES if s != shared]))
            names = {"given": given, "family": father_family}
        moved = self.place(country) if rng.random() < 0.12 else None
        return {"country": country, "sex": sex, "born": born, "home": home, "moved": moved,
                "names": names, "mother": mother, "father": father}

    # Records ------------------------------------------------------------------------------

    AGENCIES = {
        # name: (weight, typo rate, capitals, khmer script share)
        "civil_registration": (30, 0.03, 0.0, 0.5),
        "emis_school": (30, 0.08, 0.7, 0.0),
        "police_cid": (15, 0.12, 0.3, 0.1),
        "juvenile_court": (10, 0.06, 0.2, 0.2),
        "ngo_casework": (15, 0.10, 0.0, 0.4),
    }

    def records_for(self, child):
        rng = self.rng
        count = rng.choices([1, 2, 3, 4], [38, 32, 20, 10])[0]
        names = list(self.AGENCIES)
        weights = [self.AGENCIES[a][0] for a in names]
        agencies = []
        while len(agencies) < count:
            agency = rng.choices(names, weights)[0]
            if agency not in agencies or rng.random() < 0.1:
                agencies.append(agency)
        return [self.record(child, agency) for agency in agencies]

    def typo(self, text, rate):
        rng = self.rng
        if not text or rng.random() >= rate:
            return text
        chars = list(text)
        i = rng.randrange(len(chars))
        kind = rng.random()
        if kind < 0.3 and chars[i].lower() in KEYBOARD:
            near = keyboard_neighbours(chars[i].lower())
            if near:
                chars[i] = rng.choice(near)
        elif kind < 0.5 and len(chars) > 3:
            del chars[i]
        elif kind < 0.65:
            chars.insert(i, chars[i])
        elif kind < 0.8 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            swaps = {"a": "e", "e": "i", "i": "y", "y": "i", "o": "u", "u": "o", "k": "c", "c": "k",
                     "l": "r", "r": "l", "v": "w", "w": "v"}
            if chars[i].lower() in swaps:
                chars[i] = swaps[chars[i].lower()]
        out = "".join(chars)
        return self.typo(out, rate * 0.2) if rate > 0.01 else out

    def khmer_written(self, syllables, script_share, rate):
        """One agency's writing of a Khmer name: script, or its own Latin spelling."""
        rng = self.rng
        if rng.random() < script_share:
            return "".join(s for s, _ in syllables)
        parts = [rng.choice(v) for _, v in syllables]
        joiner = rng.choices(["", " ", "-"], [80, 15, 5])[0] if len(parts) > 1 else ""
        if joiner:
            return self.typo(joiner.join(p.capitalize() for p in parts), rate)
        return self.typo("".join(parts).capitalize(), rate)

    def parent_written(self, child, which, agency, rate, script_share):
        rng = self.rng
        present = {"civil_registration": (0.95, 0.8), "emis_school": (0.5, 0.4),
                   "police_cid": (0.35, 0.25), "juvenile_court": (0.6, 0.5),
                   "ngo_casework": (0.85, 0.5)}[agency][0 if which == "mother" else 1]
        if rng.random() >= present:
            return ""
        parent = child[which]
        if child["country"] == "UG":
            parts = parent.split(" ")
            if rng.random() < 0.2:
                parts = [rng.choice(parts)]
            elif rng.random() < 0.15:
                parts.reverse()
            return " ".join(self.typo(p, rate) for p in parts)
        family, given = parent
        family_text = self.khmer_written([family], script_share, rate)
        given_text = self.khmer_written(given, script_share, rate)
        if rng.random() < 0.15:
            return given_text
        return f"{family_text} {given_text}"

    def birth_date_written(self, child, agency):
        rng = self.rng
        born = child["born"]
        estimated_share = {"civil_registration": 0.02, "emis_school": 0.1, "police_cid": 0.55,
                           "juvenile_court": 0.3, "ngo_casework": 0.4}[agency]
        missing = {"police_cid": 0.08, "ngo_casework": 0.08}.get(agency, 0.01)
        if rng.random() < missing:
            return "", ""
        if rng.random() < estimated_share:
            seen = born + datetime.timedelta(days=rng.randint(0, 8 * 365))
            seen = min(seen, self.today)
            age = (seen - born).days // 365 + rng.choice([-1, 0, 0, 0, 1])
            year = max(seen.year - max(age, 0), 2005)
            month_day = rng.choices([(1, 1), (7, 1), (6, 30), (seen.month, min(seen.day, 28))],
                                    [40, 20, 15, 25])[0]
            flag = "1" if rng.random() < 0.7 else rng.choice(["0", ""])
            return datetime.date(year, *month_day).isoformat(), flag
        date = born
        if agency in ("emis_school", "police_cid") and date.day <= 12 and rng.random() < 0.06:
            date = datetime.date(date.year, date.day, date.month)
        elif rng.random() < 0.02:
            date = datetime.date(date.year + rng.choice([-1, 1]), date.month, min(date.day, 28))
        elif rng.random() < 0.02:
            date = date + datetime.timedelta(days=rng.choice([-1, 1, 10, -10]))
        return date.isoformat(), rng.choice(["0", "0", ""])

    def place_written(self, place, agency, rate):
        rng = self.rng
        district, subcounty, village = place
        keep_village = {"civil_registration": 0.97, "emis_school": 0.9, "police_cid": 0.4,
                        "juvenile_court": 0.3, "ngo_casework": 0.85}[agency]
        keep_subcounty = {"juvenile_court": 0.5, "police_cid": 0.8}.get(agency, 0.97)
        if rng.random() >= keep_village:
            village = ""
        if rng.random() >= keep_subcounty:
            subcounty = ""
        if village and rng.random() < 0.1:
            cut = rng.randint(2, max(2, len(village) - 2))
            village = village[:cut] + rng.choice([" ", "-"]) + village[cut:].lower()
        if rng.random() < 0.05:
            district = district + " District"
        return district, self.typo(subcounty, rate / 2), self.typo(village, rate)

    def record(self, child, agency):
        rng = self.rng
        _, rate, capitals, script_share = self.AGENCIES[agency]
        # A form is typed in one script: Khmer for the whole record, or Latin.
        script_share = 1.0 if child["country"] == "KH" and rng.random() < script_share else 0.0
        names = child["names"]
        if child["country"] == "UG":
            given_parts = list(names["given"])
            if len(given_parts) > 1 and rng.random() < 0.5:
                given_parts = [rng.choice(given_parts)]
            if agency in ("police_cid", "ngo_casework") and rng.random() < 0.15:
                given_parts = [SHORT_FORMS.get(p, p) for p in given_parts]
            given = " ".join(self.typo(p, rate) for p in given_parts)
            family = self.typo(names["family"], rate)
        else:
            given = self.khmer_written(names["given"], script_share, rate)
            family = self.khmer_written([names["family"]], script_share, rate)
        order = rng.random()
        swap = {"emis_school": 0.12, "police_cid": 0.15}.get(agency, 0.05)
        if child["country"] == "KH":
            swap *= 2
        if order < swap:
            given, family = family, given
        elif agency in ("police_cid", "juvenile_court") and order < swap + 0.1:
            given, family = f"{given} {family}", ""
        place = child["moved"] if child["moved"] and rng.random() < 0.5 else child["home"]
        district, subcounty, village = self.place_written(place, agency, rate)
        date, estimated = self.birth_date_written(child, agency)
        sex = child["sex"]
        if rng.random() < 0.03:
            sex = ""
        elif rng.random() < 0.01:
            sex = "M" if sex == "F" else "F"
        elif agency == "emis_school" and rng.random() < 0.5:
            sex = {"M": "Male", "F": "Female"}[sex]
        mother = self.parent_written(child, "mother", agency, rate, script_share)
        father = self.parent_written(child, "father", agency, rate, script_share)
        row = [agency, given, family, sex, date, estimated, district, subcounty, village, mother, father]
        if rng.random() < capitals:
            row = [v.upper() if i in (1, 2, 6, 7, 8, 9, 10) else v for i, v in enumerate(row)]
        return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument(
        "--family-size-weights",
        default="30,30,20,12,8",
        help="relative weights of households with 1, 2, 3, ... children (a population "
        "of larger families has more siblings for every child)",
    )
    ap.add_argument(
        "--sibling-syllable-share",
        type=float,
        default=0.0,
        help="share of Cambodian households whose children's given names begin with "
        "the same syllable",
    )
    args = ap.parse_args()
    if not 0.0 <= args.sibling_syllable_share <= 1.0:
        ap.error("--sibling-syllable-share: a share between 0 and 1")
    try:
        weights = [float(w) for w in args.family_size_weights.split(",")]
    except ValueError:
        ap.error("--family-size-weights: comma-separated numbers")
    if not weights or min(weights) < 0 or sum(weights) <= 0:
        ap.error("--family-size-weights: at least one positive weight, none negative")
    gen = Generator(args.seed, weights, args.sibling_syllable_share)
    rows = []
    child_number = 0
    while len(rows) < args.records:
        for child in gen.household():
            child_number += 1
            for record in gen.records_for(child):
                rows.append((f"child{child_number:07d}", record))
    rows = rows[: args.records]
    gen.rng.shuffle(rows)
    per_agency = {}
    with open(args.output, "w", newline="", encoding="utf-8") as out, \
            open(args.truth, "w", newline="", encoding="utf-8") as truth:
        records = csv.writer(out)
        truths = csv.writer(truth)
        records.writerow(HEADER)
        truths.writerow(["record_id", "cluster_id"])
        for number, (child, record) in enumerate(rows, start=1):
            agency = record[0]
            per_agency[agency] = per_agency.get(agency, 0) + 1
            record_id = f"x{number:07d}"
            records.writerow([record_id, agency, f"{agency[:3].upper()}-{per_agency[agency]:06d}", *record[1:]])
            truths.writerow([record_id, child])


if __name__ == "__main__":
    main()
