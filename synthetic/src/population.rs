//! The true population: households with parents, children, twins, siblings and namesakes.

use chrono::{Datelike, Duration, NaiveDate};
use rand::Rng;

use crate::config::GeneratorConfig;
use crate::geo::{self, Geography};
use crate::model::{Country, Parent, Sex, TrueChild};
use crate::names::uganda::{self, Area, TWINS};
use crate::names::{cambodia, Name};
use crate::sample::{chance, pick, weighted, Rand};

/// A person's name as the generator keeps it (with its table entry, for variants).
#[derive(Debug, Clone)]
pub(crate) struct PersonName {
    pub(crate) given: Name,
    pub(crate) family: Name,
}

impl PersonName {
    fn to_parent(&self) -> Parent {
        Parent {
            given_name: self.given.roman.clone(),
            family_name: self.family.roman.clone(),
            name_khmer: match (&self.family.khmer, &self.given.khmer) {
                (Some(f), Some(g)) => Some(format!("{f} {g}")),
                _ => None,
            },
        }
    }
}

/// A child as the record generator needs it: the truth plus the names' table entries.
#[derive(Debug, Clone)]
pub(crate) struct ChildPlan {
    pub(crate) truth: TrueChild,
    pub(crate) given: Name,
    pub(crate) family: Name,
    pub(crate) others: Vec<Name>,
    pub(crate) nickname: Option<Name>,
    pub(crate) mother: Option<PersonName>,
    pub(crate) father: Option<PersonName>,
    pub(crate) caregiver: Option<PersonName>,
    /// District index in the country's geography (for "moved district").
    pub(crate) district_index: usize,
}

/// A child remembered so a later household can get a namesake (same names, district and
/// birth year, different family).
#[derive(Debug, Clone)]
struct Template {
    cluster_id: u64,
    given: Name,
    family: Name,
    sex: Sex,
    district_index: usize,
    birth_year: i32,
}

const TEMPLATE_CAPACITY: usize = 2_000;

/// Builds households one at a time, numbering children from 1.
pub(crate) struct Population<'a> {
    config: &'a GeneratorConfig,
    next_cluster: u64,
    next_family: u64,
    templates_ug: Vec<Template>,
    templates_kh: Vec<Template>,
    earliest_birth: NaiveDate,
    latest_birth: NaiveDate,
}

impl<'a> Population<'a> {
    pub(crate) fn new(config: &'a GeneratorConfig) -> Self {
        let reference = config.reference_date;
        Population {
            config,
            next_cluster: 1,
            next_family: 1,
            templates_ug: Vec::new(),
            templates_kh: Vec::new(),
            // Children who were 0-17 at some point in the last 16 years.
            earliest_birth: reference - Duration::days(365 * 20 + 5),
            latest_birth: reference - Duration::days(45),
        }
    }

    fn random_birth(&self, rng: &mut Rand) -> NaiveDate {
        let span = (self.latest_birth - self.earliest_birth).num_days();
        self.earliest_birth + Duration::days(rng.gen_range(0..=span))
    }

    fn clamp_birth(&self, date: NaiveDate) -> NaiveDate {
        date.clamp(self.earliest_birth, self.latest_birth)
    }

    /// One household: 1-4 children in the dataset, sometimes a twin pair.
    pub(crate) fn household(&mut self, rng: &mut Rand, country: Country) -> Vec<ChildPlan> {
        let family_id = self.next_family;
        self.next_family += 1;
        let geography: &Geography = match country {
            Country::Uganda => geo::uganda(),
            Country::Cambodia => geo::cambodia(),
        };

        // A namesake household copies a previous child's names, district and birth year.
        let templates = match country {
            Country::Uganda => &self.templates_ug,
            Country::Cambodia => &self.templates_kh,
        };
        let namesake = if !templates.is_empty() && chance(rng, self.config.namesake_rate) {
            Some(pick(rng, templates).clone())
        } else {
            None
        };

        let (district_index, home) = match &namesake {
            Some(t) => (t.district_index, geography.place_in(rng, t.district_index)),
            None => geography.place(rng),
        };
        let area = match country {
            Country::Uganda => Some(geography.area_of(&home.district)),
            Country::Cambodia => None,
        };

        let mother = Some(adult_name(rng, country, area, Sex::Female));
        let father_absent = match country {
            Country::Uganda => 0.15,
            Country::Cambodia => 0.08,
        };
        let father = if chance(rng, father_absent) {
            None
        } else {
            Some(adult_name(rng, country, area, Sex::Male))
        };
        let caregiver = if chance(rng, 0.18) {
            Some(adult_name(rng, country, area, Sex::Female))
        } else {
            None
        };

        // Surnames: Cambodian children take the father's family name (sometimes his given
        // name, the older custom); Ugandan households either pass on the father's name as a
        // surname or give each child its own clan / birth name.
        let shared_family: Option<Name> = match (country, &father) {
            (Country::Cambodia, Some(f)) => Some(if chance(rng, 0.1) {
                f.given.clone()
            } else {
                f.family.clone()
            }),
            (Country::Cambodia, None) => mother.as_ref().map(|m| m.family.clone()),
            (Country::Uganda, Some(f)) if chance(rng, 0.45) => Some(f.family.clone()),
            _ => None,
        };

        let count = 1 + weighted(rng, &[0.70, 0.20, 0.07, 0.03]);
        let twins = chance(rng, self.config.twin_rate);
        let mut births: Vec<(NaiveDate, bool)> = Vec::new();
        let first = match &namesake {
            Some(t) => {
                let start =
                    NaiveDate::from_ymd_opt(t.birth_year, 1, 1).unwrap_or(self.earliest_birth);
                self.clamp_birth(start + Duration::days(rng.gen_range(0..365)))
            }
            None => self.random_birth(rng),
        };
        births.push((first, false));
        if twins {
            births.push((first, true));
        }
        let mut previous = first;
        for _ in 1..count {
            let gap = Duration::days(rng.gen_range(540..=1_900));
            let mut next = previous + gap;
            if next > self.latest_birth {
                next = first - gap;
            }
            let next = self.clamp_birth(next);
            births.push((next, false));
            previous = next;
        }

        let cluster_ids: Vec<u64> = (0..births.len() as u64)
            .map(|i| self.next_cluster + i)
            .collect();
        self.next_cluster += births.len() as u64;

        let mut children: Vec<ChildPlan> = Vec::with_capacity(births.len());
        for (index, (dob, is_second_twin)) in births.iter().enumerate() {
            let cluster_id = cluster_ids[index];
            let sex = if *is_second_twin && chance(rng, 0.6) {
                children[index - 1].truth.sex
            } else if chance(rng, 0.49) {
                Sex::Female
            } else {
                Sex::Male
            };
            let (given, family) = match (&namesake, index) {
                (Some(t), 0) => (t.given.clone(), t.family.clone()),
                _ => {
                    let family = shared_family
                        .clone()
                        .unwrap_or_else(|| child_family(rng, country, area, sex));
                    let given = if *is_second_twin {
                        twin_given(rng, country, &children[index - 1].given.roman, sex)
                    } else {
                        given_name(rng, country, area, sex)
                    };
                    (given, family)
                }
            };
            let sex = match (&namesake, index) {
                (Some(t), 0) => t.sex,
                _ => sex,
            };
            let mut others = Vec::new();
            if let Some(area) = area {
                if *is_second_twin || (twins && index == 0) {
                    if let Some(twin_name) = traditional_twin_name(rng, area, sex, *is_second_twin)
                    {
                        others.push(twin_name);
                    }
                }
                if others.is_empty() && chance(rng, 0.45) {
                    others.push(uganda::tables().other_name(rng, area, sex));
                }
            } else if chance(rng, 0.05) {
                others.push(cambodia::tables().given(rng, sex));
            }
            let nickname = match country {
                Country::Cambodia if chance(rng, 0.35) => {
                    Some(cambodia::tables().nickname(rng, sex))
                }
                _ => given
                    .nicknames()
                    .first()
                    .filter(|_| chance(rng, 0.6))
                    .map(|n| Name::generated((*n).to_string(), None)),
            };
            let moved_to = if chance(rng, 0.06) {
                let (_, place) = geography.place(rng);
                (place.district != home.district).then_some(place)
            } else {
                None
            };
            let truth = TrueChild {
                cluster_id,
                family_id,
                country,
                given_name: given.roman.clone(),
                family_name: family.roman.clone(),
                other_names: others.iter().map(|n| n.roman.clone()).collect(),
                nickname: nickname.as_ref().map(|n| n.roman.clone()),
                given_name_khmer: given.khmer.clone(),
                family_name_khmer: family.khmer.clone(),
                sex,
                date_of_birth: *dob,
                home: home.clone(),
                moved_to,
                mother: mother.as_ref().map(PersonName::to_parent),
                father: father.as_ref().map(PersonName::to_parent),
                caregiver: caregiver.as_ref().map(PersonName::to_parent),
                birth_registration: birth_registration(rng, country, cluster_id, *dob),
                national_id: national_id(
                    rng,
                    country,
                    cluster_id,
                    sex,
                    *dob,
                    self.config.reference_date,
                ),
                twin_of: None,
                siblings: Vec::new(),
                namesake_of: match (&namesake, index) {
                    (Some(t), 0) => Some(t.cluster_id),
                    _ => None,
                },
            };
            children.push(ChildPlan {
                truth,
                given,
                family,
                others,
                nickname,
                mother: mother.clone(),
                father: father.clone(),
                caregiver: caregiver.clone(),
                district_index,
            });
        }

        // Links between the household's children.
        let ids: Vec<u64> = children.iter().map(|c| c.truth.cluster_id).collect();
        for (index, child) in children.iter_mut().enumerate() {
            let twin = if twins && index <= 1 {
                Some(ids[1 - index])
            } else {
                None
            };
            child.truth.twin_of = twin;
            child.truth.siblings = ids
                .iter()
                .copied()
                .filter(|&id| id != child.truth.cluster_id && Some(id) != twin)
                .collect();
        }

        self.remember(rng, country, &children);
        children
    }

    fn remember(&mut self, rng: &mut Rand, country: Country, children: &[ChildPlan]) {
        let templates = match country {
            Country::Uganda => &mut self.templates_ug,
            Country::Cambodia => &mut self.templates_kh,
        };
        for child in children {
            let template = Template {
                cluster_id: child.truth.cluster_id,
                given: child.given.clone(),
                family: child.family.clone(),
                sex: child.truth.sex,
                district_index: child.district_index,
                birth_year: child.truth.date_of_birth.year(),
            };
            if templates.len() < TEMPLATE_CAPACITY {
                templates.push(template);
            } else {
                let slot = rng.gen_range(0..TEMPLATE_CAPACITY);
                templates[slot] = template;
            }
        }
    }
}

fn given_name(rng: &mut Rand, country: Country, area: Option<Area>, sex: Sex) -> Name {
    match country {
        Country::Uganda => uganda::tables().given(rng, area.unwrap_or(Area::Central), sex),
        Country::Cambodia => cambodia::tables().given(rng, sex),
    }
}

fn child_family(rng: &mut Rand, country: Country, area: Option<Area>, sex: Sex) -> Name {
    match country {
        Country::Uganda => uganda::tables().local(rng, area.unwrap_or(Area::Central), sex),
        Country::Cambodia => cambodia::tables().family(rng),
    }
}

fn adult_name(rng: &mut Rand, country: Country, area: Option<Area>, sex: Sex) -> PersonName {
    PersonName {
        given: given_name(rng, country, area, sex),
        family: child_family(rng, country, area, sex),
    }
}

/// A twin's given name: often the same first letter or the same first word.
fn twin_given(rng: &mut Rand, country: Country, first: &str, sex: Sex) -> Name {
    match country {
        Country::Uganda if chance(rng, 0.5) => uganda::tables().similar_given(rng, first, sex),
        Country::Cambodia if chance(rng, 0.7) => cambodia::tables().similar_given(rng, first, sex),
        _ => given_name(rng, country, None, sex),
    }
}

/// Traditional twin names (Babirye/Nakato, Waswa/Kato, Apio/Acen...) for 40% of twins in
/// the areas that use them.
fn traditional_twin_name(rng: &mut Rand, area: Area, sex: Sex, second: bool) -> Option<Name> {
    let (_, _, first_name, second_name) =
        TWINS.iter().find(|(a, s, _, _)| *a == area && *s == sex)?;
    if !chance(rng, 0.4) {
        return None;
    }
    let name = if second { second_name } else { first_name };
    Some(Name::generated((*name).to_string(), None))
}

/// A bijection on `0..modulus` (for unique-looking but collision-free numbers).
pub(crate) fn scramble(n: u64, modulus: u64) -> u64 {
    const MULTIPLIER: u128 = 7_654_321; // coprime with powers of 2, 10 and 16
    ((u128::from(n) * MULTIPLIER + 1_234_567) % u128::from(modulus)) as u64
}

fn birth_registration(
    rng: &mut Rand,
    country: Country,
    cluster_id: u64,
    dob: NaiveDate,
) -> Option<String> {
    // Uganda registers about a third of births, Cambodia about three quarters.
    let (rate, prefix) = match country {
        Country::Uganda => (0.35, "BRN"),
        Country::Cambodia => (0.72, "KHB"),
    };
    chance(rng, rate).then(|| {
        let registered = dob.year() + i32::from(chance(rng, 0.3));
        format!(
            "{prefix}-{registered}-{:07}",
            scramble(cluster_id, 10_000_000)
        )
    })
}

fn national_id(
    rng: &mut Rand,
    country: Country,
    cluster_id: u64,
    sex: Sex,
    dob: NaiveDate,
    reference: NaiveDate,
) -> Option<String> {
    match country {
        // Uganda's national ID number (NIN) registration reached many school children.
        Country::Uganda => chance(rng, 0.25).then(|| {
            let letters: String = (0..4)
                .map(|_| char::from(b'A' + rng.gen_range(0..26u8)))
                .collect();
            format!(
                "C{}{:02}{:06}{letters}",
                sex.code(),
                dob.year() % 100,
                scramble(cluster_id, 1_000_000)
            )
        }),
        // Cambodian national ID cards from age 15.
        Country::Cambodia => {
            let fifteen = crate::records::add_years(dob, 15);
            (fifteen <= reference && chance(rng, 0.6))
                .then(|| format!("{:09}", 100_000_000 + scramble(cluster_id, 900_000_000)))
        }
    }
}
