//! Redaction by role and sensitivity, applied to what the store returned for a caller who may
//! see the child (the store already decided *which* children; this decides *how much*).
//!
//! - An agency sees the child exists, its own records in full, and other agencies' `normal`
//!   events; never their records, `restricted` (police, court) or `confidential` events.
//! - Officials and stewards see `normal` and `restricted` content; `confidential` content
//!   (abuse, health) only with a stated purpose (`X-Purpose`), and that read is flagged.

use registry::clients::Role;
use registry::golden;
use registry::model::{ChildView, EventData, OutboxEntry, RecordHistory, Sensitivity, Timeline};
use search::SearchResults;

use crate::auth::Caller;

/// How much of one event a caller sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    Full,
    /// The event's date and provenance, with its type and details withheld.
    Withheld,
    Hidden,
}

/// What redaction did: whether confidential content was shown (the read is flagged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redaction {
    pub confidential_shown: bool,
}

const WITHHELD_TYPE: &str = "confidential";

fn withheld_details() -> serde_json::Value {
    serde_json::json!({
        "withheld": "confidential: state why you need it in the X-Purpose header; the read is recorded"
    })
}

fn visibility(
    caller: &Caller,
    sensitivity: Sensitivity,
    source_system: &str,
    purpose: bool,
) -> Visibility {
    match caller.role {
        Role::Agency if caller.agency.as_deref() == Some(source_system) => Visibility::Full,
        Role::Agency => match sensitivity {
            Sensitivity::Normal => Visibility::Full,
            Sensitivity::Restricted | Sensitivity::Confidential => Visibility::Hidden,
        },
        Role::NationalOfficial | Role::DistrictOfficial | Role::DataSteward => match sensitivity {
            Sensitivity::Normal | Sensitivity::Restricted => Visibility::Full,
            Sensitivity::Confidential if purpose => Visibility::Full,
            Sensitivity::Confidential => Visibility::Withheld,
        },
        Role::Admin | Role::Auditor => Visibility::Hidden,
    }
}

/// Whether the caller sees this agency's records at all.
fn sees_records_of(caller: &Caller, source_system: &str) -> bool {
    match caller.role {
        Role::Agency => caller.agency.as_deref() == Some(source_system),
        role => role.reads_child_data(),
    }
}

pub fn child(caller: &Caller, mut view: ChildView) -> ChildView {
    let before = view.records.len();
    view.records
        .retain(|record| sees_records_of(caller, &record.source_system));
    if view.records.len() != before {
        view.summary = golden::summarise(&view.records);
    }
    view
}

pub fn timeline(caller: &Caller, mut timeline: Timeline, purpose: bool) -> (Timeline, Redaction) {
    let mut redaction = Redaction::default();
    timeline.events.retain_mut(|event| {
        match visibility(
            caller,
            event.sensitivity,
            &event.provenance.source_system,
            purpose,
        ) {
            Visibility::Full => {
                redaction.confidential_shown |= event.sensitivity == Sensitivity::Confidential;
                true
            }
            Visibility::Withheld => {
                WITHHELD_TYPE.clone_into(&mut event.event_type);
                event.details = withheld_details();
                event.referral = None;
                true
            }
            Visibility::Hidden => false,
        }
    });
    (timeline, redaction)
}

/// A record's history, or `None` when the caller may not see this agency's records.
pub fn record_history(
    caller: &Caller,
    mut history: RecordHistory,
    purpose: bool,
) -> (Option<RecordHistory>, Redaction) {
    let mut redaction = Redaction::default();
    if !sees_records_of(caller, &history.source_system) {
        return (None, redaction);
    }
    let system = history.source_system.clone();
    for version in &mut history.versions {
        version.events = std::mem::take(&mut version.events)
            .into_iter()
            .filter_map(|mut event: EventData| {
                match visibility(caller, event.sensitivity, &system, purpose) {
                    Visibility::Full => {
                        redaction.confidential_shown |=
                            event.sensitivity == Sensitivity::Confidential;
                        Some(event)
                    }
                    Visibility::Withheld => {
                        WITHHELD_TYPE.clone_into(&mut event.event_type);
                        event.details = withheld_details();
                        Some(event)
                    }
                    Visibility::Hidden => None,
                }
            })
            .collect();
    }
    (Some(history), redaction)
}

/// Search hits name the agencies holding records: an agency sees only its own. (The search
/// crate returns hits for the caller's scope; this trims them at the gateway.)
pub fn search_results(caller: &Caller, mut results: SearchResults) -> SearchResults {
    if caller.role == Role::Agency {
        for hit in &mut results.hits {
            hit.agencies
                .retain(|agency| caller.agency.as_deref() == Some(agency.as_str()));
        }
    }
    results
}

/// A change-feed entry (the feed and webhook deliveries). Entries never carry event content
/// (type, sensitivity, details): a subscriber re-reads the child or its timeline, redacted as
/// above. An agency also does not learn which other agency's record changed, nor another
/// pair of agencies' referral, so those entries reach it with an empty payload: only the
/// kind and the child.
pub fn change(caller: &Caller, mut entry: OutboxEntry) -> OutboxEntry {
    let payload_agency = |field: &str| entry.payload.get(field).and_then(|value| value.as_str());
    let shown = match caller.role {
        Role::NationalOfficial | Role::DistrictOfficial | Role::DataSteward => true,
        Role::Agency => {
            let own = caller.agency.as_deref();
            if entry
                .kind
                .starts_with(registry::webhooks::AGENCY_ADDRESSED_PREFIX)
            {
                own.is_some() && (payload_agency("from") == own || payload_agency("to") == own)
            } else if entry.kind.starts_with("child.") {
                // Only child IDs: the merge or split the agency's records now follow.
                true
            } else {
                own.is_some() && payload_agency("source_system") == own
            }
        }
        Role::Admin | Role::Auditor => false,
    };
    if !shown {
        entry.payload = serde_json::json!({});
    }
    entry
}
