//! A child as a FHIR R4 `Patient`, and a `Patient` as the registry's child fields. The mapping
//! is documented field by field in `docs/fhir.md`.

use chrono::{NaiveDate, SecondsFormat};
use registry::model::{ChildData, ChildStatus, ChildView, Identifier, RecordSubmission, Sex};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::fhir::systems::{identifier_system, record_system, IdentifierSystem, CHILD_ID_SYSTEM};

/// `Patient.birthDate` is an estimate (the registry's `date_of_birth_estimated`). No core R4
/// extension says this; the registry defines its own.
pub const BIRTH_DATE_ESTIMATED: &str = "urn:child-registry:extension:birth-date-estimated";
/// The HL7 v3 role codes of `Patient.contact.relationship`.
pub const ROLE_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
const MOTHER_CODES: &[&str] = &["MTH", "NMTH"];
const FATHER_CODES: &[&str] = &["FTH", "NFTH"];

fn gender(sex: Sex) -> &'static str {
    match sex {
        Sex::F => "female",
        Sex::M => "male",
        Sex::X => "other",
        Sex::Unknown => "unknown",
    }
}

/// The registry's sex for a FHIR `AdministrativeGender` code.
pub fn sex_of_gender(gender: &str) -> Option<Sex> {
    match gender {
        "female" => Some(Sex::F),
        "male" => Some(Sex::M),
        "other" => Some(Sex::X),
        "unknown" => Some(Sex::Unknown),
        _ => None,
    }
}

fn instant(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn contact(code: &str, display: &str, name: &str) -> Value {
    json!({
        "relationship": [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": code, "display": display}]}],
        "name": {"text": name},
    })
}

/// The child as a `Patient`. `view` is what the caller may see (already redacted): an agency's
/// Patient carries only its own records' identifiers and the summary built from them.
pub fn patient(view: &ChildView) -> Value {
    // The child ID's check symbol may be one a FHIR id does not allow (`*~$=`): the Patient
    // id leaves it out; the official identifier carries the whole child ID.
    let id = view.child_id.without_check();
    let child_identifier = json!({
        "use": "official",
        "system": CHILD_ID_SYSTEM,
        "value": view.child_id.to_string(),
    });
    if let (ChildStatus::Merged, Some(survivor)) = (view.status, view.merged_into) {
        // The merged ID's records now belong to the survivor: the Patient only points there.
        return json!({
            "resourceType": "Patient",
            "id": id,
            "meta": {"lastUpdated": instant(view.updated_at)},
            "identifier": [child_identifier],
            "active": false,
            "link": [{"other": {"reference": format!("Patient/{}", survivor.without_check())}, "type": "replaced-by"}],
        });
    }
    let summary = &view.summary;
    let mut identifiers = vec![child_identifier];
    identifiers.extend(view.records.iter().map(|record| {
        json!({
            "use": "secondary",
            "system": record_system(&record.source_system),
            "value": record.source_record_id,
        })
    }));
    identifiers.extend(summary.identifiers.iter().map(|identifier| {
        json!({"system": identifier_system(&identifier.kind), "value": identifier.value})
    }));
    let mut resource = json!({
        "resourceType": "Patient",
        "id": id,
        "meta": {"lastUpdated": instant(view.updated_at)},
        "identifier": identifiers,
        "active": true,
    });
    let mut names = Vec::new();
    if summary.given_name.is_some() || summary.family_name.is_some() {
        let mut name = json!({"use": "official"});
        if let Some(family) = &summary.family_name {
            name["family"] = json!(family);
        }
        if let Some(given) = &summary.given_name {
            name["given"] = json!([given]);
        }
        names.push(name);
    }
    names.extend(summary.other_names.iter().map(|name| json!({"text": name})));
    if !names.is_empty() {
        resource["name"] = json!(names);
    }
    if let Some(sex) = summary.sex {
        resource["gender"] = json!(gender(sex));
    }
    if let Some(date) = summary.date_of_birth {
        resource["birthDate"] = json!(date.format("%Y-%m-%d").to_string());
        resource["_birthDate"] = json!({"extension": [{
            "url": BIRTH_DATE_ESTIMATED,
            "valueBoolean": summary.date_of_birth_estimated,
        }]});
    }
    if summary.district.is_some() || summary.subcounty.is_some() || summary.village.is_some() {
        let mut address = json!({"use": "home"});
        if let Some(village) = &summary.village {
            address["line"] = json!([village]);
        }
        if let Some(subcounty) = &summary.subcounty {
            address["city"] = json!(subcounty);
        }
        if let Some(district) = &summary.district {
            address["district"] = json!(district);
        }
        resource["address"] = json!([address]);
    }
    let mut contacts = Vec::new();
    if let Some(mother) = &summary.mother_name {
        contacts.push(contact("MTH", "mother", mother));
    }
    if let Some(father) = &summary.father_name {
        contacts.push(contact("FTH", "father", father));
    }
    if !contacts.is_empty() {
        resource["contact"] = json!(contacts);
    }
    resource
}

/// The elements of a submitted `Patient` the registry stores; any other element is accepted
/// and not stored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientResource {
    resource_type: String,
    #[serde(default)]
    identifier: Vec<FhirIdentifier>,
    #[serde(default)]
    name: Vec<HumanName>,
    gender: Option<String>,
    birth_date: Option<String>,
    #[serde(rename = "_birthDate")]
    birth_date_element: Option<ElementExtensions>,
    #[serde(default)]
    address: Vec<Address>,
    #[serde(default)]
    contact: Vec<Contact>,
}

#[derive(Debug, Deserialize)]
struct FhirIdentifier {
    system: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct HumanName {
    #[serde(rename = "use")]
    name_use: Option<String>,
    text: Option<String>,
    family: Option<String>,
    #[serde(default)]
    given: Vec<String>,
}

impl HumanName {
    /// The name as one line: its text, else given names then family name.
    fn full(&self) -> Option<String> {
        let text = match &self.text {
            Some(text) if !text.trim().is_empty() => text.trim().to_owned(),
            _ => self
                .given
                .iter()
                .chain(self.family.iter())
                .map(|part| part.trim())
                .filter(|part| !part.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        };
        (!text.is_empty()).then_some(text)
    }

    fn given(&self) -> Option<String> {
        let given = self
            .given
            .iter()
            .map(|part| part.trim())
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!given.is_empty()).then_some(given)
    }
}

#[derive(Debug, Deserialize)]
struct ElementExtensions {
    #[serde(default)]
    extension: Vec<Extension>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extension {
    url: String,
    value_boolean: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Address {
    #[serde(default)]
    line: Vec<String>,
    city: Option<String>,
    district: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Contact {
    #[serde(default)]
    relationship: Vec<CodeableConcept>,
    name: Option<HumanName>,
}

#[derive(Debug, Deserialize)]
struct CodeableConcept {
    #[serde(default)]
    coding: Vec<Coding>,
}

#[derive(Debug, Deserialize)]
struct Coding {
    code: Option<String>,
}

/// Reads a resource from JSON, naming the offending element as a FHIRPath under `root`
/// (`Patient.birthDate`).
pub fn parse_resource<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let expression = if path == "." {
            root.to_owned()
        } else {
            format!("{root}.{path}")
        };
        ApiError::bad_request("invalid_value", expression, message)
    })
}

/// A FHIR `date`: `YYYY-MM-DD`, or `YYYY-MM` and `YYYY`, which the registry keeps as an
/// estimated mid-month or mid-year date.
fn birth_date(text: &str) -> Option<(NaiveDate, bool)> {
    let parts: Vec<&str> = text.split('-').collect();
    let number = |part: &str, digits: usize| -> Option<u32> {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    match parts.as_slice() {
        [year] => Some((
            NaiveDate::from_ymd_opt(number(year, 4)? as i32, 7, 1)?,
            true,
        )),
        [year, month] => Some((
            NaiveDate::from_ymd_opt(number(year, 4)? as i32, number(month, 2)?, 15)?,
            true,
        )),
        [year, month, day] => Some((
            NaiveDate::from_ymd_opt(number(year, 4)? as i32, number(month, 2)?, number(day, 2)?)?,
            false,
        )),
        _ => None,
    }
}

/// Record IDs a `Patient` carries, by source system.
pub struct PatientIdentity {
    pub record_ids: Vec<(String, String)>,
}

impl PatientResource {
    /// The registry's child fields; the record IDs are returned apart (only registration uses
    /// them). The child ID identifier is the registry's to give and is ignored.
    pub fn child_data(&self) -> Result<(ChildData, PatientIdentity), ApiError> {
        if self.resource_type != "Patient" {
            return Err(ApiError::bad_request(
                "not_a_patient",
                "Patient.resourceType",
                format!("expected a Patient, got a {}", self.resource_type),
            ));
        }
        let mut child = ChildData::default();
        let mut record_ids = Vec::new();
        for (index, identifier) in self.identifier.iter().enumerate() {
            let field = format!("Patient.identifier[{index}]");
            let system = identifier.system.as_deref().ok_or_else(|| {
                ApiError::bad_request(
                    "required",
                    format!("{field}.system"),
                    "every identifier needs a system",
                )
            })?;
            let value = identifier
                .value
                .as_deref()
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "required",
                        format!("{field}.value"),
                        "every identifier needs a value",
                    )
                })?;
            match IdentifierSystem::parse(system) {
                Some(IdentifierSystem::ChildId) => {}
                Some(IdentifierSystem::Record(source_system)) => {
                    record_ids.push((source_system, value.to_owned()));
                }
                Some(IdentifierSystem::Kind(kind)) => child.identifiers.push(Identifier {
                    kind,
                    value: value.to_owned(),
                }),
                None => {
                    return Err(ApiError::bad_request(
                        "unknown_identifier_system",
                        format!("{field}.system"),
                        format!(
                            "'{system}' is not an identifier system of the registry: use urn:child-registry:identifier:<type> or urn:child-registry:record:<source system> (see /fhir/metadata and docs/fhir.md)"
                        ),
                    ))
                }
            }
        }
        // The official name, else the first one with a family or given name.
        let main = self
            .name
            .iter()
            .position(|name| name.name_use.as_deref() == Some("official"))
            .or_else(|| {
                self.name
                    .iter()
                    .position(|name| name.family.is_some() || !name.given.is_empty())
            });
        for (index, name) in self.name.iter().enumerate() {
            if Some(index) == main {
                child.given_name = name.given();
                child.family_name = name
                    .family
                    .as_deref()
                    .map(str::trim)
                    .filter(|family| !family.is_empty())
                    .map(str::to_owned);
            } else if let Some(full) = name.full() {
                child.other_names.push(full);
            }
        }
        if let Some(gender) = &self.gender {
            child.sex = Some(sex_of_gender(gender).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_value",
                    "Patient.gender",
                    format!("gender must be male, female, other or unknown, not '{gender}'"),
                )
            })?);
        }
        if let Some(text) = &self.birth_date {
            let (date, partial) = birth_date(text.trim()).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_value",
                    "Patient.birthDate",
                    format!("birthDate must be a date (YYYY-MM-DD, YYYY-MM or YYYY), not '{text}'"),
                )
            })?;
            let estimated = self
                .birth_date_element
                .iter()
                .flat_map(|element| &element.extension)
                .any(|extension| {
                    extension.url == BIRTH_DATE_ESTIMATED && extension.value_boolean == Some(true)
                });
            child.date_of_birth = Some(date);
            child.date_of_birth_estimated = partial || estimated;
        }
        if let Some(address) = self.address.first() {
            child.district = address.district.clone();
            child.subcounty = address.city.clone();
            child.village = address.line.first().cloned();
        }
        for contact in &self.contact {
            let codes: Vec<&str> = contact
                .relationship
                .iter()
                .flat_map(|concept| &concept.coding)
                .filter_map(|coding| coding.code.as_deref())
                .collect();
            let name = contact.name.as_ref().and_then(HumanName::full);
            if codes.iter().any(|code| MOTHER_CODES.contains(code)) {
                child.mother_name = child.mother_name.take().or(name);
            } else if codes.iter().any(|code| FATHER_CODES.contains(code)) {
                child.father_name = child.father_name.take().or(name);
            }
        }
        Ok((child, PatientIdentity { record_ids }))
    }

    /// A registration of this Patient by `agency`: the record ID is the Patient's identifier
    /// in the agency's record system.
    pub fn submission(&self, agency: &str) -> Result<RecordSubmission, ApiError> {
        let (child, identity) = self.child_data()?;
        let own = identity
            .record_ids
            .iter()
            .find(|(source_system, _)| source_system == agency);
        let source_record_id = match (own, identity.record_ids.first()) {
            (Some((_, id)), _) => id.clone(),
            // Another agency's record: refused like a /v1 registration for another system.
            (None, Some((other, _))) => {
                return Err(ApiError::Forbidden(format!(
                    "this client registers records for '{agency}' only, not '{other}'"
                )))
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "required",
                    "Patient.identifier",
                    format!(
                        "the Patient needs an identifier with system {} holding the record's ID in your system",
                        record_system(agency)
                    ),
                ))
            }
        };
        Ok(RecordSubmission {
            source_system: agency.to_owned(),
            source_record_id,
            child,
            events: Vec::new(),
        })
    }
}

/// The element of a `Patient` a registry validation error names (`child.date_of_birth` →
/// `Patient.birthDate`).
pub fn patient_expression(field: &str) -> String {
    let element = field.split(['[', '.']).nth(1).unwrap_or_default();
    let expression = match (field.split(['[', '.']).next(), element) {
        (Some("child"), "given_name") => "Patient.name.given",
        (Some("child"), "family_name") => "Patient.name.family",
        (Some("child"), "other_names") => "Patient.name",
        (Some("child"), "sex") => "Patient.gender",
        (Some("child"), "date_of_birth" | "date_of_birth_estimated") => "Patient.birthDate",
        (Some("child"), "district") => "Patient.address.district",
        (Some("child"), "subcounty") => "Patient.address.city",
        (Some("child"), "village") => "Patient.address.line",
        (Some("child"), "mother_name" | "father_name") => "Patient.contact",
        (Some("child"), "identifiers") => "Patient.identifier",
        (Some("source_record_id" | "source_system"), _) => "Patient.identifier",
        _ => "Patient",
    };
    expression.to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn partial_birth_dates_are_estimates() {
        assert_eq!(
            birth_date("2016"),
            Some((NaiveDate::from_ymd_opt(2016, 7, 1).unwrap(), true))
        );
        assert_eq!(
            birth_date("2016-03"),
            Some((NaiveDate::from_ymd_opt(2016, 3, 15).unwrap(), true))
        );
        assert_eq!(
            birth_date("2016-03-09"),
            Some((NaiveDate::from_ymd_opt(2016, 3, 9).unwrap(), false))
        );
        assert_eq!(birth_date("2016-3-9"), None);
    }

    #[test]
    fn validation_fields_become_patient_elements() {
        assert_eq!(
            patient_expression("child.date_of_birth"),
            "Patient.birthDate"
        );
        assert_eq!(
            patient_expression("child.identifiers[2].value"),
            "Patient.identifier"
        );
        assert_eq!(patient_expression("source_record_id"), "Patient.identifier");
    }
}
