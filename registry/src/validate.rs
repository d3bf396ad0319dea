//! Checks a submission field by field. Every rejection names the JSON path of the field, so
//! an agency integrator can fix the exact value.

use chrono::{Days, NaiveDate};

use crate::model::{ChildData, EventData, Identifier, RecordSubmission, ValidRecord};

const MAX_NAME_CHARS: usize = 200;
const MAX_ID_CHARS: usize = 128;
const MAX_OTHER_NAMES: usize = 20;
const MAX_IDENTIFIERS: usize = 20;
const MAX_EVENTS: usize = 500;
/// Hearings and reviews are scheduled ahead; anything later than this is a typing error.
const MAX_DAYS_EVENT_AHEAD: u64 = 366;

/// A field that failed validation: `field` is its JSON path, `code` a stable machine-readable
/// reason, `message` a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidField {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        InvalidField {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

fn earliest_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Trims, folds runs of white space, and turns an empty value into `None`.
fn clean_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, InvalidField> {
    let Some(value) = value else { return Ok(None) };
    if value.chars().any(char::is_control) {
        return Err(InvalidField::new(
            field,
            "control_character",
            "must not contain control characters",
        ));
    }
    let folded = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return Ok(None);
    }
    if folded.chars().count() > max {
        return Err(InvalidField::new(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok(Some(folded))
}

fn required_text(field: &str, value: String, max: usize) -> Result<String, InvalidField> {
    clean_text(field, Some(value), max)?
        .ok_or_else(|| InvalidField::new(field, "required", "must not be empty"))
}

/// Codes such as source systems, identifier types and event types: lower case ASCII letters,
/// digits and `._-`, so they are safe in URLs and stable for reports.
pub fn code_text(field: &str, value: &str) -> Result<String, InvalidField> {
    let value = value.trim();
    let valid = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && value.as_bytes()[0].is_ascii_alphanumeric();
    if valid {
        Ok(value.to_owned())
    } else {
        Err(InvalidField::new(
            field,
            "invalid_code",
            "must be 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

impl RecordSubmission {
    /// Checks every field; `today` is the registry's current date (UTC).
    pub fn validate(self, today: NaiveDate) -> Result<ValidRecord, InvalidField> {
        let source_system = code_text("source_system", &self.source_system)?;
        let source_record_id =
            required_text("source_record_id", self.source_record_id, MAX_ID_CHARS)?;
        let child = validate_child(self.child, today)?;
        if self.events.len() > MAX_EVENTS {
            return Err(InvalidField::new(
                "events",
                "too_many",
                format!("at most {MAX_EVENTS} events per record"),
            ));
        }
        let events = self
            .events
            .into_iter()
            .enumerate()
            .map(|(index, event)| validate_event(index, event, today))
            .collect::<Result<Vec<_>, _>>()?;
        for (index, event) in events.iter().enumerate() {
            if event.event_type == crate::referrals::REFERRAL_EVENT {
                crate::referrals::check_event_details(index, &source_system, &event.details)?;
            }
        }
        Ok(ValidRecord {
            source_system,
            source_record_id,
            child,
            events,
        })
    }
}

fn validate_child(child: ChildData, today: NaiveDate) -> Result<ChildData, InvalidField> {
    let given_name = clean_text("child.given_name", child.given_name, MAX_NAME_CHARS)?;
    let family_name = clean_text("child.family_name", child.family_name, MAX_NAME_CHARS)?;
    if given_name.is_none() && family_name.is_none() {
        return Err(InvalidField::new(
            "child.given_name",
            "name_required",
            "a child needs a given name or a family name",
        ));
    }
    if child.other_names.len() > MAX_OTHER_NAMES {
        return Err(InvalidField::new(
            "child.other_names",
            "too_many",
            format!("at most {MAX_OTHER_NAMES} other names"),
        ));
    }
    let mut other_names = Vec::new();
    for (index, name) in child.other_names.into_iter().enumerate() {
        let field = format!("child.other_names[{index}]");
        if let Some(name) = clean_text(&field, Some(name), MAX_NAME_CHARS)? {
            if !other_names.contains(&name) {
                other_names.push(name);
            }
        }
    }
    if let Some(date) = child.date_of_birth {
        if date > today {
            return Err(InvalidField::new(
                "child.date_of_birth",
                "date_of_birth_in_future",
                format!("{date} is in the future"),
            ));
        }
        if date < earliest_date() {
            return Err(InvalidField::new(
                "child.date_of_birth",
                "date_out_of_range",
                format!("{date} is before 1900"),
            ));
        }
    }
    if child.identifiers.len() > MAX_IDENTIFIERS {
        return Err(InvalidField::new(
            "child.identifiers",
            "too_many",
            format!("at most {MAX_IDENTIFIERS} identifiers"),
        ));
    }
    let mut identifiers: Vec<Identifier> = Vec::new();
    for (index, identifier) in child.identifiers.into_iter().enumerate() {
        let kind = code_text(
            &format!("child.identifiers[{index}].type"),
            &identifier.kind,
        )?;
        let value = required_text(
            &format!("child.identifiers[{index}].value"),
            identifier.value,
            MAX_ID_CHARS,
        )?;
        let identifier = Identifier { kind, value };
        if !identifiers.contains(&identifier) {
            identifiers.push(identifier);
        }
    }
    Ok(ChildData {
        given_name,
        family_name,
        other_names,
        sex: child.sex,
        date_of_birth: child.date_of_birth,
        date_of_birth_estimated: child.date_of_birth_estimated && child.date_of_birth.is_some(),
        district: clean_text("child.district", child.district, MAX_NAME_CHARS)?,
        subcounty: clean_text("child.subcounty", child.subcounty, MAX_NAME_CHARS)?,
        village: clean_text("child.village", child.village, MAX_NAME_CHARS)?,
        mother_name: clean_text("child.mother_name", child.mother_name, MAX_NAME_CHARS)?,
        father_name: clean_text("child.father_name", child.father_name, MAX_NAME_CHARS)?,
        identifiers,
    })
}

fn validate_event(
    index: usize,
    event: EventData,
    today: NaiveDate,
) -> Result<EventData, InvalidField> {
    let event_type = code_text(&format!("events[{index}].type"), &event.event_type)?;
    let latest = today
        .checked_add_days(Days::new(MAX_DAYS_EVENT_AHEAD))
        .unwrap_or(today);
    if event.date < earliest_date() || event.date > latest {
        return Err(InvalidField::new(
            format!("events[{index}].date"),
            "date_out_of_range",
            format!("{} is before 1900 or more than a year ahead", event.date),
        ));
    }
    if !event.details.is_object() {
        return Err(InvalidField::new(
            format!("events[{index}].details"),
            "details_not_object",
            "must be a JSON object",
        ));
    }
    Ok(EventData {
        event_type,
        ..event
    })
}

/// The form of an identifier value used to find other records with the same identifier:
/// upper case letters and digits only, so `ug-br 2022/123` and `UG-BR-2022-123` agree.
pub fn identifier_key(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sex;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn submission() -> RecordSubmission {
        serde_json::from_value(serde_json::json!({
            "source_system": "police-ug", "source_record_id": " CPU-1 ",
            "child": {"given_name": "  Halima  ", "family_name": "Aguti", "sex": "F",
                      "date_of_birth": "2022-01-01", "date_of_birth_estimated": true,
                      "village": "", "other_names": ["", "Nana", "Nana"],
                      "identifiers": [{"type": "birth_registration", "value": "UG-BR-1"}]},
            "events": [{"type": "police.case_opened", "date": "2024-03-01", "sensitivity": "restricted"}]
        }))
        .unwrap()
    }

    #[test]
    fn cleans_text_and_defaults() {
        let valid = submission().validate(today()).unwrap();
        assert_eq!(valid.source_record_id, "CPU-1");
        assert_eq!(valid.child.given_name.as_deref(), Some("Halima"));
        assert_eq!(valid.child.village, None);
        assert_eq!(valid.child.other_names, vec!["Nana".to_owned()]);
        assert_eq!(valid.child.sex, Some(Sex::F));
        assert_eq!(valid.events[0].details, serde_json::json!({}));
    }

    #[test]
    fn future_birth_date_names_the_field() {
        let mut record = submission();
        record.child.date_of_birth = NaiveDate::from_ymd_opt(2027, 1, 1);
        let error = record.validate(today()).unwrap_err();
        assert_eq!(error.field, "child.date_of_birth");
        assert_eq!(error.code, "date_of_birth_in_future");
    }

    #[test]
    fn a_name_is_required() {
        let mut record = submission();
        record.child.given_name = Some(" ".into());
        record.child.family_name = None;
        assert_eq!(record.validate(today()).unwrap_err().code, "name_required");
    }

    #[test]
    fn codes_are_checked() {
        let mut record = submission();
        record.source_system = "Police UG".into();
        assert_eq!(record.validate(today()).unwrap_err().field, "source_system");
        let mut record = submission();
        record.events[0].details = serde_json::json!([1]);
        assert_eq!(
            record.validate(today()).unwrap_err().field,
            "events[0].details"
        );
    }

    #[test]
    fn identifier_keys_ignore_punctuation_and_case() {
        assert_eq!(
            identifier_key("ug-br 2022/123"),
            identifier_key("UG-BR-2022-123")
        );
    }
}
