//! What agencies submit, and what the registry answers. Submissions are parsed into
//! [`ValidRecord`] once; after that the type is the proof that every field was checked.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::ChildId;

/// A source record as an agency system sends it to `POST /v1/records`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSubmission {
    /// The agency system that owns the record, e.g. `police-ug`.
    #[schema(example = "police-ug")]
    pub source_system: String,
    /// The record's identifier in that system, e.g. a case number.
    #[schema(example = "CPU-51786006")]
    pub source_record_id: String,
    pub child: ChildData,
    #[serde(default)]
    pub events: Vec<EventData>,
}

/// Who the child is, as this agency knows them. Empty strings count as missing.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChildData {
    #[schema(example = "Halima")]
    pub given_name: Option<String>,
    #[schema(example = "Aguti")]
    pub family_name: Option<String>,
    #[serde(default)]
    pub other_names: Vec<String>,
    pub sex: Option<Sex>,
    #[schema(value_type = Option<String>, format = Date, example = "2022-01-01")]
    pub date_of_birth: Option<NaiveDate>,
    #[serde(default)]
    pub date_of_birth_estimated: bool,
    pub district: Option<String>,
    pub subcounty: Option<String>,
    pub village: Option<String>,
    pub mother_name: Option<String>,
    pub father_name: Option<String>,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
pub enum Sex {
    F,
    M,
    X,
    #[serde(rename = "unknown")]
    Unknown,
}

/// An identifier another system gave the child (birth registration, student number, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    #[serde(rename = "type")]
    #[schema(example = "birth_registration")]
    pub kind: String,
    #[schema(example = "UG-BR-2022-123")]
    pub value: String,
}

/// Something that happened to the child, reported by the agency.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventData {
    #[serde(rename = "type")]
    #[schema(example = "police.case_opened")]
    pub event_type: String,
    #[schema(value_type = String, format = Date, example = "2024-03-01")]
    pub date: NaiveDate,
    #[serde(default)]
    pub sensitivity: Sensitivity,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// How sensitive an event is: `restricted` for police and court matters, `confidential`
/// for abuse and health.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    #[default]
    Normal,
    Restricted,
    Confidential,
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Normal => "normal",
            Sensitivity::Restricted => "restricted",
            Sensitivity::Confidential => "confidential",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "normal" => Some(Sensitivity::Normal),
            "restricted" => Some(Sensitivity::Restricted),
            "confidential" => Some(Sensitivity::Confidential),
            _ => None,
        }
    }
}

/// A submission that passed validation, with text trimmed and empty strings removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidRecord {
    pub source_system: String,
    pub source_record_id: String,
    pub child: ChildData,
    pub events: Vec<EventData>,
}

/// How a registration was matched to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchOutcome {
    /// No existing child was close: the record got a new child ID.
    New,
    /// The record joined an existing child.
    Linked,
    /// A possible match awaits a data steward; the record got its own child ID meanwhile.
    Review,
}

impl MatchOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOutcome::New => "new",
            MatchOutcome::Linked => "linked",
            MatchOutcome::Review => "review",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "new" => Some(MatchOutcome::New),
            "linked" => Some(MatchOutcome::Linked),
            "review" => Some(MatchOutcome::Review),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MatchResult {
    pub outcome: MatchOutcome,
    /// Match probability of the chosen child; `null` when no model scored the record.
    pub probability: Option<f64>,
    /// Children the record was compared with and found close.
    pub candidates: Vec<ChildId>,
}

/// The answer to a registration.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Registration {
    pub child_id: ChildId,
    pub record_version: i64,
    #[serde(rename = "match")]
    pub match_result: MatchResult,
    /// True when this call stored a new source record (HTTP 201), false for an update or a
    /// repeat of the current version (HTTP 200).
    #[serde(skip)]
    pub created: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChildStatus {
    Active,
    Merged,
}

/// One agency's current version of its record about a child.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SourceRecordView {
    pub source_system: String,
    pub source_record_id: String,
    pub version: i64,
    pub received_at: DateTime<Utc>,
    pub first_received_at: DateTime<Utc>,
    pub child: ChildData,
}

/// The registry's best single view of a child, derived from all its current source records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct GoldenRecord {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Every other name any agency used for the child.
    pub other_names: Vec<String>,
    pub sex: Option<Sex>,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<NaiveDate>,
    pub date_of_birth_estimated: bool,
    pub district: Option<String>,
    pub subcounty: Option<String>,
    pub village: Option<String>,
    pub mother_name: Option<String>,
    pub father_name: Option<String>,
    pub identifiers: Vec<Identifier>,
    pub source_systems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChildView {
    pub child_id: ChildId,
    pub status: ChildStatus,
    /// Set when this ID was merged: the surviving child.
    pub merged_into: Option<ChildId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub summary: GoldenRecord,
    pub records: Vec<SourceRecordView>,
}

/// One event on a child's timeline, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub sensitivity: Sensitivity,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub provenance: Provenance,
    /// For a `referral` event: the referral it made and its status now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral: Option<crate::referrals::ReferralMark>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Provenance {
    pub source_system: String,
    pub source_record_id: String,
    /// The record version that first reported this event.
    pub record_version: i64,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Timeline {
    pub child_id: ChildId,
    pub events: Vec<TimelineEntry>,
}

/// One entry of the change feed, in commit order, without gaps.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OutboxEntry {
    pub seq: i64,
    pub kind: String,
    pub child_id: ChildId,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// One version of a source record, as received.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecordVersionView {
    pub version: i64,
    pub received_at: DateTime<Utc>,
    /// The API client that sent this version.
    pub received_from: String,
    pub match_outcome: MatchOutcome,
    pub child: ChildData,
    pub events: Vec<EventData>,
}

/// A source record with every version ever received, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RecordHistory {
    pub source_system: String,
    pub source_record_id: String,
    pub child_id: ChildId,
    pub current_version: i64,
    pub versions: Vec<RecordVersionView>,
}

/// How many active children there are, overall and by district, agency and month registered,
/// among the children a caller may see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct RegistrationCounts {
    pub children: i64,
    /// Children with a current record in the district (a child with records in two districts
    /// counts in both).
    pub by_district: Vec<Count>,
    /// Children an agency holds records for.
    pub by_agency: Vec<Count>,
    /// Children by the month (`YYYY-MM`, UTC) their child ID was issued, oldest first.
    pub by_month: Vec<Count>,
    /// The districts beyond the largest ones listed, summed.
    pub other_districts: Rest,
    /// The agencies beyond the largest ones listed, summed.
    pub other_agencies: Rest,
    /// The months before the latest ones listed, summed.
    pub earlier_months: Rest,
    /// When these counts included every change (running totals lag the registry by about a
    /// second; while a backlog is folded, the time of the last fold).
    pub counted_at: Option<DateTime<Utc>>,
}

/// Buckets a list of counts leaves out: how many, and the children in them (a child in two
/// of them counts twice).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rest {
    pub buckets: i64,
    pub children: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Count {
    pub key: String,
    pub children: i64,
}
