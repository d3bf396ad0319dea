//! What the templates show: the page frame, and the few shapes data is turned into for people
//! (names, dates, record differences, the match-weight waterfall).

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use registry::clients::Role;
use registry::model::{ChildData, GoldenRecord, Sex};

use super::i18n::{Lang, Tr};
use super::PageContext;
use crate::auth::Caller;

/// The frame every page shares: language, title, who is logged in, what they may open.
#[derive(Debug, Clone)]
pub struct Page {
    pub tr: Tr,
    pub lang: &'static str,
    pub title: String,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    pub person: Option<Person>,
    /// This page's address, so the language switch comes back here.
    pub here: String,
    pub languages: Vec<LanguageLink>,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub role: String,
    pub reads_children: bool,
    pub is_steward: bool,
    pub is_admin: bool,
}

#[derive(Debug, Clone)]
pub struct LanguageLink {
    pub code: &'static str,
    pub label: &'static str,
    pub current: bool,
    pub href: String,
}

impl Page {
    pub fn new(context: &PageContext, caller: Option<&Caller>, title: String) -> Self {
        let here: String = form_urlencoded::byte_serialize(context.here.as_bytes()).collect();
        Page {
            tr: context.tr(),
            lang: context.lang.code(),
            title,
            csrf: context.csrf.clone(),
            person: caller.map(|caller| Person {
                name: caller.name.clone(),
                role: context.tr().t(&format!("role-{}", caller.role.as_str())),
                reads_children: caller.role.reads_child_data(),
                is_steward: caller.role == Role::DataSteward,
                is_admin: caller.role == Role::Admin,
            }),
            languages: Lang::ALL
                .iter()
                .map(|lang| LanguageLink {
                    code: lang.code(),
                    label: match lang {
                        Lang::En => "English",
                        Lang::Km => "ខ្មែរ",
                    },
                    current: *lang == context.lang,
                    href: format!("/language?lang={}&back={here}", lang.code()),
                })
                .collect(),
            here: context.here.clone(),
        }
    }
}

/// Renders a template as an HTML response with the given status.
pub fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "a page failed to render");
            crate::error::ApiError::Internal.into_response()
        }
    }
}

/// Renders a page with `200 OK`.
pub fn html<T: Template>(template: &T) -> Response {
    render(StatusCode::OK, template)
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub page: Page,
    pub message: String,
}

/// How a child is named on a page: given and family name, else any other name.
pub fn display_name(given: Option<&str>, family: Option<&str>, tr: &Tr) -> String {
    let name = [given, family]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        tr.t("name-unknown")
    } else {
        name
    }
}

pub fn sex_label(sex: Option<Sex>, tr: &Tr) -> String {
    match sex {
        Some(Sex::F) => tr.t("sex-f"),
        Some(Sex::M) => tr.t("sex-m"),
        Some(Sex::X) => tr.t("sex-x"),
        Some(Sex::Unknown) | None => tr.t("value-unknown"),
    }
}

pub fn birth_label(date: Option<NaiveDate>, estimated: bool, tr: &Tr) -> String {
    match date {
        Some(date) if estimated => tr.t_args("birth-estimated", &[("date", &tr.date(date))]),
        Some(date) => tr.date(date),
        None => tr.t("value-unknown"),
    }
}

/// One line of a side-by-side comparison: the field and both values, marked when they differ.
#[derive(Debug, Clone)]
pub struct ComparedField {
    pub label: String,
    pub left: String,
    pub right: String,
    pub differs: bool,
}

/// The fields a steward compares, from a record (left) and a child's summary (right). Values
/// are compared case- and space-insensitively: "AGUTI" and "Aguti " are not a difference.
pub fn compare(record: &ChildData, child: &GoldenRecord, tr: &Tr) -> Vec<ComparedField> {
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let identifiers = |identifiers: &[registry::model::Identifier]| {
        identifiers
            .iter()
            .map(|identifier| format!("{}: {}", identifier.kind, identifier.value))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows = [
        (
            "field-given-name",
            text(&record.given_name),
            text(&child.given_name),
        ),
        (
            "field-family-name",
            text(&record.family_name),
            text(&child.family_name),
        ),
        (
            "field-other-names",
            record.other_names.join(", "),
            child.other_names.join(", "),
        ),
        (
            "field-sex",
            sex_label(record.sex, tr),
            sex_label(child.sex, tr),
        ),
        (
            "field-birth",
            birth_label(record.date_of_birth, record.date_of_birth_estimated, tr),
            birth_label(child.date_of_birth, child.date_of_birth_estimated, tr),
        ),
        (
            "field-district",
            text(&record.district),
            text(&child.district),
        ),
        (
            "field-subcounty",
            text(&record.subcounty),
            text(&child.subcounty),
        ),
        ("field-village", text(&record.village), text(&child.village)),
        (
            "field-mother",
            text(&record.mother_name),
            text(&child.mother_name),
        ),
        (
            "field-father",
            text(&record.father_name),
            text(&child.father_name),
        ),
        (
            "field-identifiers",
            identifiers(&record.identifiers),
            identifiers(&child.identifiers),
        ),
    ];
    rows.into_iter()
        .map(|(label, left, right)| {
            let normal = |value: &str| {
                value
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            ComparedField {
                label: tr.t(label),
                differs: normal(&left) != normal(&right),
                left,
                right,
            }
        })
        .collect()
}

/// One bar of the match-weight waterfall, in chart coordinates (pixels).
#[derive(Debug, Clone)]
pub struct WaterfallBar {
    pub label: String,
    pub level: String,
    /// log₂ Bayes factor, shown as text.
    pub weight: String,
    pub positive: bool,
    pub total: bool,
    pub y: i64,
    pub x: i64,
    pub width: i64,
    pub text_y: i64,
}

/// The waterfall chart: bars from the prior through each comparison to the final weight.
#[derive(Debug, Clone)]
pub struct Waterfall {
    pub bars: Vec<WaterfallBar>,
    pub width: i64,
    pub height: i64,
    /// Where weight zero (even odds) sits.
    pub zero_x: i64,
    pub probability: String,
    pub cannot_link: Option<String>,
}

const BAR_HEIGHT: i64 = 22;
const BAR_GAP: i64 = 6;
const LABEL_WIDTH: i64 = 230;
const PLOT_WIDTH: i64 = 360;

/// Builds the waterfall from a stored explanation (the matching engine's `PairExplanation`).
/// `None` when the explanation has no usable shape (an older record without one).
pub fn waterfall(explanation: &serde_json::Value, tr: &Tr) -> Option<Waterfall> {
    let explanation: matching::model::PairExplanation =
        serde_json::from_value(explanation.clone()).ok()?;
    let mut steps: Vec<(String, String, f64, bool)> = vec![(
        tr.t("waterfall-prior"),
        String::new(),
        explanation.prior_weight,
        false,
    )];
    for comparison in &explanation.comparisons {
        steps.push((
            comparison.comparison.clone(),
            comparison.level.clone(),
            comparison.weight,
            false,
        ));
    }
    steps.push((
        tr.t("waterfall-total"),
        String::new(),
        explanation.match_weight,
        true,
    ));
    // The running sum decides the axis range; it always includes zero.
    let mut running = 0.0_f64;
    let (mut low, mut high) = (0.0_f64, 0.0_f64);
    for (_, _, weight, total) in &steps {
        if !*total {
            running += weight;
        }
        low = low.min(running);
        high = high.max(running);
    }
    low = low.min(explanation.match_weight);
    high = high.max(explanation.match_weight);
    let span = (high - low).max(1.0);
    let scale = |weight: f64| ((weight - low) / span * PLOT_WIDTH as f64).round() as i64;
    let mut running = 0.0_f64;
    let bars = steps
        .into_iter()
        .enumerate()
        .map(|(index, (label, level, weight, total))| {
            let (start, end) = if total {
                (0.0, weight)
            } else {
                let start = running;
                running += weight;
                (start, running)
            };
            let (from, to) = (scale(start.min(end)), scale(start.max(end)));
            let y = index as i64 * (BAR_HEIGHT + BAR_GAP);
            WaterfallBar {
                label,
                level,
                weight: format!("{weight:+.2}"),
                positive: weight >= 0.0,
                total,
                y,
                x: LABEL_WIDTH + from,
                width: (to - from).max(1),
                text_y: y + BAR_HEIGHT - 7,
            }
        })
        .collect::<Vec<_>>();
    Some(Waterfall {
        height: bars.len() as i64 * (BAR_HEIGHT + BAR_GAP),
        width: LABEL_WIDTH + PLOT_WIDTH + 60,
        zero_x: LABEL_WIDTH + scale(0.0),
        bars,
        probability: tr.percent(explanation.match_probability),
        cannot_link: explanation.cannot_link,
    })
}

/// A horizontal bar chart with the table behind it (the dashboard's charts).
#[derive(Debug, Clone)]
pub struct BarChart {
    pub title: String,
    pub column: String,
    pub rows: Vec<BarRow>,
    pub height: i64,
}

#[derive(Debug, Clone)]
pub struct BarRow {
    pub label: String,
    pub count: String,
    pub y: i64,
    pub width: i64,
    pub text_y: i64,
}

pub fn bar_chart(title: String, column: String, counts: &[(String, i64)], tr: &Tr) -> BarChart {
    let largest = counts
        .iter()
        .map(|(_, count)| *count)
        .max()
        .unwrap_or(0)
        .max(1);
    let rows = counts
        .iter()
        .enumerate()
        .map(|(index, (label, count))| {
            let y = index as i64 * (BAR_HEIGHT + BAR_GAP);
            BarRow {
                label: label.clone(),
                count: tr.number(*count),
                y,
                width: (count * PLOT_WIDTH / largest).max(1),
                text_y: y + BAR_HEIGHT - 7,
            }
        })
        .collect::<Vec<_>>();
    BarChart {
        title,
        column,
        height: (rows.len() as i64 * (BAR_HEIGHT + BAR_GAP)).max(BAR_HEIGHT),
        rows,
    }
}
