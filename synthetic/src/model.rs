//! The generated data: the truth about each child and the records agencies hold about them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Which country (or both) the generated children live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum CountryMix {
    Uganda,
    Cambodia,
    #[default]
    Both,
}

/// A single country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Country {
    Uganda,
    Cambodia,
}

impl Country {
    /// Suffix used in source system names: `ug` or `kh`.
    pub fn code(self) -> &'static str {
        match self {
            Country::Uganda => "ug",
            Country::Cambodia => "kh",
        }
    }
}

/// A child's true sex (records may say otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sex {
    Female,
    Male,
}

impl Sex {
    /// Canonical one-letter code, as in the canonical CSV.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Female => "F",
            Sex::Male => "M",
        }
    }

    /// The other sex.
    pub fn flip(self) -> Sex {
        match self {
            Sex::Female => Sex::Male,
            Sex::Male => Sex::Female,
        }
    }
}

/// A place in the three-level hierarchy of the canonical CSV.
///
/// Uganda: district → sub-county → village.
/// Cambodia: district (srok/khan) → commune (khum/sangkat) → village (phum); the
/// province is kept in `region` only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Uganda: sub-region (e.g. "Acholi"); Cambodia: province.
    pub region: String,
    pub district: String,
    pub subcounty: String,
    pub village: String,
}

/// A parent or caregiver, as the truth knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parent {
    pub given_name: String,
    pub family_name: String,
    /// Khmer-script spelling of "family given", for Cambodian parents.
    pub name_khmer: Option<String>,
}

impl Parent {
    /// Full name in the order the country usually writes it (family name first).
    pub fn full_name(&self) -> String {
        format!("{} {}", self.family_name, self.given_name)
    }
}

/// The truth about one child: what every record in its cluster describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrueChild {
    /// Ground-truth cluster: every record with this id describes this child.
    pub cluster_id: u64,
    /// Household the child lives in; siblings and twins share it.
    pub family_id: u64,
    pub country: Country,
    pub given_name: String,
    pub family_name: String,
    pub other_names: Vec<String>,
    /// Everyday short name, when the child has one.
    pub nickname: Option<String>,
    /// Khmer-script spellings (Cambodian children only).
    pub given_name_khmer: Option<String>,
    pub family_name_khmer: Option<String>,
    pub sex: Sex,
    pub date_of_birth: NaiveDate,
    /// Where the child lives (or lived first).
    pub home: Location,
    /// Where the child moved to, if it moved: later records may use this.
    pub moved_to: Option<Location>,
    pub mother: Option<Parent>,
    pub father: Option<Parent>,
    /// The mother / father has died (records may write "Late ..." or leave the name out).
    pub mother_deceased: bool,
    pub father_deceased: bool,
    /// A caregiver other than the parents (grandmother, aunt), when there is one.
    pub caregiver: Option<Parent>,
    pub birth_registration: Option<String>,
    pub national_id: Option<String>,
    /// Cluster id of the twin, if the twin is in the dataset.
    pub twin_of: Option<u64>,
    /// Cluster ids of the other (non-twin) siblings in the dataset.
    pub siblings: Vec<u64>,
    /// Cluster id of a child this one was deliberately given the same name as
    /// (same district and birth year, different family): a hard negative.
    pub namesake_of: Option<u64>,
}

/// An identifier printed on a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `birth_registration`, `student_id` or `national_id`.
    pub kind: String,
    pub value: String,
}

/// Something that happened to the child, as an agency recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEvent {
    /// e.g. `police.case_opened`, `court.hearing`, `school.enrolled`, `welfare.case_opened`, `referral`.
    pub event_type: String,
    pub date: NaiveDate,
    /// `normal`, `restricted` or `confidential`.
    pub sensitivity: String,
    /// Small structured facts (no free text, no personal data).
    pub details: serde_json::Value,
}

/// One record as an agency's system holds it, with the ground truth attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedRecord {
    /// Unique in the dataset, e.g. `r0000123`; carries no information about the cluster.
    pub record_id: String,
    /// Ground truth: records with equal `cluster_id` are the same child.
    pub cluster_id: u64,
    /// e.g. `police-ug`, `court-kh`.
    pub source_system: String,
    /// The agency's own case or record number; unique per `source_system`.
    pub source_record_id: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub other_names: Vec<String>,
    /// `F`, `M`, `X` or `unknown`; `None` = missing.
    pub sex: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub date_of_birth_estimated: bool,
    pub district: Option<String>,
    pub subcounty: Option<String>,
    pub village: Option<String>,
    pub mother_name: Option<String>,
    pub father_name: Option<String>,
    pub identifiers: Vec<Identifier>,
    pub events: Vec<TimelineEvent>,
}

impl GeneratedRecord {
    /// The JSON body an agency system would send to the registry's `POST /v1/records` for
    /// this record (the ground truth is left out).
    pub fn api_body(&self) -> serde_json::Value {
        serde_json::json!({
            "source_system": self.source_system,
            "source_record_id": self.source_record_id,
            "child": {
                "given_name": self.given_name,
                "family_name": self.family_name,
                "other_names": self.other_names,
                "sex": self.sex,
                "date_of_birth": self.date_of_birth,
                "date_of_birth_estimated": self.date_of_birth_estimated,
                "district": self.district,
                "subcounty": self.subcounty,
                "village": self.village,
                "mother_name": self.mother_name,
                "father_name": self.father_name,
                "identifiers": self.identifiers.iter()
                    .map(|identifier| serde_json::json!({"type": identifier.kind, "value": identifier.value}))
                    .collect::<Vec<_>>(),
            },
            "events": self.events.iter()
                .map(|event| serde_json::json!({
                    "type": event.event_type,
                    "date": event.date,
                    "sensitivity": event.sensitivity,
                    "details": event.details,
                }))
                .collect::<Vec<_>>(),
        })
    }
}

/// Everything [`crate::generate`] produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The truth, ordered by `cluster_id`.
    pub children: Vec<TrueChild>,
    /// The records, in a shuffled order (record ids are assigned after shuffling).
    pub records: Vec<GeneratedRecord>,
}
