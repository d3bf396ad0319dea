#!/usr/bin/env python3
"""Third, independently written generator of synthetic child records with ground truth.

    python3 bench/matching/third_children.py --records 200000 --seed 1 \
        --output records.csv --truth truth.csv

Writes the registry's canonical child CSV

    record_id,source_system,source_record_id,given_name,family_name,sex,date_of_birth,
    date_of_birth_estimated,district,subcounty,village,mother_name,father_name

and `truth.csv` (`record_id,cluster_id`, one row per record; one cluster per real child).
Standard library only; deterministic for a given `--seed` (one `random.Random`, no global
random state, no `hash()` of strings). It was written without looking at the project's other
generators or its matching engine, so that the engine can be measured on habits nobody tuned it
to. Every person is generated from small hand-written lists of name *parts*; nobody real.

Population (all rates are rough targets, not exact)
---------------------------------------------------
* Two countries, households drawn 50/50: Uganda (UG) and Cambodia (KH).
* Geography is invented from syllables: Uganda about 34 districts x 5-8 subcounties x 8-16
  villages (names like "Kabalenge", "Nyamiro Central"); Cambodia about 28 districts x 5-8
  communes x 6-12 villages built from Khmer place words that have several romanisations
  ("Kampong/Kompong/Kg.", "Trapeang/Tropeang", "Chrey/Chrei"). District popularity is Zipf-like,
  so a few districts are crowded.
* Households hold 1-6 children (weights 25/25/20/14/10/6 %, fewer if later births would fall
  after 2024). Eldest born 2006-2022, later births 13-53 months apart, births 3 % twins (same
  date of birth, same parents, same village; Luganda and Acholi twins get the customary twin
  names Babirye/Nakato, Wasswa/Kato, Apio/Acen, Opio/Ocen). Siblings share parents and village.
  12 % of households get a cousin household in the same village whose father carries the same
  family name (so cousins share a family name and have look-alike parent names).
  Father unknown in 14 % (UG) / 7 % (KH) of households, mother unknown in 4 % / 3 %.
* Uganda: each household has an ethnic group (district-dominant 80 %): Ganda, Acholi or
  Nkole. Children carry one or two Christian/Muslim given names (25 % two, 8 % none: then a
  second local name) plus a personal local name (Luganda clan names, Acholi O-/A- birth
  circumstance names, Runyankole theophoric names, the latter half built from syllables).
  65 % of households give each child his or her own local name as family name, so siblings do
  NOT share it; 35 % use the father's local name, and then the child's own name is a "known by"
  name some agencies add or even record as the surname. Parents are "Local Christian".
* Cambodia: names are composed of Khmer syllable units, each with its Khmer script and two to
  four romanisations (Sok/Sokh/Sauk, Srey/Srei/Sri, Reaksmey/Raksmey/Reaksmei ...). Given
  names have one or two units (40 % of girls "Srey"+X, 25 % of boys Sok/Chan/Bun+X), written
  together, apart or hyphenated (Sreymom / Srey Mom / Srey-Mom). Siblings usually share the
  family name (father's family name 78 %, father's given name 17 %, mother's 5 %; each child
  deviates 8 %). Native order is family name first.
* Names are Zipf-weighted, so common names are really common: thousands of unrelated namesakes
  ("Sok Sreymom", "Grace Nakato"), many sharing a birth year.
* Each child is registered in 1-4 source systems (53/29/13/5 %, capped by the systems that
  take a child of that age: police from 8, court from 10, schools from 4; welfare and the NGO
  from birth). 2 % of children are enrolled twice in the same system. About 45-50 % of
  children end up with more than one record.
* Dates of birth: 75 % (UG) / 88 % (KH) of children have a known date; for the others every
  record estimates one. Estimated dates keep only a guessed year (45 % right, 40 % +-1 year,
  15 % +-2) written as 1 January, 30 June or 1 July, or as "age subtracted from the
  registration date" (a random day), flagged estimated only sometimes.

Source systems and their habits
-------------------------------
        system       volume  typo  phonetic  swap  whole-name  CAPS  khmer  dob missing  est.
        police-ug     0.8    0.28   0.15     0.15    0.12      0.65    -       25 %      35 %
        court-ug      0.35   0.12   0.10     0.30    0.20      0.88    -       15 %      30 %
        school-ug     1.0    0.08   0.08     0.05    0.02      0.15    -        3 %       8 %
        welfare-ug    0.9    0.16   0.20     0.10    0.05      0.30    -        8 %      25 %
        police-kh     0.7    0.20   0.20     0.35    0.15      0.60   10 %     20 %      30 %
        school-kh     1.0    0.06   0.06     0.15    0.05      0.25   45 %      2 %       5 %
        welfare-kh    0.8    0.12   0.15     0.25    0.08      0.20   30 %      6 %      20 %
        ngo-intl      0.3    0.15   0.30     0.20    0.10      0.05    -        5 %      30 %
("typo" is the chance of at least one typo per name field; typos are substitutions by keyboard
neighbour, deletions, insertions, transpositions, doubled letters and OCR confusions such as
rn/m, cl/d, l/1, o/0.) Other habits, per system: listed alternative spellings (Brian/Bryan,
Racheal/Rachel), nicknames (Emmanuel -> Emma, Sreymom -> Mom, Khmer "Pov"/"Touch"), dropped
or added middle names, the two given names in either order, extra spaces, hyphens,
apostrophes, dots and middle initials, "SURNAME, Given" in court files, Khmer zero-width spaces,
a preferred romanisation per Khmer syllable (agencies disagree), day and month transposed (2-6 %),
a mistyped digit (2 %), sex written F/M, f/m or female/male or missing, village missing
(5-55 %), parents missing very often in police/court records (60-70 %), parents given by one part
of their name or with a title ("Mama Grace", "Mzee Okello", "Late Ojok", "Nnalongo Nakato",
"Lok Dara", "Neak Sophea"), 6 % of children moved district between records, police recording the
place of arrest (12 %), and placeholders ("UNKNOWN", "N/A", "-", "baby", "not known",
"មិនស្គាល់") in a name or parent field for 1-4 % of records.

Records are shuffled before `record_id`s (r000001 ...) are assigned; `source_record_id`s are
system-specific formats, unique within a system.
"""

import argparse
import csv
import re
import random
import sys
import time
import zlib
from bisect import bisect
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, timedelta
from itertools import accumulate

REFERENCE_DATE = date(2025, 6, 30)  # "today" for ages
FIRST_BIRTH = date(2006, 1, 1)
LAST_BIRTH = date(2024, 12, 31)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

class Weighted:
    """Items with weights; `pick(rng)` is a fast weighted choice."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    def pick(self, rng):
        return self.items[bisect(self.cum, rng.random() * self.total)]


@lru_cache(maxsize=None)
def cached_weighted(items, weights):
    """The same Weighted for the same (hashable) items and weights, built once."""
    return Weighted(items, weights)


def zipf(items, s=1.0):
    """Earlier items are more common: weight 1 / rank**s."""
    items = list(items)
    return Weighted(items, [1.0 / (i + 1) ** s for i in range(len(items))])


def chance(rng, p):
    return rng.random() < p


def count_events(rng, p, cap=3):
    """Number of events where each further one happens with probability p (geometric)."""
    n = 0
    while n < cap and rng.random() < p:
        n += 1
    return n


def stable_index(key, n):
    """A deterministic index in range(n) derived from a string (crc32, not hash())."""
    return zlib.crc32(key.encode("utf-8")) % n


# ---------------------------------------------------------------------------------------------
# Uganda name parts
# ---------------------------------------------------------------------------------------------

UG_GIVEN_F = [
    "Grace", "Sarah", "Mary", "Esther", "Joan", "Sharon", "Patience", "Faith", "Mercy", "Brenda",
    "Gloria", "Florence", "Christine", "Agnes", "Ruth", "Annet", "Juliet", "Rebecca", "Harriet",
    "Proscovia", "Immaculate", "Vivian", "Doreen", "Winnie", "Lillian", "Rose", "Betty",
    "Catherine", "Margaret", "Elizabeth", "Dorcus", "Peace", "Racheal", "Hope", "Jovia", "Martha",
    "Deborah", "Caroline", "Irene", "Olivia", "Phiona", "Eunice", "Susan", "Victoria", "Naomi",
    "Priscilla", "Shamim", "Aisha", "Fatuma", "Hadijah", "Zaituni", "Mariam", "Sumaya", "Scovia",
]
UG_GIVEN_M = [
    "Moses", "Joseph", "John", "Peter", "Brian", "Ivan", "Emmanuel", "David", "Daniel", "Samuel",
    "Isaac", "Denis", "Ronald", "Robert", "Richard", "Godfrey", "Fred", "Allan", "Paul", "James",
    "Patrick", "Charles", "Henry", "Simon", "Stephen", "Andrew", "Timothy", "Benjamin",
    "Nicholas", "Jonathan", "Joshua", "Geoffrey", "Edward", "Francis", "Pius", "Innocent",
    "Julius", "Solomon", "Collins", "Kenneth", "Derrick", "Arthur", "Musa", "Hassan", "Ashiraf",
    "Sulaiman", "Twaha", "Ramathan", "Yusuf", "Hamza",
]
# Alternative spellings a clerk may write instead of the registered one.
UG_SPELLINGS = {
    "Racheal": ["Rachel", "Rachael"], "Phiona": ["Fiona"], "Dorcus": ["Dorcas"],
    "Geoffrey": ["Jeffrey", "Geofrey"], "Derrick": ["Derick", "Derek"], "Allan": ["Alan", "Allen"],
    "Brian": ["Bryan", "Brayan"], "Isaac": ["Isaak", "Isack"], "Emmanuel": ["Emanuel", "Immanuel"],
    "Denis": ["Dennis"], "Ashiraf": ["Ashraf"], "Ramathan": ["Ramadhan", "Ramadan"],
    "Sulaiman": ["Suleiman", "Sulayman"], "Hadijah": ["Hadija", "Kadija"], "Aisha": ["Aishah"],
    "Fatuma": ["Fatumah", "Fatima"], "Zaituni": ["Zaitun"], "Shamim": ["Shamimu", "Shameem"],
    "Vivian": ["Vivien"], "Juliet": ["Juliette"], "Annet": ["Annette", "Anet"],
    "Harriet": ["Hariet"], "Agnes": ["Agness"], "Esther": ["Ester"], "Joan": ["Joanne"],
    "Sharon": ["Sharron"], "Gloria": ["Gloriah"], "Brenda": ["Brendah"],
    "Catherine": ["Katherine", "Catherin"], "Stephen": ["Steven"], "Jovia": ["Jovier"],
    "Winnie": ["Winny"], "Lillian": ["Lilian"], "Irene": ["Irine"], "Eunice": ["Unice"],
    "Priscilla": ["Pricilla"], "Mariam": ["Maryam", "Miriam"], "Caroline": ["Carolyne"],
    "Nicholas": ["Nicolas"], "Collins": ["Colins"], "Kenneth": ["Keneth"], "Moses": ["Mosses"],
    "Peter": ["Petero"], "John": ["Yokana"], "Paul": ["Paulo"], "Francis": ["Fransis"],
    "Godfrey": ["Godfree"], "Ronald": ["Ronard"], "Samuel": ["Samwel", "Samweli"],
    "Scovia": ["Skovia"], "Sumaya": ["Sumayah"], "Yusuf": ["Yusufu"],
    "Nakato": ["Nakatto"], "Ssemakula": ["Semakula"], "Ssali": ["Sali"], "Ocen": ["Ochen"],
    "Acen": ["Achen"], "Ojok": ["Ojjok"], "Ocaya": ["Ochaya"], "Acaya": ["Achaya"],
    "Ochola": ["Ocola"], "Achola": ["Acola"], "Akello": ["Akelo"], "Okello": ["Okelo"],
    "Tumusiime": ["Tumusime"], "Asiimwe": ["Asimwe"],
}
UG_NICKNAMES = {
    "Joseph": ["Joe", "Jose"], "Emmanuel": ["Emma", "Manu"], "Christine": ["Tina", "Christie"],
    "Rebecca": ["Becky"], "Samuel": ["Sam", "Sammy"], "Daniel": ["Dan", "Danny"],
    "Ronald": ["Ronnie"], "Robert": ["Bob", "Robbie"], "Godfrey": ["Goddy"], "Florence": ["Flo"],
    "Juliet": ["Julie"], "Annet": ["Annie"], "Proscovia": ["Prossy", "Prossie"],
    "Immaculate": ["Immy", "Maculate"], "Benjamin": ["Ben"], "Nicholas": ["Nick"],
    "Elizabeth": ["Liz", "Betty"], "Margaret": ["Maggie", "Peggy"], "Catherine": ["Cathy", "Kate"],
    "Jonathan": ["Jona"], "Timothy": ["Tim"], "Stephen": ["Steve"], "Victoria": ["Vicky"],
    "Caroline": ["Carol"], "Deborah": ["Debbie"], "Patience": ["Patie"], "Fred": ["Freddie"],
    "Sulaiman": ["Sula"], "Ramathan": ["Rama"], "Fatuma": ["Fatu"], "Kenneth": ["Ken"],
    "Geoffrey": ["Geoff"], "Derrick": ["Derry"], "Hadijah": ["Hadi"], "Abraham": ["Abe"],
    "Tumusiime": ["Tumu"], "Ahimbisibwe": ["Ahimbi"], "Ainomugisha": ["Aino"],
    "Ssemakula": ["Ssema"], "Nabukenya": ["Nabu"], "Komakech": ["Koma"],
}

GANDA_F = [
    "Nakato", "Babirye", "Nankya", "Nabukenya", "Nalubega", "Namubiru", "Nakimuli", "Namugga",
    "Nassali", "Nakayima", "Nalwanga", "Namukasa", "Nansubuga", "Namayanja", "Nakiyimba",
    "Nanyonga", "Nakawooya", "Nabbosa", "Nalule", "Nabatanzi", "Namutebi", "Nakabugo",
    "Nakiwala", "Nantongo", "Namatovu", "Nakalema", "Najjemba", "Nambooze", "Nabakooza",
    "Nalwoga",
]
GANDA_M = [
    "Mukasa", "Kato", "Wasswa", "Ssemakula", "Lubega", "Kizito", "Ssekandi", "Kasozi",
    "Nsubuga", "Lwanga", "Kyeyune", "Ssali", "Mayanja", "Kiggundu", "Ssebunya", "Mutebi",
    "Ssenyonga", "Kawooya", "Bbosa", "Lule", "Kayima", "Ssemanda", "Mugerwa", "Kibirige",
    "Ssewankambo", "Katumba", "Musoke", "Kalule", "Sserwadda", "Kaggwa",
]
# Acholi birth-circumstance names: (male form, female form).
ACHOLI = [
    ("Okello", "Akello"), ("Ocen", "Acen"), ("Opio", "Apio"), ("Odong", "Adong"),
    ("Otim", "Atim"), ("Oloya", "Aloyo"), ("Okot", "Akot"), ("Ojok", "Ajok"),
    ("Okumu", "Akumu"), ("Olanya", "Alanyo"), ("Oyet", "Ayet"), ("Okwera", "Akwero"),
    ("Owor", "Awor"), ("Obur", "Abur"), ("Ocaya", "Acaya"), ("Oryem", "Aryemo"),
    ("Opiyo", "Apiyo"), ("Oketa", "Aketa"), ("Onen", "Anena"), ("Komakech", "Lakot"),
    ("Ojara", "Ajara"), ("Olweny", "Aweko"), ("Ochola", "Achola"), ("Oboma", "Aboma"),
]
NKOLE_F = ["Kyomuhendo", "Kansiime", "Natukunda", "Ninsiima", "Kyarikunda", "Katusiime",
           "Kobusingye", "Mbabazi", "Kembabazi", "Nabasa"]
NKOLE_M = ["Byaruhanga", "Muhwezi", "Musinguzi", "Mwesigwa", "Kamukama", "Turyasingura",
           "Nuwagaba", "Niwagaba", "Rwabwogo", "Tumwesigye"]
NKOLE_ANY = ["Mugisha", "Tumusiime", "Ainomugisha", "Tumwebaze", "Ahimbisibwe", "Twesigye",
             "Asiimwe", "Atuhaire", "Ayebare", "Akankwasa", "Arinaitwe", "Ahumuza", "Atwine",
             "Ampaire", "Ahabwe", "Nuwamanya", "Beinomugisha", "Kukundakwe", "Twinomujuni"]
NKOLE_PREFIX = ["Tu", "Twi", "A", "Ai", "Aino", "Beino", "Ni", "Nu", "Ka", "Aka", "Ahi",
                "Ari", "Mwe", "Turya", "Kuku"]
NKOLE_ROOT = ["siime", "mugisha", "haire", "mwebaze", "nkunda", "ruhanga", "sigye", "kama",
              "naitwe", "hebwa", "hendo", "manya", "gaba", "singura", "busingye", "mpurira",
              "ndaho", "ine", "baho"]
TWIN_NAMES = {  # group -> sex -> (first-born, second-born)
    "ganda": {"F": ("Babirye", "Nakato"), "M": ("Wasswa", "Kato")},
    "acholi": {"F": ("Apio", "Acen"), "M": ("Opio", "Ocen")},
}
UG_GROUPS = ["ganda", "acholi", "nkole"]

# ---------------------------------------------------------------------------------------------
# Khmer name units: key -> (Khmer script, romanisations, most common first)
# ---------------------------------------------------------------------------------------------

KH_UNITS = {
    # girls
    "Srey": ("ស្រី", ["Srey", "Srei", "Sri"]),
    "Mom": ("មុំ", ["Mom", "Mum", "Morm"]),
    "Neang": ("នាង", ["Neang", "Niang", "Neyang"]),
    "Leak": ("ល័ក្ខ", ["Leak", "Leakh", "Lak"]),
    "Ny": ("នី", ["Ny", "Nie", "Ni"]),
    "Sophea": ("សុភា", ["Sophea", "Sophia", "Sopha"]),
    "Pisey": ("ពិសី", ["Pisey", "Pisei", "Pisy"]),
    "Theary": ("ធារី", ["Theary", "Thary", "Teary"]),
    "Bopha": ("បូផា", ["Bopha", "Bophar", "Bupha"]),
    "Chenda": ("ចិន្តា", ["Chenda", "Chinda", "Chanda"]),
    "Leakhena": ("លក្ខិណា", ["Leakhena", "Leakena", "Lakhena"]),
    "Kanha": ("កញ្ញា", ["Kanha", "Kagna", "Kanhnha"]),
    "Maly": ("ម៉ាលី", ["Maly", "Mali", "Malis"]),
    "Thida": ("ធីតា", ["Thida", "Thyda", "Tida"]),
    "Reaksmey": ("រស្មី", ["Reaksmey", "Raksmey", "Reaksmei", "Raksmei"]),
    "Davy": ("ដាវី", ["Davy", "Davi", "Davey"]),
    "Sina": ("ស៊ីណា", ["Sina", "Sinah", "Seina"]),
    "Tevy": ("ទេវី", ["Tevy", "Tevi", "Teavy"]),
    "Kunthea": ("គន្ធា", ["Kunthea", "Kunthear", "Kontha"]),
    "Chariya": ("ចរិយា", ["Chariya", "Chareya", "Jariya"]),
    "Meas": ("មាស", ["Meas", "Mias", "Meah"]),
    "Nich": ("និច", ["Nich", "Nith", "Nitch"]),
    "Da": ("ដា", ["Da", "Dar", "Dah"]),
    # boys
    "Dara": ("ដារ៉ា", ["Dara", "Darah", "Darra"]),
    "Vibol": ("វិបុល", ["Vibol", "Viboul", "Vibul"]),
    "Rithy": ("រិទ្ធី", ["Rithy", "Rithi", "Ritthy"]),
    "Bunthoeun": ("ប៊ុនធឿន", ["Bunthoeun", "Bunthoeurn", "Bunthorn"]),
    "Piseth": ("ពិសិដ្ឋ", ["Piseth", "Pisith", "Piset"]),
    "Vuthy": ("វុទ្ធី", ["Vuthy", "Vuthi", "Vutthy", "Wuthy"]),
    "Oudom": ("ឧត្តម", ["Oudom", "Udom", "Odom"]),
    "Sophal": ("សុផល", ["Sophal", "Sophol", "Sophall"]),
    "Makara": ("មករា", ["Makara", "Makkara", "Mackara"]),
    "Vichet": ("វិចិត្រ", ["Vichet", "Vicheth", "Vichhet"]),
    "Savoeun": ("សាវឿន", ["Savoeun", "Savorn", "Savoeurn"]),
    "Veasna": ("វាសនា", ["Veasna", "Veasana", "Vesna"]),
    "Sokhom": ("សុខុម", ["Sokhom", "Sokhum", "Sokhorm"]),
    "Pheakdey": ("ភក្ដី", ["Pheakdey", "Pheakdei", "Peakdey"]),
    "Narin": ("ណារិន", ["Narin", "Nareen", "Narinn"]),
    "Rith": ("រិទ្ធ", ["Rith", "Rit", "Reth"]),
    # either
    "Sokha": ("សុខា", ["Sokha", "Sokhar", "Sukha"]),
    "Sopheap": ("សុភាព", ["Sopheap", "Sopheab", "Sophiep"]),
    "Vanna": ("វណ្ណា", ["Vanna", "Vana", "Vannah"]),
    "Samnang": ("សំណាង", ["Samnang", "Somnang", "Samnan"]),
    "Chantha": ("ចន្ថា", ["Chantha", "Chanthea", "Chanta"]),
    "Panha": ("បញ្ញា", ["Panha", "Pagna", "Panya"]),
    "Sovann": ("សុវណ្ណ", ["Sovann", "Sovan", "Sowann"]),
    "Rattana": ("រតនា", ["Rattana", "Ratana", "Rotana"]),
    "Pov": ("ពៅ", ["Pov", "Pao", "Pau"]),
    "Pich": ("ពេជ្រ", ["Pich", "Pech", "Petch"]),
    "Mao": ("ម៉ៅ", ["Mao", "Mau", "Maow"]),
    "Roth": ("រ័ត្ន", ["Roth", "Rath", "Rot"]),
    "Sok": ("សុខ", ["Sok", "Sokh", "Sauk"]),
    "Chan": ("ចាន់", ["Chan", "Chann", "Chanh"]),
    "Bun": ("ប៊ុន", ["Bun", "Boun", "Bunn"]),
    "Touch": ("តូច", ["Touch", "Toch", "Tuch"]),
    "Thom": ("ធំ", ["Thom", "Thum", "Thorm"]),
    # family names only
    "Kim": ("គឹម", ["Kim", "Keum", "Kem"]),
    "Heng": ("ហេង", ["Heng", "Hieng", "Haeng"]),
    "Ly": ("លី", ["Ly", "Lee", "Li"]),
    "Chea": ("ជា", ["Chea", "Chear", "Chia"]),
    "Sao": ("សៅ", ["Sao", "Sau", "Sav"]),
    "Khiev": ("ខៀវ", ["Khiev", "Khieu", "Kheav"]),
    "Long": ("ឡុង", ["Long", "Loung", "Lung"]),
    "Nhim": ("ញឹម", ["Nhim", "Nhem", "Gnim"]),
    "Um": ("អ៊ុំ", ["Um", "Oum", "Ourm"]),
    "Tep": ("ទេព", ["Tep", "Teb", "Tip"]),
    "Suon": ("សួន", ["Suon", "Soun", "Suan"]),
    "Keo": ("កែវ", ["Keo", "Kaev", "Keav"]),
    "Yun": ("យ៉ុន", ["Yun", "Yon", "Youn"]),
    "Chhim": ("ឈឹម", ["Chhim", "Chim", "Chhem"]),
    "Phal": ("ផល", ["Phal", "Phol", "Phall"]),
    "Nuon": ("នួន", ["Nuon", "Noun", "Nuan"]),
    "Nguon": ("ងួន", ["Nguon", "Ngoun", "Nguan"]),
    "Im": ("អ៊ឹម", ["Im", "Eam", "Em"]),
    "Sun": ("ស៊ុន", ["Sun", "Soun", "Sunn"]),
    "Thach": ("ថាច់", ["Thach", "Thac", "Tach"]),
    "Yim": ("យឹម", ["Yim", "Yem", "Yeum"]),
    "Hun": ("ហ៊ុន", ["Hun", "Hoon", "Hunn"]),
    "Van": ("វ៉ាន់", ["Van", "Vann", "Vorn"]),
    "Sim": ("ស៊ឹម", ["Sim", "Sem", "Seum"]),
    "Chhay": ("ឆាយ", ["Chhay", "Chay", "Chhai"]),
    "Hok": ("ហុក", ["Hok", "Houk", "Hork"]),
}
KH_FAMILY = zipf(["Sok", "Chan", "Kim", "Heng", "Ly", "Chea", "Keo", "Mao", "Sao", "Pich",
                  "Um", "Long", "Tep", "Khiev", "Bun", "Hun", "Chhay", "Sun", "Nhim", "Suon",
                  "Yun", "Chhim", "Phal", "Nuon", "Im", "Van", "Sim", "Meas", "Thach", "Yim",
                  "Nguon", "Hok"], s=0.9)
KH_GIVEN_F = zipf(["Sophea", "Sokha", "Pisey", "Srey", "Theary", "Bopha", "Chenda", "Leakhena",
                   "Kanha", "Maly", "Thida", "Reaksmey", "Davy", "Sina", "Sopheap", "Vanna",
                   "Tevy", "Kunthea", "Chariya", "Chantha", "Panha", "Rattana", "Sovann"], s=0.9)
KH_GIVEN_M = zipf(["Dara", "Sokha", "Vibol", "Rithy", "Piseth", "Vuthy", "Samnang", "Sophal",
                   "Bunthoeun", "Oudom", "Makara", "Vichet", "Veasna", "Sopheap", "Vanna",
                   "Savoeun", "Sokhom", "Pheakdey", "Narin", "Panha", "Sovann", "Rattana",
                   "Chantha"], s=0.9)
KH_SREY_SECOND = zipf(["Mom", "Neang", "Leak", "Pov", "Ny", "Pich", "Mao", "Roth", "Meas",
                       "Nich", "Da", "Sina"], s=0.8)
KH_MALE_PREFIX = Weighted(["Sok", "Chan", "Bun"], [5, 3, 2])
KH_MALE_SECOND = zipf(["Dara", "Rith", "Roth", "Vanna", "Pich", "Mao", "Thom", "Narin",
                       "Sophal", "Rithy"], s=0.8)
KH_NICKNAMES = ["Pov", "Touch", "Thom", "Mao"]
KH_PLACEHOLDER = "មិនស្គាល់"  # "not known"
KH_TITLE = {"F": ("Neak", "អ្នកស្រី"), "M": ("Lok", "លោក")}
ZWSP = "\u200b"

# ---------------------------------------------------------------------------------------------
# Geography (invented)
# ---------------------------------------------------------------------------------------------

UG_PLACE_START = ["Ka", "Na", "Bu", "Ki", "Lu", "Mu", "Nya", "Bwe", "Ru", "Kye", "Ma", "Bi",
                  "Ngo", "Pa", "La", "Gu", "Omo", "Olo", "Ape", "Ale"]
UG_PLACE_MID = ["ba", "la", "mpa", "bi", "we", "nge", "ko", "sa", "ra", "ndo", "go", "to",
                "ru", "li", "zi", "ye", "wa", "ga", "mi", "tu", "ka", "se", "bo", "ya"]
UG_PLACE_END = ["le", "ro", "ka", "nda", "ngo", "lo", "ti", "ra", "ya", "ge", "mbe", "si",
                "wa", "ni", "ri", "zi", "nge", "ba", "nga", "kwe"]
UG_VILLAGE_SUFFIX = Weighted([" A", " B", " Central", " East", " West", " North", " Upper",
                              " Lower", " Cell", " I", " II"], [4, 3, 4, 2, 2, 2, 2, 2, 1, 1, 1])
# Khmer place words: tuples of romanisations.
KH_PLACE_HEAD = [("Kampong", "Kompong", "Kg."), ("Prey", "Prei"), ("Svay", "Svai"),
                 ("Phnum", "Phnom"), ("Tuol", "Toul"), ("Boeng", "Beng", "Boeung"),
                 ("Stueng", "Steung", "Stung"), ("Trapeang", "Tropeang", "Trapaing"),
                 ("Chamkar", "Chamka"), ("Ou", "Au"), ("Kouk", "Kok"), ("Sre", "Srae"),
                 ("Krang",), ("Russei", "Ruessei", "Reussey"), ("Ta", "Taa"), ("Preah", "Preas")]
KH_PLACE_ROOT = [("Chrey", "Chrei"), ("Thom", "Thum"), ("Ampil", "Ampel"), ("Sla",),
                 ("Kandal", "Kandaal"), ("Roka", "Rokar"), ("Pou", "Po"), ("Run", "Roun"),
                 ("Tnaot", "Tnot", "Thnot"), ("Khnar", "Knar"), ("Snuol", "Snoul"),
                 ("Chek", "Chaek"), ("Lvea", "Lveak"), ("Chong", "Choung"), ("Kaong", "Kong"),
                 ("Sambuor", "Sambour"), ("Rumduol", "Romdoul"), ("Daeum", "Doeum"),
                 ("Sangkae", "Sangke"), ("Kokir", "Kakir"), ("Popel", "Popeal"),
                 ("Andoung", "Andong"), ("Ponley",), ("Meanchey", "Mean Chey"),
                 ("Baray", "Barai"), ("Trach",), ("Svay", "Svai"), ("Ta Ek", "Taek")]
KH_PLACE_TAIL = [("Thmei", "Thmey"), ("Chas", "Chass"), ("Leu", "Loeu"), ("Kraom", "Krom"),
                 ("Khang Lech", "Kh. Lech"), ("Muoy", "Mouy"), ("Pir",)]


@dataclass(frozen=True)
class Place:
    district: object   # UG: str; KH: tuple of romanisation tuples
    subcounty: object
    village: object


class Geography:
    """Invented districts, subcounties (communes) and villages for both countries."""

    def __init__(self, rng):
        self.districts = {"UG": [], "KH": []}   # (name, [subcounty, [villages]]), group
        self.groups = {}
        used = set()
        for _ in range(34):
            name = self._unique(lambda: self._ug_name(rng), used)
            subs = []
            sub_used = set()
            for _ in range(rng.randint(5, 8)):
                sub = self._unique(lambda: self._ug_name(rng), sub_used)
                villages = [self._ug_village(rng) for _ in range(rng.randint(8, 16))]
                subs.append((sub, villages))
            self.districts["UG"].append((name, subs))
            self.groups[name] = UG_GROUPS[rng.randrange(3)]
        used = set()
        for _ in range(28):
            name = self._unique(lambda: self._kh_name(rng), used)
            subs = []
            sub_used = set()
            for _ in range(rng.randint(5, 8)):
                sub = self._unique(lambda: self._kh_name(rng), sub_used)
                villages = [self._kh_name(rng, tail=0.35) for _ in range(rng.randint(6, 12))]
                subs.append((sub, villages))
            self.districts["KH"].append((name, subs))
        self.pick_district = {c: zipf(range(len(d)), s=0.7) for c, d in self.districts.items()}

    @staticmethod
    def _unique(make, used):
        while True:
            name = make()
            if name not in used:
                used.add(name)
                return name

    @staticmethod
    def _ug_name(rng):
        mids = "".join(rng.choice(UG_PLACE_MID) for _ in range(rng.choice((0, 1, 1, 2))))
        return rng.choice(UG_PLACE_START) + mids + rng.choice(UG_PLACE_END)

    def _ug_village(self, rng):
        name = self._ug_name(rng)
        return name + UG_VILLAGE_SUFFIX.pick(rng) if chance(rng, 0.25) else name

    @staticmethod
    def _kh_name(rng, tail=0.15):
        words = [rng.choice(KH_PLACE_HEAD), rng.choice(KH_PLACE_ROOT)]
        if chance(rng, tail):
            words.append(rng.choice(KH_PLACE_TAIL))
        return tuple(words)

    def random_place(self, country, rng):
        name, subs = self.districts[country][self.pick_district[country].pick(rng)]
        sub, villages = subs[rng.randrange(len(subs))]
        return Place(name, sub, villages[rng.randrange(len(villages))])

    def group_of(self, place, rng):
        """Uganda: the ethnic group of a household living in this district."""
        return self.groups[place.district] if chance(rng, 0.8) else rng.choice(UG_GROUPS)


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------

# A "word" of a name is a str in Uganda and a tuple of Khmer unit keys in Cambodia.

@dataclass
class Person:
    given: tuple      # words
    family: object    # one word


@dataclass
class Child:
    cluster: int
    country: str
    sex: str
    dob: date
    dob_known: bool
    given: tuple           # words, in the order the child is usually called
    family: object         # word
    known_by: object       # UG: a further local name some agencies add; else None
    mother: Person
    father: Person
    homes: list
    twin_parents: bool = False   # Luganda parents of twins are Nnalongo / Ssalongo
    systems: list = field(default_factory=list)


def ug_local_name(group, sex, rng, twin_position=None):
    if twin_position is not None and group in TWIN_NAMES:
        return TWIN_NAMES[group][sex][twin_position]
    if group == "ganda":
        return (UG_GANDA_F if sex == "F" else UG_GANDA_M).pick(rng)
    if group == "acholi":
        return UG_ACHOLI.pick(rng)[0 if sex == "M" else 1]
    if chance(rng, 0.5):
        return rng.choice(NKOLE_PREFIX) + rng.choice(NKOLE_ROOT)
    return (UG_NKOLE_F if sex == "F" else UG_NKOLE_M).pick(rng)


UG_GANDA_F = zipf(GANDA_F)
UG_GANDA_M = zipf(GANDA_M)
UG_ACHOLI = zipf(ACHOLI)
UG_NKOLE_F = zipf(NKOLE_ANY[:8] + NKOLE_F + NKOLE_ANY[8:], s=0.8)
UG_NKOLE_M = zipf(NKOLE_ANY[:8] + NKOLE_M + NKOLE_ANY[8:], s=0.8)
UG_CHRISTIAN = {"F": zipf(UG_GIVEN_F, s=0.9), "M": zipf(UG_GIVEN_M, s=0.9)}


def ug_person(group, sex, rng, family=None):
    return Person((UG_CHRISTIAN[sex].pick(rng),), family or ug_local_name(group, sex, rng))


def kh_given(sex, rng):
    if sex == "F":
        if chance(rng, 0.4):
            return ("Srey", KH_SREY_SECOND.pick(rng))
        return (KH_GIVEN_F.pick(rng),)
    if chance(rng, 0.25):
        return (KH_MALE_PREFIX.pick(rng), KH_MALE_SECOND.pick(rng))
    return (KH_GIVEN_M.pick(rng),)


def kh_person(sex, rng, family=None):
    return Person((kh_given(sex, rng),), family or (KH_FAMILY.pick(rng),))


def birth_dates(rng, n_children):
    """Birth dates of a sibship: eldest 2006-2022, gaps 13-53 months, 3 % twins."""
    span = (date(2022, 12, 31) - FIRST_BIRTH).days
    current = FIRST_BIRTH + timedelta(days=rng.randrange(span))
    births = []   # (date, twin position or None)
    while len(births) < n_children and current <= LAST_BIRTH:
        if chance(rng, 0.03) and len(births) + 2 <= 6:
            births += [(current, 0), (current, 1)]
        else:
            births.append((current, None))
        current += timedelta(days=rng.randint(400, 1600))
    return births


def make_household(country, rng, geo, next_cluster, cousin_of=None):
    """One sibship. `cousin_of`: (home, father) of a household whose father is a brother."""
    if cousin_of:
        home, uncle = cousin_of
    else:
        home, uncle = geo.random_place(country, rng), None
    n_children = HOUSEHOLD_SIZE.pick(rng)
    births = birth_dates(rng, n_children)
    kids = []
    if country == "UG":
        group = geo.group_of(home, rng)
        father = ug_person(group, "M", rng, family=uncle.family if uncle else None)
        mother = ug_person(group, "F", rng)
        if chance(rng, 0.14):
            father = None
        if chance(rng, 0.04):
            mother = None
        use_father_name = father is not None and chance(rng, 0.35)
        sibling_given = set()
        for dob, twin in births:
            sex = "F" if chance(rng, 0.5) else "M"
            local = ug_local_name(group, sex, rng, twin)
            if chance(rng, 0.08):
                second_local = ug_local_name(group, sex, rng)
                while second_local == local:
                    second_local = ug_local_name(group, sex, rng)
                given = (second_local,)
            else:
                first = UG_CHRISTIAN[sex].pick(rng)
                for _ in range(5):
                    if first not in sibling_given:
                        break
                    first = UG_CHRISTIAN[sex].pick(rng)
                sibling_given.add(first)
                given = (first,)
                if chance(rng, 0.25):
                    second = UG_CHRISTIAN[sex].pick(rng)
                    if second != first:
                        given = (first, second)
            if use_father_name:
                family, known_by = father.family, local
            else:
                family, known_by = local, None
            kids.append(_child(country, sex, dob, given, family, known_by, mother, father,
                               home, rng, geo, next_cluster + len(kids),
                               twin_parents=twin is not None and group == "ganda"))
    else:
        father = kh_person("M", rng, family=uncle.family if uncle else None)
        mother = kh_person("F", rng)
        options = [father.family, (father.given[0][-1],), mother.family]
        policy = KH_FAMILY_POLICY.pick(rng)
        if chance(rng, 0.07):
            father = None
        if chance(rng, 0.03):
            mother = None
        sibling_given = set()
        for dob, twin in births:
            sex = "F" if chance(rng, 0.5) else "M"
            given = kh_given(sex, rng)
            for _ in range(5):
                if given not in sibling_given:
                    break
                given = kh_given(sex, rng)
            sibling_given.add(given)
            own_policy = policy if not chance(rng, 0.08) else rng.randrange(3)
            kids.append(_child(country, sex, dob, (given,), options[own_policy], None, mother,
                               father, home, rng, geo, next_cluster + len(kids)))
    return kids, (home, father) if father else None


def _child(country, sex, dob, given, family, known_by, mother, father, home, rng, geo,
           cluster, twin_parents=False):
    dob_known = chance(rng, 0.75 if country == "UG" else 0.88)
    homes = [home]
    if chance(rng, 0.06):
        homes.append(geo.random_place(country, rng))
    return Child(cluster, country, sex, dob, dob_known, given, family, known_by, mother,
                 father, homes, twin_parents)


# ---------------------------------------------------------------------------------------------
# Source systems
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceSystem:
    name: str
    countries: tuple
    volume: float            # relative chance of being one of a child's systems
    min_age: int
    id_prefix: str
    typo: float = 0.1        # chance of (at least) one typo per name field
    phonetic: float = 0.1    # chance per word of a phonetic respelling
    spelling: float = 0.1    # chance per word of a listed alternative spelling (UG)
    nickname: float = 0.03
    swap: float = 0.1        # given and family name swapped
    whole_name: float = 0.05  # whole name in given_name, family_name empty
    whole_family_first: float = 0.5
    comma: float = 0.0       # "SURNAME, Given" when the whole name is in one field
    case: tuple = (0.8, 0.15, 0.05)   # title, UPPER, lower
    noise: float = 0.04      # extra spaces, hyphens, apostrophes, dots, initials
    drop_middle: float = 0.2
    add_middle: float = 0.02
    known_by: float = 0.3    # UG: add the child's own local name as a middle name
    given_order: float = 0.12  # two given names in the other order
    khmer_script: float = 0.0
    join: tuple = (0.4, 0.5, 0.1)     # Khmer compound given names: together, apart, hyphen
    rom_consistency: float = 0.7      # uses its preferred romanisation of a syllable
    zwsp: float = 0.0
    dob_missing: float = 0.05
    estimate: float = 0.1    # date estimated although the child's date is known
    conventions: tuple = (("01-01", 6), ("06-30", 1), ("07-01", 3), ("random", 1))
    est_flag: float = 0.5    # an estimated date is flagged as such
    flag_style: str = "10"   # 10: 1/0, tf: true/false, 1_: 1/empty, t_: true/empty
    flag_blank: float = 0.05
    daymonth_swap: float = 0.02
    digit_typo: float = 0.02
    sex_missing: float = 0.03
    sex_style: tuple = (("FM", 1.0),)
    sex_error: float = 0.004
    district_missing: float = 0.03
    subcounty_missing: float = 0.1
    village_missing: float = 0.15
    place_typo: float = 0.05
    elsewhere: float = 0.0   # location of the event (arrest), not of the home
    mother_missing: float = 0.2
    father_missing: float = 0.3
    parent_one_part: float = 0.25
    parent_title: float = 0.1
    parent_local_first: float = 0.5   # UG parents: "Okello John" rather than "John Okello"
    parent_western: float = 0.1       # KH parents: given name first
    placeholder: float = 0.015
    unknown_parent_placeholder: float = 0.4
    baby: float = 0.0        # infants registered as "Baby"
    titles_f: tuple = ("Mama", "Maama", "Mrs")
    titles_m: tuple = ("Mr", "Mzee", "Late")


SYSTEMS = [
    SourceSystem("police-ug", ("UG",), 0.8, 8, "UPF", typo=0.28, phonetic=0.15, spelling=0.15,
                 nickname=0.05, swap=0.15, whole_name=0.12, whole_family_first=0.8,
                 case=(0.3, 0.65, 0.05), noise=0.08, drop_middle=0.5, known_by=0.2,
                 dob_missing=0.25, estimate=0.35, est_flag=0.4, flag_style="10",
                 daymonth_swap=0.01, sex_missing=0.08, sex_style=(("FM", 0.9), ("word", 0.1)),
                 subcounty_missing=0.3, village_missing=0.45, district_missing=0.05,
                 place_typo=0.1, elsewhere=0.12, mother_missing=0.7, father_missing=0.6,
                 parent_one_part=0.5, parent_title=0.1, parent_local_first=0.7,
                 placeholder=0.03, titles_f=("Mama", "Maama"), titles_m=("Mzee", "Late")),
    SourceSystem("court-ug", ("UG",), 0.35, 10, "FD", typo=0.12, phonetic=0.1, spelling=0.1,
                 nickname=0.02, swap=0.3, whole_name=0.2, whole_family_first=0.9, comma=0.5,
                 case=(0.1, 0.88, 0.02), noise=0.05, drop_middle=0.3, known_by=0.4,
                 dob_missing=0.15, estimate=0.3, conventions=(("01-01", 3), ("07-01", 1)),
                 est_flag=0.7, flag_style="tf", daymonth_swap=0.01, sex_missing=0.02,
                 subcounty_missing=0.4, village_missing=0.55, place_typo=0.04,
                 mother_missing=0.6, father_missing=0.5, parent_one_part=0.3,
                 parent_title=0.05, parent_local_first=0.8, placeholder=0.02,
                 titles_f=("Mrs",), titles_m=("Mr", "Late")),
    SourceSystem("school-ug", ("UG",), 1.0, 4, "LIN", typo=0.08, phonetic=0.08, spelling=0.08,
                 nickname=0.03, swap=0.05, whole_name=0.02, case=(0.8, 0.15, 0.05),
                 noise=0.04, drop_middle=0.15, add_middle=0.05, known_by=0.5,
                 dob_missing=0.03, estimate=0.08, conventions=(("01-01", 8), ("random", 2)),
                 est_flag=0.2, flag_style="1_", daymonth_swap=0.05, sex_missing=0.01,
                 village_missing=0.1, place_typo=0.03, mother_missing=0.2, father_missing=0.25,
                 parent_one_part=0.25, parent_title=0.25, parent_local_first=0.3,
                 placeholder=0.01, titles_f=("Mrs", "Mrs.", "Ms"), titles_m=("Mr", "Mr.")),
    SourceSystem("welfare-ug", ("UG",), 0.9, 0, "OVC", typo=0.16, phonetic=0.2, spelling=0.15,
                 nickname=0.08, swap=0.1, whole_name=0.05, case=(0.6, 0.3, 0.1), noise=0.06,
                 drop_middle=0.25, known_by=0.3, dob_missing=0.08, estimate=0.25,
                 conventions=(("07-01", 6), ("01-01", 3), ("random", 1)), est_flag=0.6,
                 flag_style="t_", sex_style=(("word", 0.6), ("FM", 0.4)), village_missing=0.15,
                 place_typo=0.07, mother_missing=0.15, father_missing=0.35,
                 parent_one_part=0.35, parent_title=0.3, parent_local_first=0.4,
                 placeholder=0.02, baby=0.05),
    SourceSystem("police-kh", ("KH",), 0.7, 8, "KHP", typo=0.2, phonetic=0.2, nickname=0.04,
                 swap=0.35, whole_name=0.15, whole_family_first=0.85, case=(0.35, 0.6, 0.05),
                 noise=0.06, khmer_script=0.1, join=(0.4, 0.5, 0.1), rom_consistency=0.6,
                 dob_missing=0.2, estimate=0.3, conventions=(("01-01", 9), ("random", 1)),
                 est_flag=0.5, flag_style="10", sex_missing=0.05, subcounty_missing=0.3,
                 village_missing=0.4, place_typo=0.08, elsewhere=0.12, mother_missing=0.65,
                 father_missing=0.6, parent_one_part=0.4, parent_title=0.1, placeholder=0.03),
    SourceSystem("school-kh", ("KH",), 1.0, 4, "", typo=0.06, phonetic=0.06, nickname=0.02,
                 swap=0.15, whole_name=0.05, whole_family_first=0.9, case=(0.7, 0.25, 0.05),
                 noise=0.03, khmer_script=0.45, join=(0.5, 0.45, 0.05), rom_consistency=0.8,
                 zwsp=0.05, dob_missing=0.02, estimate=0.05, est_flag=0.3, flag_style="1_",
                 daymonth_swap=0.06, sex_missing=0.01, village_missing=0.05, place_typo=0.03,
                 mother_missing=0.15, father_missing=0.2, parent_one_part=0.2,
                 parent_title=0.05, placeholder=0.01),
    SourceSystem("welfare-kh", ("KH",), 0.8, 0, "MSV", typo=0.12, phonetic=0.15,
                 nickname=0.06, swap=0.25, whole_name=0.08, whole_family_first=0.8,
                 case=(0.7, 0.2, 0.1), noise=0.05, khmer_script=0.3, join=(0.3, 0.65, 0.05),
                 zwsp=0.08, dob_missing=0.06, estimate=0.2,
                 conventions=(("01-01", 7), ("06-30", 2), ("random", 1)), est_flag=0.5,
                 flag_style="tf", sex_style=(("fm", 0.5), ("FM", 0.5)), village_missing=0.1,
                 place_typo=0.06, mother_missing=0.2, father_missing=0.4, parent_one_part=0.3,
                 parent_title=0.2, placeholder=0.02, baby=0.03),
    SourceSystem("ngo-intl", ("UG", "KH"), 0.3, 0, "CP", typo=0.15, phonetic=0.3,
                 spelling=0.2, nickname=0.1, swap=0.2, whole_name=0.1, whole_family_first=0.2,
                 case=(0.9, 0.05, 0.05), noise=0.08, drop_middle=0.3, add_middle=0.03,
                 known_by=0.3, join=(0.35, 0.55, 0.1), rom_consistency=0.5, dob_missing=0.05,
                 estimate=0.3, conventions=(("06-30", 4), ("07-01", 3), ("01-01", 3)),
                 est_flag=0.8, flag_style="tf", flag_blank=0.15,
                 sex_style=(("word", 0.7), ("FM", 0.2), ("none", 0.1)), village_missing=0.2,
                 place_typo=0.06, mother_missing=0.2, father_missing=0.45,
                 parent_one_part=0.3, parent_title=0.2, parent_western=0.6, placeholder=0.04,
                 baby=0.08, titles_f=("Mama", "Mrs"), titles_m=("Mr",)),
]
SYSTEM_COUNT = Weighted([1, 2, 3, 4], [53, 29, 13, 5])
YEAR_GUESS_ERROR = Weighted((0, -1, 1, -2, 2), (45, 20, 20, 7, 8))
HOUSEHOLD_SIZE = Weighted(range(1, 7), [25, 25, 20, 14, 10, 6])
KH_FAMILY_POLICY = Weighted([0, 1, 2], [78, 17, 5])


def age_on(dob, day):
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def choose_systems(child, rng):
    """1-4 distinct systems that take a child of this age, plus 2 % duplicate enrolment."""
    age = age_on(child.dob, REFERENCE_DATE)
    eligible = [s for s in SYSTEMS if child.country in s.countries and age >= s.min_age]
    wanted = min(SYSTEM_COUNT.pick(rng), len(eligible))
    chosen = []
    while len(chosen) < wanted:
        pool = [s for s in eligible if s not in chosen]
        chosen.append(Weighted(pool, [s.volume for s in pool]).pick(rng))
    if chance(rng, 0.02):
        chosen.append(rng.choice(chosen))
    return chosen


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
KEY_NEIGHBOURS = {}
for _r, _row in enumerate(_ROWS):
    for _i, _c in enumerate(_row):
        near = [_row[j] for j in (_i - 1, _i + 1) if 0 <= j < len(_row)]
        for _other in (_r - 1, _r + 1):
            if 0 <= _other < 3:
                near += [_ROWS[_other][j] for j in (_i - 1, _i) if 0 <= j < len(_ROWS[_other])]
        KEY_NEIGHBOURS[_c] = "".join(near)
OCR_CONFUSIONS = [("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("li", "h"), ("h", "li"),
                  ("vv", "w"), ("w", "vv"), ("e", "c"), ("c", "e"), ("o", "0"), ("l", "1"),
                  ("i", "1"), ("I", "l"), ("a", "o"), ("u", "v"), ("n", "ri"), ("S", "5"),
                  ("B", "8"), ("O", "0")]
UG_PHONETIC = [(re.compile(p), r) for p, r in [
    (r"ss", "s"), (r"(?<=[aeiou])s(?=[aeiou])", "ss"), (r"ph", "f"), (r"ck", "k"),
    (r"c(?=[aou])", "k"), (r"k(?=[aou])", "c"), (r"ch", "c"),
    (r"ah$", "a"), (r"(?<=[^h])a$", "ah"), (r"y$", "ie"), (r"ie$", "y"), (r"ee", "i"),
    (r"th", "t"), (r"([bdgklmnprtz])\1", r"\1"), (r"(?<=[aeiou])([lmnrt])(?=[aeiou])", r"\1\1"),
    (r"(?<=[ei])l", "r"), (r"(?<=[ei])r", "l"), (r"^y", "j"), (r"(?<=[aeiou])y(?=[aeiou])", "i")]]
KH_PHONETIC = [(re.compile(p), r) for p, r in [
    (r"ea", "ia"), (r"ey$", "ei"), (r"ei$", "ey"), (r"oeu", "eu"), (r"ou", "u"),
    (r"(?<=[^o])u", "ou"), (r"v", "w"), (r"(?<=[aeiou])h$", ""), (r"th", "t"), (r"ph", "p"),
    (r"^ch", "j"), (r"y$", "i"), (r"nn", "n"), (r"(?<=[aeiou])n$", "nn"), (r"ch$", "ck")]]
KH_VOWEL_SWAPS = {"ិ": "ី", "ី": "ិ", "ុ": "ូ", "ូ": "ុ", "៉": "៊", "៊": "៉", "េ": "ែ", "ែ": "េ"}
PLACEHOLDER_NAME = Weighted(["UNKNOWN", "N/A", "-", "not known", "Unknown", "NIL"],
                            [4, 2, 2, 2, 2, 1])
PLACEHOLDER_PARENT = Weighted(["N/A", "not known", "-", "UNKNOWN", "NIL", "?", "Unknown",
                               "deceased"], [4, 3, 3, 3, 1, 1, 2, 1])


def typo(text, rng):
    """One keyboard, edit or OCR error somewhere in the letters of `text`."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 2:
        return text
    i = rng.choice(letters)
    c = text[i]
    op = rng.random()
    if op < 0.28:
        near = KEY_NEIGHBOURS.get(c.lower())
        if not near:
            return text
        new = rng.choice(near)
        return text[:i] + (new.upper() if c.isupper() else new) + text[i + 1:]
    if op < 0.48:
        return text[:i] + text[i + 1:]
    if op < 0.60:
        new = rng.choice(KEY_NEIGHBOURS.get(c.lower()) or "aeiou")
        return text[:i] + new + text[i:]
    if op < 0.75:
        if i + 1 < len(text) and text[i + 1].isalpha():
            return text[:i] + text[i + 1] + text[i] + text[i + 2:]
        return text
    if op < 0.85:
        return text[:i] + c + text[i:]
    hits = [(a, b) for a, b in OCR_CONFUSIONS if a in text]
    if not hits:
        return text
    a, b = rng.choice(hits)
    positions = [m.start() for m in re.finditer(re.escape(a), text)]
    at = rng.choice(positions)
    return text[:at] + b + text[at + len(a):]


def khmer_typo(text, rng):
    """A slip in Khmer script: a look-alike vowel sign, a dropped or doubled sign."""
    if len(text) < 2:
        return text
    swappable = [i for i, c in enumerate(text) if c in KH_VOWEL_SWAPS]
    op = rng.random()
    if swappable and op < 0.5:
        i = rng.choice(swappable)
        return text[:i] + KH_VOWEL_SWAPS[text[i]] + text[i + 1:]
    i = rng.randrange(1, len(text))
    if op < 0.85:
        return text[:i] + text[i + 1:]
    return text[:i] + text[i] + text[i:]


def respell(word, rules, rng):
    """A phonetic respelling: one rule applied at one place where it matches."""
    low = word.lower()
    hits = [(m, rep) for pat, rep in rules for m in pat.finditer(low)]
    if not hits:
        return word
    m, rep = rng.choice(hits)
    new = low[:m.start()] + m.expand(rep) + low[m.end():]
    return new[:1].upper() + new[1:] if new else word


# ---------------------------------------------------------------------------------------------
# Writing one record
# ---------------------------------------------------------------------------------------------

_ROMANISATION_PREFERENCE = {}


def preferred_variant(system_name, key, n):
    """Each system consistently prefers one romanisation per syllable (mostly the usual one)."""
    cache_key = (system_name, key)
    index = _ROMANISATION_PREFERENCE.get(cache_key)
    if index is None:
        if stable_index(system_name + "/" + key, 3):
            index = 0
        else:
            index = stable_index(key + system_name, n)
        _ROMANISATION_PREFERENCE[cache_key] = index
    return index


VARIANT_WEIGHTS = {n: Weighted(range(n), [0.6, 0.25, 0.15, 0.1][:n]) for n in (2, 3, 4)}


class Clerk:
    """One clerk of one source system writing one record: the system's habits plus this
    record's own choices (case, script, how compound Khmer names are joined)."""

    def __init__(self, system, child, rng):
        self.s = system
        self.rng = rng
        self.child = child
        self.khmer = child.country == "KH" and chance(rng, system.khmer_script)
        self.case = cached_weighted(("title", "upper", "lower"), system.case).pick(rng)
        self.join = cached_weighted(("together", "apart", "hyphen"), system.join).pick(rng)
        self.zwsp = self.khmer and chance(rng, system.zwsp)

    # -- names -------------------------------------------------------------------------------

    def romanise(self, key):
        variants = KH_UNITS[key][1]
        if len(variants) == 1:
            return variants[0]
        if chance(self.rng, self.s.rom_consistency):
            return variants[preferred_variant(self.s.name, key, len(variants))]
        return variants[VARIANT_WEIGHTS[min(len(variants), 4)].pick(self.rng)]

    def word(self, word, phonetic_rate):
        """Render one name word (UG string or KH unit tuple), with spelling habits."""
        rng = self.rng
        if isinstance(word, str):
            spellings = UG_SPELLINGS.get(word)
            if spellings and chance(rng, self.s.spelling):
                word = rng.choice(spellings)
            elif chance(rng, phonetic_rate):
                word = respell(word, UG_PHONETIC, rng)
            return word
        if self.khmer:
            return (ZWSP if self.zwsp else "").join(KH_UNITS[u][0] for u in word)
        parts = [self.romanise(u) for u in word]
        if chance(rng, phonetic_rate):
            i = rng.randrange(len(parts))
            parts[i] = respell(parts[i], KH_PHONETIC, rng)
        if len(parts) == 1:
            return parts[0]
        if self.join == "together":
            return parts[0] + "".join(p.lower() for p in parts[1:])
        return ("-" if self.join == "hyphen" else " ").join(parts)

    def child_given_words(self):
        """The child's given-name words after nicknames, dropped or added middle names."""
        rng, s, child = self.rng, self.s, self.child
        words = list(child.given)
        if child.country == "UG":
            if child.known_by and chance(rng, s.known_by):
                words.insert(rng.randrange(len(words) + 1), child.known_by)
            if len(words) > 1 and chance(rng, s.drop_middle):
                del words[-1 if chance(rng, 0.7) else 0]
            if chance(rng, s.add_middle):
                words.append(UG_CHRISTIAN[child.sex].pick(rng))
            if len(words) > 1 and chance(rng, s.given_order):
                words.reverse()
            if chance(rng, s.nickname):
                i = rng.randrange(len(words))
                nicks = UG_NICKNAMES.get(words[i])
                if nicks:
                    words[i] = rng.choice(nicks)
        else:
            units = words[0]
            if chance(rng, s.nickname):
                if len(units) == 2 and chance(rng, 0.7):
                    units = units[1:]
                else:
                    units = (rng.choice(KH_NICKNAMES),)
            elif len(units) == 2 and chance(rng, s.drop_middle * 0.2):
                units = units[1:]
            words = [units]
        return words

    def child_family_word(self):
        child = self.child
        if child.country == "UG":
            if child.known_by and chance(self.rng, 0.1):
                return child.known_by          # own local name recorded as the surname
            if child.known_by is None and child.father and chance(self.rng, 0.05):
                return child.father.family     # father's name taken as the surname
        return child.family

    def finish(self, text, typo_rate):
        """Typos and punctuation/space noise on one rendered field."""
        rng = self.rng
        for _ in range(count_events(rng, typo_rate, cap=2)):
            text = khmer_typo(text, rng) if self.khmer else typo(text, rng)
        if not self.khmer and chance(rng, self.s.noise):
            text = self.punctuate(text)
        return text

    def punctuate(self, text):
        rng = self.rng
        op = rng.randrange(6)
        if op == 0 and " " in text:
            return text.replace(" ", "  ", 1)
        if op == 1:
            return " " + text if chance(rng, 0.5) else text + " "
        if op == 2 and " " in text:
            return text.replace(" ", "-", 1)
        if op == 3 and len(text) > 3 and text[0] in "OAN" and text[1] not in "aeiou ":
            return text[0] + "'" + text[1:]
        if op == 4:
            return text + "."
        if op == 5 and " " in text:
            first, rest = text.split(" ", 1)
            return first + " " + rest[0] + "."
        return text

    def apply_case(self, text):
        if self.case == "upper":
            return text.upper()
        if self.case == "lower":
            return text.lower()
        return text

    def names(self):
        rng, s, child = self.rng, self.s, self.child
        given_words = [self.word(w, s.phonetic) for w in self.child_given_words()]
        family = self.word(self.child_family_word(), s.phonetic)
        given = " ".join(given_words)
        roll = rng.random()
        if roll < s.whole_name:
            if chance(rng, s.whole_family_first):
                sep = ", " if chance(rng, s.comma) else " "
                given, family = family + sep + given, ""
            else:
                given, family = given + " " + family, ""
        elif roll < s.whole_name + s.swap:
            given, family = family, given
        given = self.apply_case(self.finish(given, s.typo))
        family = self.apply_case(self.finish(family, s.typo * 0.8)) if family else ""
        # Placeholders where the clerk had nothing to write.
        if (s.baby and not self.khmer and age_on(child.dob, REFERENCE_DATE) <= 1
                and chance(rng, s.baby)):
            given = "Baby" if self.case == "title" else self.apply_case("baby")
        elif chance(rng, s.placeholder * 0.4):
            if self.khmer:
                given = KH_PLACEHOLDER
            elif chance(rng, 0.5):
                family = PLACEHOLDER_NAME.pick(rng)
            else:
                given = PLACEHOLDER_NAME.pick(rng)
        return given, family

    def parent(self, person, sex, missing_rate):
        rng, s = self.rng, self.s
        if chance(rng, missing_rate):
            return ""
        if person is None:
            if not chance(rng, s.unknown_parent_placeholder):
                return ""
            return KH_PLACEHOLDER if self.khmer else self.apply_case(PLACEHOLDER_PARENT.pick(rng))
        if chance(rng, s.placeholder * 0.6):
            return KH_PLACEHOLDER if self.khmer else PLACEHOLDER_PARENT.pick(rng)
        given = self.word(person.given[0], s.phonetic * 0.7)
        family = self.word(person.family, s.phonetic * 0.7)
        title = chance(rng, s.parent_title)
        if self.child.country == "UG":
            if title or chance(rng, s.parent_one_part):
                text = given if chance(rng, 0.5) else family
            elif chance(rng, s.parent_local_first):
                text = family + " " + given
            else:
                text = given + " " + family
            if title:
                titles = s.titles_f if sex == "F" else s.titles_m
                if self.child.twin_parents and chance(rng, 0.5):
                    titles = ("Nnalongo",) if sex == "F" else ("Ssalongo",)
                text = rng.choice(titles) + " " + text
        else:
            if title or chance(rng, s.parent_one_part):
                text = given
            elif chance(rng, s.parent_western) and not self.khmer:
                text = given + " " + family
            else:
                text = family + " " + given
            if title:
                latin, khmer = KH_TITLE[sex]
                if self.khmer:
                    text = khmer + text
                elif s.name == "ngo-intl":
                    text = ("Mrs " if sex == "F" else "Mr ") + text
                else:
                    text = latin + " " + text
        return self.apply_case(self.finish(text, s.typo * 0.6))

    # -- other fields ------------------------------------------------------------------------

    def sex(self):
        rng, s = self.rng, self.s
        if chance(rng, s.sex_missing):
            return ""
        sex = self.child.sex
        if chance(rng, s.sex_error):
            sex = "M" if sex == "F" else "F"
        style = cached_weighted(*zip(*s.sex_style)).pick(rng)
        if style == "fm":
            return sex.lower()
        if style == "word":
            return "female" if sex == "F" else "male"
        if style == "none":
            return ""
        return sex

    def date_of_birth(self):
        """(date string, estimated-flag string)."""
        rng, s, child = self.rng, self.s, self.child
        if chance(rng, s.dob_missing):
            return "", ("" if chance(rng, 0.7) else self.flag(False))
        estimated = not child.dob_known or chance(rng, s.estimate)
        if estimated:
            # A guessed year, never in the future.
            year = min(child.dob.year + YEAR_GUESS_ERROR.pick(rng), LAST_BIRTH.year)
            convention = cached_weighted(*zip(*s.conventions)).pick(rng)
            if convention == "random":
                dob = date(year, 1, 1) + timedelta(days=rng.randrange(365))
            else:
                dob = date(year, int(convention[:2]), int(convention[3:]))
            text = dob.isoformat()
            flagged = chance(rng, s.est_flag)
        else:
            dob = child.dob
            if dob.day <= 12 and dob.day != dob.month and chance(rng, s.daymonth_swap):
                dob = date(dob.year, dob.day, dob.month)
            text = dob.isoformat()
            flagged = chance(rng, 0.01)
        if chance(rng, s.digit_typo):
            text = mistype_digit(text, rng)
        return text, self.flag(flagged)

    def flag(self, flagged):
        if chance(self.rng, self.s.flag_blank):
            return ""
        style = self.s.flag_style
        if style == "10":
            return "1" if flagged else "0"
        if style == "tf":
            return "true" if flagged else "false"
        if style == "1_":
            return "1" if flagged else ""
        return "true" if flagged else ""

    def place_name(self, name, missing_rate):
        rng = self.rng
        if chance(rng, missing_rate):
            return ""
        if isinstance(name, str):
            text = name
        else:
            words = []
            for variants in name:
                if len(variants) == 1 or chance(rng, self.s.rom_consistency):
                    index = preferred_variant(self.s.name, variants[0], len(variants))
                else:
                    index = rng.randrange(len(variants))
                words.append(variants[index])
            text = " ".join(words)
        for _ in range(count_events(rng, self.s.place_typo, cap=1)):
            text = typo(text, rng)
        return self.apply_case(text)

    def location(self, geo):
        rng, s, child = self.rng, self.s, self.child
        home = child.homes[0] if len(child.homes) == 1 else rng.choice(child.homes)
        if chance(rng, s.elsewhere):
            home = geo.random_place(child.country, rng)
        return (self.place_name(home.district, s.district_missing),
                self.place_name(home.subcounty, s.subcounty_missing),
                self.place_name(home.village, s.village_missing))


def mistype_digit(text, rng):
    for _ in range(4):
        i = rng.choice((0, 1, 2, 3, 5, 6, 8, 9))
        candidate = text[:i] + str(rng.randrange(10)) + text[i + 1:]
        try:
            d = date.fromisoformat(candidate)
        except ValueError:
            continue
        if 1995 <= d.year <= 2030 and candidate != text:
            return candidate
    return text


def write_record(child, system, rng, geo):
    clerk = Clerk(system, child, rng)
    given, family = clerk.names()
    dob, estimated = clerk.date_of_birth()
    district, subcounty, village = clerk.location(geo)
    return [system.name, given, family, clerk.sex(), dob, estimated, district, subcounty,
            village, clerk.parent(child.mother, "F", system.mother_missing),
            clerk.parent(child.father, "M", system.father_missing)]


def source_record_id(system, counter, rng):
    if system.name == "police-ug":
        return f"UPF/{rng.randint(15, 25)}/{counter:07d}"
    if system.name == "court-ug":
        return f"FD-{rng.randint(2015, 2025)}-{counter:06d}"
    if system.name == "school-ug":
        return f"LIN{counter:010d}"
    if system.name == "school-kh":
        return f"{counter:08d}"
    if system.name == "ngo-intl":
        return f"CP-{counter:06X}"
    return f"{system.id_prefix}-{counter:07d}"


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

def generate(n_records, seed):
    """Returns (rows, truth, children) with rows in shuffled order, ids assigned."""
    rng = random.Random(seed)
    geo = Geography(rng)
    children = []
    total = 0
    while total < n_records:
        country = "UG" if chance(rng, 0.5) else "KH"
        kids, cousin_seed = make_household(country, rng, geo, len(children))
        if cousin_seed and chance(rng, 0.12):
            cousins, _ = make_household(country, rng, geo, len(children) + len(kids),
                                        cousin_of=cousin_seed)
            kids += cousins
        for child in kids:
            child.systems = choose_systems(child, rng)
            total += len(child.systems)
        children += kids
    # Trim the overflow from the last children so that there are exactly n_records.
    excess = total - n_records
    while excess > 0:
        last = children[-1]
        cut = min(excess, len(last.systems))
        del last.systems[len(last.systems) - cut:]
        excess -= cut
        if not last.systems:
            children.pop()

    pending = [(child, system) for child in children for system in child.systems]
    rng.shuffle(pending)
    counters = {s.name: rng.randint(1000, 50000) for s in SYSTEMS}
    rows, truth = [], []
    for n, (child, system) in enumerate(pending, start=1):
        counters[system.name] += rng.randint(1, 3)
        record_id = f"r{n:06d}"
        fields = write_record(child, system, rng, geo)
        rows.append([record_id, fields[0], source_record_id(system, counters[system.name], rng)]
                    + fields[1:])
        truth.append([record_id, f"c{child.cluster:06d}"])
    return rows, truth, children


HEADER = ["record_id", "source_system", "source_record_id", "given_name", "family_name", "sex",
          "date_of_birth", "date_of_birth_estimated", "district", "subcounty", "village",
          "mother_name", "father_name"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, required=True, help="exact number of records")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--output", required=True, help="records CSV")
    ap.add_argument("--truth", required=True, help="record_id,cluster_id CSV")
    args = ap.parse_args()
    if args.records < 1:
        ap.error("--records must be at least 1")

    started = time.monotonic()
    rows, truth, children = generate(args.records, args.seed)
    with open(args.output, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    with open(args.truth, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["record_id", "cluster_id"])
        writer.writerows(truth)

    sizes = Counter(len(c.systems) for c in children)
    multi = sum(n for k, n in sizes.items() if k > 1) / len(children)
    print(f"third_children: {len(rows)} records, {len(children)} children, "
          f"{multi:.1%} with >1 record, largest cluster {max(sizes)}, "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
