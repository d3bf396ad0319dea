//! Timeline events each agency records about a child.

use chrono::{Duration, NaiveDate};
use rand::Rng;
use serde_json::json;

use crate::agency::{police_station, system_name, Kind};
use crate::model::{Country, TimelineEvent};
use crate::sample::{chance, pick_copy, weighted, Rand};

const NORMAL: &str = "normal";
const RESTRICTED: &str = "restricted";
const CONFIDENTIAL: &str = "confidential";

fn event(
    event_type: &str,
    date: NaiveDate,
    sensitivity: &str,
    details: serde_json::Value,
) -> TimelineEvent {
    TimelineEvent {
        event_type: event_type.to_string(),
        date,
        sensitivity: sensitivity.to_string(),
        details,
    }
}

/// Age in whole years on `date`.
pub(crate) fn age_on(dob: NaiveDate, date: NaiveDate) -> i64 {
    use chrono::Datelike;
    let mut age = i64::from(date.year() - dob.year());
    if (date.month(), date.day()) < (dob.month(), dob.day()) {
        age -= 1;
    }
    age.max(0)
}

fn school_grade(country: Country, age: i64) -> String {
    match country {
        Country::Uganda => match age {
            ..=3 => "Baby Class".to_string(),
            4 => "Middle Class".to_string(),
            5 => "Top Class".to_string(),
            6..=12 => format!("P{}", age - 5),
            _ => format!("S{}", (age - 12).min(6)),
        },
        Country::Cambodia => match age {
            ..=5 => "Preschool".to_string(),
            _ => format!("Grade {}", (age - 5).min(12)),
        },
    }
}

/// 1 to 6 events starting on `opened`, spread over up to a few years, never after `last`.
pub(crate) fn timeline(
    rng: &mut Rand,
    kind: Kind,
    country: Country,
    dob: NaiveDate,
    opened: NaiveDate,
    last: NaiveDate,
) -> Vec<TimelineEvent> {
    let count = 1 + weighted(rng, &[0.30, 0.25, 0.20, 0.12, 0.08, 0.05]);
    let mut dates = Vec::with_capacity(count);
    let mut date = opened;
    dates.push(date);
    for _ in 1..count {
        let gap = match kind {
            Kind::Court => rng.gen_range(14..=120),
            Kind::Police => rng.gen_range(1..=90),
            Kind::School => rng.gen_range(90..=400),
            Kind::Welfare => rng.gen_range(7..=240),
        };
        let next = date + Duration::days(gap);
        if next > last {
            break;
        }
        date = next;
        dates.push(date);
    }
    let n = dates.len();
    dates
        .into_iter()
        .enumerate()
        .map(|(i, date)| {
            let closing = n >= 3 && i == n - 1 && chance(rng, 0.5);
            let age = age_on(dob, date);
            match kind {
                Kind::Police => police_event(rng, country, i, closing, date, age),
                Kind::Court => court_event(rng, i, closing, date),
                Kind::School => school_event(rng, country, i, closing, date, age),
                Kind::Welfare => welfare_event(rng, country, i, closing, date),
            }
        })
        .collect()
}

fn referral(rng: &mut Rand, country: Country, from: Kind, date: NaiveDate) -> TimelineEvent {
    let targets: &[Kind] = match from {
        Kind::Police => &[Kind::Welfare, Kind::Court],
        Kind::Court => &[Kind::Welfare],
        Kind::School => &[Kind::Welfare, Kind::Police],
        Kind::Welfare => &[Kind::Police, Kind::School, Kind::Court],
    };
    let to = pick_copy(rng, targets);
    event(
        "referral",
        date,
        RESTRICTED,
        json!({ "from": system_name(from, country), "to": system_name(to, country) }),
    )
}

fn police_event(
    rng: &mut Rand,
    country: Country,
    i: usize,
    closing: bool,
    date: NaiveDate,
    age: i64,
) -> TimelineEvent {
    if i == 0 {
        // Children in conflict with the law are 12 or older (age of criminal responsibility).
        let role = if age >= 12 {
            pick_copy(
                rng,
                &["victim", "victim", "witness", "suspect", "missing_child"],
            )
        } else {
            pick_copy(rng, &["victim", "victim", "witness", "missing_child"])
        };
        let category = match role {
            "suspect" => pick_copy(
                rng,
                &["theft", "assault", "affray", "drug_offence", "robbery"],
            ),
            "missing_child" => "missing_person",
            _ => pick_copy(
                rng,
                &[
                    "physical_assault",
                    "sexual_offence",
                    "neglect",
                    "child_labour",
                    "trafficking",
                    "domestic_violence",
                ],
            ),
        };
        let mut details = json!({ "role": role, "category": category });
        if country == Country::Uganda {
            details["station"] = json!(police_station(rng));
        }
        return event("police.case_opened", date, RESTRICTED, details);
    }
    if closing {
        let outcome = pick_copy(
            rng,
            &[
                "charged",
                "diverted",
                "no_further_action",
                "reunified",
                "transferred",
            ],
        );
        return event(
            "police.case_closed",
            date,
            RESTRICTED,
            json!({ "outcome": outcome }),
        );
    }
    match rng.gen_range(0..4) {
        0 => event(
            "police.statement_recorded",
            date,
            RESTRICTED,
            json!({ "statement_no": i }),
        ),
        1 => {
            let form = if country == Country::Uganda {
                "PF3"
            } else {
                "medical_certificate"
            };
            event(
                "police.medical_examination",
                date,
                CONFIDENTIAL,
                json!({ "form": form }),
            )
        }
        2 => referral(rng, country, Kind::Police, date),
        _ => event("police.follow_up", date, RESTRICTED, json!({ "visit": i })),
    }
}

fn court_event(rng: &mut Rand, i: usize, closing: bool, date: NaiveDate) -> TimelineEvent {
    if i == 0 {
        let case_type = pick_copy(
            rng,
            &[
                "care_order",
                "child_offender",
                "maintenance",
                "custody",
                "adoption",
                "guardianship",
            ],
        );
        let division = if case_type == "child_offender" {
            "criminal"
        } else {
            "family"
        };
        return event(
            "court.case_filed",
            date,
            RESTRICTED,
            json!({ "case_type": case_type, "division": division }),
        );
    }
    if closing {
        let order = pick_copy(
            rng,
            &[
                "care_order",
                "supervision_order",
                "probation",
                "maintenance_order",
                "dismissed",
                "custody_granted",
            ],
        );
        return event(
            "court.order_issued",
            date,
            RESTRICTED,
            json!({ "order": order }),
        );
    }
    if rng.gen_bool(0.8) {
        event(
            "court.hearing",
            date,
            RESTRICTED,
            json!({ "hearing_no": i, "adjourned": rng.gen_bool(0.4) }),
        )
    } else {
        event(
            "court.social_inquiry_report",
            date,
            CONFIDENTIAL,
            json!({ "requested_from": "probation_officer" }),
        )
    }
}

fn school_event(
    rng: &mut Rand,
    country: Country,
    i: usize,
    closing: bool,
    date: NaiveDate,
    age: i64,
) -> TimelineEvent {
    let grade = school_grade(country, age);
    if i == 0 {
        let school_type = pick_copy(rng, &["government", "government", "private", "community"]);
        return event(
            "school.enrolled",
            date,
            NORMAL,
            json!({ "grade": grade, "school_type": school_type }),
        );
    }
    if closing {
        let reason = pick_copy(rng, &["fees", "relocation", "unknown", "work", "completed"]);
        return event(
            "school.left",
            date,
            NORMAL,
            json!({ "grade": grade, "reason": reason }),
        );
    }
    match rng.gen_range(0..6) {
        0 | 1 => event("school.promoted", date, NORMAL, json!({ "grade": grade })),
        2 => event(
            "school.absence_flagged",
            date,
            NORMAL,
            json!({ "days_absent": rng.gen_range(5..=40) }),
        ),
        3 => event(
            "school.transferred",
            date,
            NORMAL,
            json!({ "grade": grade }),
        ),
        4 => event(
            "school.health_screening",
            date,
            CONFIDENTIAL,
            json!({ "outcome": pick_copy(rng, &["normal", "referred"]) }),
        ),
        _ => referral(rng, country, Kind::School, date),
    }
}

fn welfare_event(
    rng: &mut Rand,
    country: Country,
    i: usize,
    closing: bool,
    date: NaiveDate,
) -> TimelineEvent {
    if i == 0 {
        let concern = pick_copy(
            rng,
            &[
                "neglect",
                "abandonment",
                "child_labour",
                "separated",
                "unaccompanied",
                "violence",
                "child_marriage",
                "street_connected",
            ],
        );
        let risk = pick_copy(rng, &["low", "medium", "medium", "high"]);
        return event(
            "welfare.case_opened",
            date,
            RESTRICTED,
            json!({ "protection_concern": concern, "risk_level": risk }),
        );
    }
    if closing {
        let reason = pick_copy(
            rng,
            &[
                "goals_met",
                "transferred",
                "lost_contact",
                "aged_out",
                "reunified",
            ],
        );
        return event(
            "welfare.case_closed",
            date,
            RESTRICTED,
            json!({ "reason": reason }),
        );
    }
    match rng.gen_range(0..6) {
        0 => event(
            "welfare.assessment",
            date,
            RESTRICTED,
            json!({ "risk_level": pick_copy(rng, &["low", "medium", "high"]) }),
        ),
        1 => event(
            "welfare.abuse_reported",
            date,
            CONFIDENTIAL,
            json!({ "abuse_type": pick_copy(rng, &["physical", "sexual", "emotional", "neglect"]) }),
        ),
        2 => event(
            "welfare.health_referral",
            date,
            CONFIDENTIAL,
            json!({ "service": pick_copy(rng, &["hiv", "mental_health", "nutrition", "disability", "medical"]) }),
        ),
        3 => event(
            "welfare.placement",
            date,
            RESTRICTED,
            json!({ "placement": pick_copy(rng, &["kinship_care", "foster_care", "residential_care", "reunified"]) }),
        ),
        4 => event(
            "welfare.home_visit",
            date,
            RESTRICTED,
            json!({ "visit_no": i }),
        ),
        _ => referral(rng, country, Kind::Welfare, date),
    }
}
