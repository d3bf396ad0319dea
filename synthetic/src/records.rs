//! Turning a true child into the records agencies hold: which systems see the child, when,
//! and how each writes what it learns.

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;

use crate::agency::{kind_weight, profile, system_name, Kind, Numbering, Profile, KINDS};
use crate::config::GeneratorConfig;
use crate::corrupt::{self, apply_case, Case};
use crate::events::{age_on, timeline};
use crate::model::{Country, GeneratedRecord, Identifier, Location};
use crate::names::Name;
use crate::population::{ChildPlan, PersonName};
use crate::sample::{chance, pick, pick_copy, weighted, Rand};

/// The same day `years` later (29 February becomes 28 February).
pub(crate) fn add_years(date: NaiveDate, years: i32) -> NaiveDate {
    corrupt::shift_year(date, years)
}

/// Earliest year agencies' digital records go back to, relative to the reference date.
const HISTORY_YEARS: i32 = 16;

/// Dates on which `kind` can open a record for a child born on `dob`, if any.
fn window(
    kind: Kind,
    country: Country,
    dob: NaiveDate,
    reference: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let p = profile(kind, country);
    let start = (dob + Duration::days(p.min_age_days)).max(add_years(reference, -HISTORY_YEARS));
    let end = (add_years(dob, 18) - Duration::days(1)).min(reference);
    (start <= end).then_some((start, end))
}

fn random_date(rng: &mut Rand, (start, end): (NaiveDate, NaiveDate)) -> NaiveDate {
    start + Duration::days(rng.gen_range(0..=(end - start).num_days()))
}

/// Which systems hold records on the child and when each record was opened: 1-4 systems
/// (most children 1-2), sometimes a second registration in the same system.
pub(crate) fn plan_visits(
    rng: &mut Rand,
    child: &ChildPlan,
    reference: NaiveDate,
) -> Vec<(Kind, NaiveDate)> {
    let country = child.truth.country;
    let dob = child.truth.date_of_birth;
    let mut available: Vec<(Kind, (NaiveDate, NaiveDate))> = KINDS
        .iter()
        .filter_map(|&k| window(k, country, dob, reference).map(|w| (k, w)))
        .collect();
    let wanted = 1 + weighted(rng, &[0.48, 0.32, 0.14, 0.06]);
    let mut visits = Vec::with_capacity(wanted + 1);
    while visits.len() < wanted && !available.is_empty() {
        let weights: Vec<f64> = available.iter().map(|(k, _)| kind_weight(*k)).collect();
        let (kind, window) = available.swap_remove(weighted(rng, &weights));
        visits.push((kind, random_date(rng, window)));
        if chance(rng, profile(kind, country).re_registration) {
            visits.push((kind, random_date(rng, window)));
        }
    }
    visits
}

/// How one record is written: script and letter case.
#[derive(Debug, Clone, Copy)]
struct Style {
    khmer: bool,
    case: Case,
    country: Country,
}

/// Writes records for children, numbering each system's records.
pub(crate) struct Writer<'a> {
    config: &'a GeneratorConfig,
    numbering: Numbering,
    /// Error-rate multiplier.
    c: f64,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(config: &'a GeneratorConfig) -> Self {
        Writer {
            config,
            numbering: Numbering::default(),
            c: config.corruption.max(0.0),
        }
    }

    fn err(&self, rng: &mut Rand, rate: f64) -> bool {
        chance(rng, rate * self.c)
    }

    /// One record of `child` in system `kind`, opened on `opened`. `record_id` is left empty.
    pub(crate) fn record(
        &mut self,
        rng: &mut Rand,
        child: &ChildPlan,
        kind: Kind,
        opened: NaiveDate,
    ) -> GeneratedRecord {
        let truth = &child.truth;
        let country = truth.country;
        let p = profile(kind, country);
        let reference = self.config.reference_date;
        let style = Style {
            khmer: country == Country::Cambodia && chance(rng, p.khmer_script),
            case: if chance(rng, p.upper_case) {
                Case::Upper
            } else if chance(rng, p.lower_case) {
                Case::Lower
            } else {
                Case::Title
            },
            country,
        };

        // Names.
        let given_source = match &child.nickname {
            Some(nick) if chance(rng, p.nickname) => nick,
            _ => &child.given,
        };
        let mut given = Some(self.name(rng, given_source, &p, style));
        let mut family_source = &child.family;
        let mut others: Vec<&Name> = child.others.iter().collect();
        if let Some(first_other) = child.others.first() {
            if chance(rng, p.other_as_family) {
                // The other name is taken for the surname (Ugandan children are often known
                // by a clan or twin name).
                family_source = first_other;
                others = vec![&child.family];
            }
        }
        let mut family = Some(self.name(rng, family_source, &p, style));
        let mut other_names = Vec::new();
        if !others.is_empty() {
            if chance(rng, p.other_in_given) {
                let other = self.name(rng, others[0], &p, style);
                if let Some(g) = given.as_mut() {
                    g.push(' ');
                    g.push_str(&other);
                }
            } else if chance(rng, p.other_names_recorded) {
                other_names = others
                    .iter()
                    .map(|n| self.name(rng, n, &p, style))
                    .collect();
            }
        }
        if self.err(rng, p.swap) {
            std::mem::swap(&mut given, &mut family);
        }
        if chance(rng, p.given_only) {
            family = None;
        } else if chance(rng, p.family_only) {
            given = None;
        }

        // Sex.
        let sex = if chance(rng, p.sex_missing) {
            None
        } else if chance(rng, p.sex_unknown) {
            Some("unknown")
        } else if chance(rng, 0.0005) {
            Some("X")
        } else if self.err(rng, p.sex_wrong) {
            Some(truth.sex.flip().code())
        } else {
            Some(truth.sex.code())
        };

        // Date of birth.
        let (date_of_birth, date_of_birth_estimated) = if chance(rng, p.dob_missing) {
            (None, false)
        } else if chance(rng, p.dob_estimated) {
            (Some(estimate_dob(rng, truth.date_of_birth, opened)), true)
        } else {
            (
                Some(self.exact_dob(rng, truth.date_of_birth, &p, reference)),
                false,
            )
        };

        // Place.
        let place: &Location = match &truth.moved_to {
            Some(moved) if chance(rng, 0.5) => moved,
            _ => &truth.home,
        };
        let district = (!chance(rng, p.district_missing)).then(|| {
            self.place(
                rng,
                &place.district,
                Level::District,
                &p,
                style,
                &place.region,
            )
        });
        let subcounty = (!chance(rng, p.subcounty_missing)).then(|| {
            self.place(
                rng,
                &place.subcounty,
                Level::Subcounty,
                &p,
                style,
                &place.region,
            )
        });
        let village = (!chance(rng, p.village_missing)).then(|| {
            self.place(
                rng,
                &place.village,
                Level::Village,
                &p,
                style,
                &place.region,
            )
        });

        // Parents.
        let mother_name = match (&child.caregiver, &child.mother) {
            (Some(caregiver), _) if chance(rng, p.caregiver_as_mother) => {
                Some(self.parent(rng, caregiver, &p, style))
            }
            (_, Some(mother)) if chance(rng, p.mother_present) => {
                Some(self.parent(rng, mother, &p, style))
            }
            _ => None,
        };
        let father_name = match &child.father {
            Some(father) if chance(rng, p.father_present) => {
                Some(self.parent(rng, father, &p, style))
            }
            _ => None,
        };

        // Identifiers and the system's own number.
        let source_record_id = self.numbering.next(rng, kind, country, opened);
        let mut identifiers = Vec::new();
        if let Some(brn) = &truth.birth_registration {
            if chance(rng, p.birth_registration) {
                identifiers.push(self.identifier(rng, "birth_registration", brn, &p));
            }
        }
        if let Some(nid) = &truth.national_id {
            let old_enough =
                country == Country::Uganda || age_on(truth.date_of_birth, opened) >= 15;
            if old_enough && chance(rng, p.national_id) {
                identifiers.push(self.identifier(rng, "national_id", nid, &p));
            }
        }
        if kind == Kind::School {
            identifiers.push(Identifier {
                kind: "student_id".to_string(),
                value: source_record_id.clone(),
            });
        }

        let last = (add_years(truth.date_of_birth, 18) - Duration::days(1)).min(reference);
        let events = timeline(
            rng,
            kind,
            country,
            truth.date_of_birth,
            opened,
            last.max(opened),
        );

        GeneratedRecord {
            record_id: String::new(),
            cluster_id: truth.cluster_id,
            source_system: system_name(kind, country).to_string(),
            source_record_id,
            given_name: given,
            family_name: family,
            other_names,
            sex: sex.map(str::to_string),
            date_of_birth,
            date_of_birth_estimated,
            district,
            subcounty,
            village,
            mother_name,
            father_name,
            identifiers,
            events,
        }
    }

    /// A name as this agency writes it: script, respelling, typos, scanner errors, case.
    fn name(&self, rng: &mut Rand, name: &Name, p: &Profile, style: Style) -> String {
        if style.khmer {
            if let Some(khmer) = &name.khmer {
                return if self.err(rng, p.typo * 0.5) {
                    corrupt::typo(rng, khmer)
                } else {
                    khmer.clone()
                };
            }
        }
        let mut text = if self.err(rng, p.phonetic) {
            let variants = name.variants();
            if !variants.is_empty() && chance(rng, 0.6) {
                (pick_copy(rng, variants)).to_string()
            } else {
                corrupt::phonetic(rng, &name.roman, style.country)
            }
        } else {
            name.roman.clone()
        };
        if self.err(rng, p.typo) {
            text = corrupt::typo(rng, &text);
            if chance(rng, 0.15) {
                text = corrupt::typo(rng, &text);
            }
        }
        if self.err(rng, p.ocr) {
            text = corrupt::ocr(rng, &text);
        }
        apply_case(text, style.case)
    }

    /// A parent's or caregiver's name: full, abbreviated or a single name, in the country's
    /// usual order.
    fn parent(&self, rng: &mut Rand, person: &PersonName, p: &Profile, style: Style) -> String {
        let given = self.name(rng, &person.given, p, style);
        let family = self.name(rng, &person.family, p, style);
        if chance(rng, p.parent_one_name) {
            return if rng.gen_bool(0.5) { given } else { family };
        }
        let family_first = match style.country {
            Country::Cambodia => style.khmer || chance(rng, 0.9),
            Country::Uganda => chance(rng, 0.5),
        };
        let given = if !style.khmer && chance(rng, p.parent_abbreviated) {
            match given.chars().next() {
                Some(initial) => format!("{initial}."),
                None => given,
            }
        } else {
            given
        };
        if family_first {
            format!("{family} {given}")
        } else {
            format!("{given} {family}")
        }
    }

    fn exact_dob(
        &self,
        rng: &mut Rand,
        dob: NaiveDate,
        p: &Profile,
        reference: NaiveDate,
    ) -> NaiveDate {
        let mut date = dob;
        if self.err(rng, p.dob_transposed) {
            date = corrupt::transpose_day_month(date).unwrap_or(date);
        }
        if self.err(rng, p.dob_year_off) {
            date = corrupt::shift_year(date, if rng.gen_bool(0.5) { 1 } else { -1 });
        }
        if self.err(rng, p.dob_day_slip) {
            date = corrupt::day_slip(rng, date);
        }
        if date > reference {
            dob
        } else {
            date
        }
    }

    fn identifier(&self, rng: &mut Rand, kind: &str, value: &str, p: &Profile) -> Identifier {
        let value = if self.err(rng, p.identifier_mistyped) {
            corrupt::mistype_identifier(rng, value)
        } else {
            value.to_string()
        };
        Identifier {
            kind: kind.to_string(),
            value,
        }
    }

    fn place(
        &self,
        rng: &mut Rand,
        name: &str,
        level: Level,
        p: &Profile,
        style: Style,
        region: &str,
    ) -> String {
        let mut text = name.to_string();
        if self.err(rng, p.place_variant) {
            text = if rng.gen_bool(0.6) {
                corrupt::phonetic(rng, &text, style.country)
            } else {
                corrupt::typo(rng, &text)
            };
        }
        if chance(rng, p.admin_suffix) {
            text = with_admin_word(rng, text, level, style.country, region);
        } else if level == Level::Village && style.country == Country::Cambodia && chance(rng, 0.3)
        {
            // "Phum Thmei" is often written just "Thmei".
            if let Some(rest) = text.strip_prefix("Phum ") {
                text = rest.to_string();
            }
        }
        apply_case(text, style.case)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    District,
    Subcounty,
    Village,
}

/// Adds the administrative word some clerks write ("Gulu District", "Khan Chamkar Mon",
/// "Bungatira S/C", "Sangkat Tonle Basak", "Kisenyi Village").
fn with_admin_word(
    rng: &mut Rand,
    text: String,
    level: Level,
    country: Country,
    region: &str,
) -> String {
    let urban = region == "Phnom Penh";
    match (country, level) {
        (Country::Uganda, Level::District) => format!("{text} District"),
        (Country::Uganda, Level::Subcounty) => {
            format!("{text} {}", pick(rng, &["Sub-county", "S/C", "Subcounty"]))
        }
        (Country::Uganda, Level::Village) => {
            format!("{text} {}", pick(rng, &["Village", "LC1", "Cell"]))
        }
        (Country::Cambodia, Level::District) => {
            format!("{} {text}", if urban { "Khan" } else { "Srok" })
        }
        (Country::Cambodia, Level::Subcounty) => {
            format!("{} {text}", if urban { "Sangkat" } else { "Khum" })
        }
        (Country::Cambodia, Level::Village) => {
            if text.starts_with("Phum ") {
                format!("{text} Village")
            } else {
                format!("Phum {text}")
            }
        }
    }
}

/// An estimated date of birth: the clerk asks or guesses the age (often a year off) and
/// writes 1 January or 30 June of the guessed birth year, or counts back from the record
/// date, or knows only year and month.
fn estimate_dob(rng: &mut Rand, dob: NaiveDate, opened: NaiveDate) -> NaiveDate {
    let true_age = age_on(dob, opened);
    let noise = [-2i64, -1, 0, 1, 2][weighted(rng, &[0.05, 0.2, 0.5, 0.2, 0.05])];
    let age = (true_age + noise).max(0);
    let birth_year = opened.year() - age as i32;
    let estimate = match weighted(rng, &[0.45, 0.20, 0.25, 0.10]) {
        0 => NaiveDate::from_ymd_opt(birth_year, 1, 1),
        1 => NaiveDate::from_ymd_opt(birth_year, 6, 30),
        2 => Some(add_years(opened, -(age as i32))),
        _ => NaiveDate::from_ymd_opt(
            dob.year(),
            dob.month(),
            if rng.gen_bool(0.5) { 1 } else { 15 },
        ),
    };
    estimate.unwrap_or(dob).min(opened)
}
