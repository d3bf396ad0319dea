//! Referrals between agencies: a `referral` timeline event (or a direct `POST /v1/referrals`)
//! from the submitting agency to another, which the receiving agency accepts or declines and
//! later closes.
//!
//! ```text
//! pending ──► accepted ──► closed
//!    └──────► declined
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::ChildId;
use crate::model::Sex;
use crate::validate::{code_text, InvalidField};

/// The event type that makes a referral.
pub const REFERRAL_EVENT: &str = "referral";

/// Longest reason or note kept with a referral.
pub const MAX_TEXT_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Made, not yet answered by the receiving agency.
    Pending,
    /// The receiving agency took the child on.
    Accepted,
    /// The receiving agency will not act on it.
    Declined,
    /// The receiving agency finished its work with the child (only after `accepted`).
    Closed,
}

impl ReferralStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::Pending => "pending",
            ReferralStatus::Accepted => "accepted",
            ReferralStatus::Declined => "declined",
            ReferralStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            ReferralStatus::Pending,
            ReferralStatus::Accepted,
            ReferralStatus::Declined,
            ReferralStatus::Closed,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Whether a referral in this status may move to `next`.
    pub fn may_move_to(self, next: ReferralStatus) -> bool {
        matches!(
            (self, next),
            (
                ReferralStatus::Pending,
                ReferralStatus::Accepted | ReferralStatus::Declined
            ) | (ReferralStatus::Accepted, ReferralStatus::Closed)
        )
    }
}

/// What a referral event's `details` must hold, checked with the record's other fields.
/// `to` is the receiving agency's source system; `reason` is optional free text. (A `from` in
/// the details is ignored: the sender is always the submitting record's source system.)
pub fn check_event_details(
    index: usize,
    source_system: &str,
    details: &serde_json::Value,
) -> Result<(), InvalidField> {
    let field = format!("events[{index}].details.to");
    let to = match details.get("to") {
        Some(serde_json::Value::String(to)) => code_text(&field, to)?,
        Some(_) => {
            return Err(InvalidField::new(
                field,
                "invalid_code",
                "must be the receiving agency's source system, e.g. \"welfare-ug\"",
            ))
        }
        None => {
            return Err(InvalidField::new(
                field,
                "required",
                "a referral names the receiving agency's source system in details.to",
            ))
        }
    };
    if to == source_system {
        return Err(InvalidField::new(
            field,
            "referral_to_self",
            "an agency does not refer a child to itself",
        ));
    }
    match details.get("reason") {
        None | Some(serde_json::Value::Null) => Ok(()),
        Some(serde_json::Value::String(reason)) if reason.chars().count() <= MAX_TEXT_CHARS => {
            Ok(())
        }
        Some(_) => Err(InvalidField::new(
            format!("events[{index}].details.reason"),
            "invalid_value",
            format!("must be text of at most {MAX_TEXT_CHARS} characters"),
        )),
    }
}

/// The receiving agency and reason of a stored referral event (validated on the way in).
pub fn event_target(details: &serde_json::Value) -> Option<(String, Option<String>)> {
    let to = details.get("to")?.as_str()?.trim().to_owned();
    let reason = details
        .get("reason")
        .and_then(serde_json::Value::as_str)
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    Some((to, reason))
}

/// Optional free text (a reason, a note): trimmed, absent when empty, at most 2000 characters.
pub fn optional_text(field: &str, text: Option<String>) -> Result<Option<String>, InvalidField> {
    let text = text
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty());
    if text.as_ref().is_some_and(|text| {
        text.chars().count() > MAX_TEXT_CHARS || text.chars().any(char::is_control)
    }) {
        return Err(InvalidField::new(
            field,
            "invalid_value",
            format!(
                "must be text of at most {MAX_TEXT_CHARS} characters, without control characters"
            ),
        ));
    }
    Ok(text)
}

/// A referral made directly (`POST /v1/referrals`), checked.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReferral {
    pub child_id: ChildId,
    pub from: String,
    pub to: String,
    pub reason: Option<String>,
    pub referred_on: NaiveDate,
}

/// Which referrals to list. At least one of `to` and `from` is set by the gateway for
/// agencies (their own); officials and stewards may leave both empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferralQuery {
    pub to: Option<String>,
    pub from: Option<String>,
    pub status: Option<ReferralStatus>,
    /// Only referrals with `referral_id` greater than this (paging).
    pub after: Option<i64>,
    pub limit: i64,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: ReferralStatus,
    /// The API client or person that made the change.
    pub actor: String,
    pub note: Option<String>,
    pub at: DateTime<Utc>,
}

/// What any party to a referral sees of the child: enough to find and act on them, nothing of
/// other agencies' records or events. The receiving agency may have no record of the child.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct ReferredChild {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub sex: Option<Sex>,
    #[schema(value_type = Option<String>, format = Date)]
    pub date_of_birth: Option<NaiveDate>,
    pub district: Option<String>,
    pub subcounty: Option<String>,
    pub village: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Referral {
    pub referral_id: i64,
    /// The child as the registry knows them now (a merged ID is followed to its survivor).
    pub child_id: ChildId,
    /// The referring agency's source system.
    pub from: String,
    /// The receiving agency's source system.
    pub to: String,
    pub reason: Option<String>,
    pub status: ReferralStatus,
    #[schema(value_type = String, format = Date)]
    pub referred_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub child: ReferredChild,
    /// Every status the referral has had, oldest first (the first is `pending`).
    pub history: Vec<StatusChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReferralPage {
    pub referrals: Vec<Referral>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// What the child's timeline says about a referral event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReferralMark {
    pub referral_id: i64,
    pub status: ReferralStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_moves_are_allowed() {
        use ReferralStatus::*;
        let all = [Pending, Accepted, Declined, Closed];
        let allowed: Vec<_> = all
            .iter()
            .flat_map(|from| all.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from.may_move_to(*to))
            .collect();
        assert_eq!(
            allowed,
            vec![(Pending, Accepted), (Pending, Declined), (Accepted, Closed)]
        );
    }

    #[test]
    fn a_referral_event_names_its_receiver() {
        let missing =
            check_event_details(2, "police-ug", &serde_json::json!({"reason": "x"})).unwrap_err();
        assert_eq!(missing.field, "events[2].details.to");
        let to_self = check_event_details(0, "police-ug", &serde_json::json!({"to": "police-ug"}))
            .unwrap_err();
        assert_eq!(to_self.code, "referral_to_self");
        assert!(check_event_details(
            0,
            "police-ug",
            &serde_json::json!({"to": "welfare-ug", "from": "police-ug"})
        )
        .is_ok());
        assert_eq!(
            event_target(&serde_json::json!({"to": "welfare-ug", "reason": " shelter "})),
            Some(("welfare-ug".to_owned(), Some("shelter".to_owned())))
        );
    }
}
