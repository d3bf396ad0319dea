//! The four agency systems per country and their recording habits.
//!
//! Rates are per record (names: per name field). Error rates are multiplied by
//! [`crate::GeneratorConfig::corruption`]; habits (what an agency asks for, whether it
//! estimates birth dates, which script it types) are not.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use crate::model::Country;
use crate::population::scramble;
use crate::sample::{pick, pick_copy, Rand};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Police,
    Court,
    School,
    Welfare,
}

pub(crate) const KINDS: [Kind; 4] = [Kind::Police, Kind::Court, Kind::School, Kind::Welfare];

/// How often each kind of agency holds a child's record (relative weights).
pub(crate) fn kind_weight(kind: Kind) -> f64 {
    match kind {
        Kind::School => 0.34,
        Kind::Welfare => 0.30,
        Kind::Police => 0.22,
        Kind::Court => 0.14,
    }
}

/// One agency's habits.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    /// Youngest age (days) at which a child gets a record here.
    pub(crate) min_age_days: i64,
    // Names (errors).
    pub(crate) swap: f64,
    pub(crate) typo: f64,
    pub(crate) phonetic: f64,
    pub(crate) ocr: f64,
    // Names (habits).
    pub(crate) given_only: f64,
    pub(crate) family_only: f64,
    pub(crate) nickname: f64,
    pub(crate) other_in_given: f64,
    pub(crate) other_names_recorded: f64,
    pub(crate) other_as_family: f64,
    pub(crate) upper_case: f64,
    pub(crate) lower_case: f64,
    pub(crate) khmer_script: f64,
    // Date of birth.
    pub(crate) dob_missing: f64,
    pub(crate) dob_estimated: f64,
    pub(crate) dob_transposed: f64,
    pub(crate) dob_year_off: f64,
    pub(crate) dob_day_slip: f64,
    // Sex.
    pub(crate) sex_missing: f64,
    pub(crate) sex_unknown: f64,
    pub(crate) sex_wrong: f64,
    // Location.
    pub(crate) district_missing: f64,
    pub(crate) subcounty_missing: f64,
    pub(crate) village_missing: f64,
    pub(crate) place_variant: f64,
    pub(crate) admin_suffix: f64,
    // Parents.
    pub(crate) mother_present: f64,
    pub(crate) father_present: f64,
    pub(crate) parent_abbreviated: f64,
    pub(crate) parent_one_name: f64,
    pub(crate) caregiver_as_mother: f64,
    // Identifiers.
    pub(crate) birth_registration: f64,
    pub(crate) national_id: f64,
    pub(crate) identifier_mistyped: f64,
    /// Share of the system's records that are a second registration of the same child.
    pub(crate) re_registration: f64,
}

pub(crate) fn profile(kind: Kind, country: Country) -> Profile {
    let kh = country == Country::Cambodia;
    match kind {
        // Police: names taken down quickly, often family/given swapped, age asked instead
        // of date of birth, parents frequently absent.
        Kind::Police => Profile {
            min_age_days: 0,
            swap: if kh { 0.20 } else { 0.15 },
            typo: 0.08,
            phonetic: 0.12,
            ocr: 0.0,
            given_only: 0.05,
            family_only: 0.02,
            nickname: 0.04,
            other_in_given: 0.03,
            other_names_recorded: 0.3,
            other_as_family: 0.05,
            upper_case: 0.55,
            lower_case: 0.03,
            khmer_script: 0.10,
            dob_missing: 0.10,
            dob_estimated: 0.45,
            dob_transposed: 0.02,
            dob_year_off: 0.04,
            dob_day_slip: 0.01,
            sex_missing: 0.05,
            sex_unknown: 0.01,
            sex_wrong: 0.01,
            district_missing: 0.05,
            subcounty_missing: 0.35,
            village_missing: 0.35,
            place_variant: 0.12,
            admin_suffix: 0.10,
            mother_present: 0.35,
            father_present: 0.25,
            parent_abbreviated: 0.15,
            parent_one_name: 0.15,
            caregiver_as_mother: 0.10,
            birth_registration: 0.05,
            national_id: 0.5,
            identifier_mistyped: 0.05,
            re_registration: 0.08,
        },
        // Court: full names from the charge sheet or application, exact dates more often,
        // father's name usually present; files are scanned (OCR slips).
        Kind::Court => Profile {
            min_age_days: 0,
            swap: 0.03,
            typo: 0.03,
            phonetic: 0.05,
            ocr: 0.03,
            given_only: 0.01,
            family_only: 0.005,
            nickname: 0.0,
            other_in_given: 0.25,
            other_names_recorded: 0.85,
            other_as_family: 0.02,
            upper_case: 0.2,
            lower_case: 0.0,
            khmer_script: 0.15,
            dob_missing: 0.03,
            dob_estimated: 0.12,
            dob_transposed: 0.02,
            dob_year_off: 0.02,
            dob_day_slip: 0.01,
            sex_missing: 0.01,
            sex_unknown: 0.005,
            sex_wrong: 0.005,
            district_missing: 0.02,
            subcounty_missing: 0.15,
            village_missing: 0.30,
            place_variant: 0.08,
            admin_suffix: 0.20,
            mother_present: 0.55,
            father_present: 0.80,
            parent_abbreviated: 0.05,
            parent_one_name: 0.05,
            caregiver_as_mother: 0.05,
            birth_registration: 0.30,
            national_id: 0.7,
            identifier_mistyped: 0.02,
            re_registration: 0.03,
        },
        // School: nicknames and short forms, exact date of birth from enrolment forms,
        // mother's name as contact, student ID.
        Kind::School => Profile {
            min_age_days: 3 * 365,
            swap: if kh { 0.08 } else { 0.04 },
            typo: 0.05,
            phonetic: 0.08,
            ocr: 0.0,
            given_only: 0.01,
            family_only: 0.005,
            nickname: 0.20,
            other_in_given: 0.10,
            other_names_recorded: 0.5,
            other_as_family: 0.03,
            upper_case: 0.35,
            lower_case: 0.05,
            khmer_script: 0.30,
            dob_missing: 0.01,
            dob_estimated: 0.05,
            dob_transposed: 0.04,
            dob_year_off: 0.03,
            dob_day_slip: 0.02,
            sex_missing: 0.01,
            sex_unknown: 0.0,
            sex_wrong: 0.005,
            district_missing: 0.03,
            subcounty_missing: 0.15,
            village_missing: 0.20,
            place_variant: 0.12,
            admin_suffix: 0.05,
            mother_present: 0.85,
            father_present: 0.45,
            parent_abbreviated: 0.10,
            parent_one_name: 0.10,
            caregiver_as_mother: 0.08,
            birth_registration: 0.25,
            national_id: 0.3,
            identifier_mistyped: 0.03,
            re_registration: 0.06,
        },
        // Welfare case management (Primero in Uganda, OSCaR in Cambodia): estimated dates,
        // village always asked, caregiver recorded, birth registration checked.
        Kind::Welfare => Profile {
            min_age_days: 0,
            swap: if kh { 0.12 } else { 0.08 },
            typo: 0.06,
            phonetic: 0.12,
            ocr: 0.0,
            given_only: 0.03,
            family_only: 0.01,
            nickname: 0.08,
            other_in_given: 0.05,
            other_names_recorded: 0.4,
            other_as_family: 0.04,
            upper_case: 0.10,
            lower_case: 0.05,
            khmer_script: 0.25,
            dob_missing: 0.05,
            dob_estimated: 0.35,
            dob_transposed: 0.02,
            dob_year_off: 0.04,
            dob_day_slip: 0.01,
            sex_missing: 0.02,
            sex_unknown: 0.02,
            sex_wrong: 0.005,
            district_missing: 0.01,
            subcounty_missing: 0.05,
            village_missing: 0.05,
            place_variant: 0.15,
            admin_suffix: 0.05,
            mother_present: 0.65,
            father_present: 0.40,
            parent_abbreviated: 0.10,
            parent_one_name: 0.10,
            caregiver_as_mother: 0.20,
            birth_registration: 0.40,
            national_id: 0.2,
            identifier_mistyped: 0.04,
            re_registration: 0.07,
        },
    }
}

pub(crate) fn system_name(kind: Kind, country: Country) -> &'static str {
    match (kind, country) {
        (Kind::Police, Country::Uganda) => "police-ug",
        (Kind::Court, Country::Uganda) => "court-ug",
        (Kind::School, Country::Uganda) => "school-ug",
        (Kind::Welfare, Country::Uganda) => "welfare-ug",
        (Kind::Police, Country::Cambodia) => "police-kh",
        (Kind::Court, Country::Cambodia) => "court-kh",
        (Kind::School, Country::Cambodia) => "school-kh",
        (Kind::Welfare, Country::Cambodia) => "welfare-kh",
    }
}

fn index(kind: Kind, country: Country) -> usize {
    let k = match kind {
        Kind::Police => 0,
        Kind::Court => 1,
        Kind::School => 2,
        Kind::Welfare => 3,
    };
    k + if country == Country::Cambodia { 4 } else { 0 }
}

/// Issues each system's own record numbers. Every number embeds a per-system serial (or a
/// bijection of it), so numbers are unique per system by construction.
#[derive(Debug, Default)]
pub(crate) struct Numbering {
    serials: [u64; 8],
}

const UG_POLICE_STATIONS: &[&str] = &["CPS", "KAW", "KBL", "JIN", "GUL", "MBR", "ARU", "LIR"];
const KH_PROVINCES: &[&str] = &["PP", "BB", "SR", "KC", "KD", "TK", "PV", "KP"];
const KH_NGOS: &[&str] = &["FCF", "CWD", "MCP", "HAG", "CCT", "SCS"];

impl Numbering {
    /// A new record number for `kind` in `country`, opened on `opened`.
    pub(crate) fn next(
        &mut self,
        rng: &mut Rand,
        kind: Kind,
        country: Country,
        opened: NaiveDate,
    ) -> String {
        let slot = index(kind, country);
        // Gaps: other children's records in between.
        self.serials[slot] += rng.gen_range(1..=3);
        let serial = self.serials[slot];
        let year = opened.year();
        match (kind, country) {
            // Child and Family Protection Unit reference: eight digits.
            (Kind::Police, Country::Uganda) => {
                if serial < 100_000_000 {
                    format!("CPU-{:08}", scramble(serial, 100_000_000))
                } else {
                    format!("CPU-{serial}")
                }
            }
            // High Court division, criminal or family cause number.
            (Kind::Court, Country::Uganda) => {
                let division = pick(rng, &["00", "01", "02", "05", "07"]);
                let class = if rng.gen_bool(0.6) { "FC" } else { "CR" };
                format!("HCT-{division}-{class}-{serial}/{year}")
            }
            // Enrolment year and serial.
            (Kind::School, Country::Uganda) => format!("STU-{year}-{serial:06}"),
            // Primero case id: seven hex digits.
            (Kind::Welfare, Country::Uganda) => {
                if serial < 0x1000_0000 {
                    format!("PRIM-{:07x}", scramble(serial, 0x1000_0000))
                } else {
                    format!("PRIM-{serial:x}")
                }
            }
            (Kind::Police, Country::Cambodia) => {
                let province = pick(rng, KH_PROVINCES);
                format!("POL-{province}-{serial:06}/{:02}", year % 100)
            }
            (Kind::Court, Country::Cambodia) => format!("KHC-{serial:05}/{year}"),
            (Kind::School, Country::Cambodia) => {
                let school = 1_000 + scramble(serial / 400, 9_000);
                format!("SID-{school:04}-{serial:06}")
            }
            // OSCaR case id: NGO code and serial.
            (Kind::Welfare, Country::Cambodia) => {
                let ngo = pick(rng, KH_NGOS);
                format!("OSC-{ngo}-{serial:06}")
            }
        }
    }
}

/// Ugandan police station codes used in event details.
pub(crate) fn police_station(rng: &mut Rand) -> &'static str {
    pick_copy(rng, UG_POLICE_STATIONS)
}
