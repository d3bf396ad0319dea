//! English and Khmer: Fluent translation files compiled into the binary, the language each
//! request is answered in, and dates and numbers written the way each language writes them.

use std::sync::LazyLock;

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The cookie holding the language a person chose with the switch.
pub const LANGUAGE_COOKIE: &str = "cr_lang";

/// A language the web UI speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Km,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Km];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Km => "km",
        }
    }

    /// Reads a language tag (`km`, `km-KH`, `en-GB`); `None` for languages the UI lacks.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let language: LanguageIdentifier = tag.trim().parse().ok()?;
        match language.language.as_str() {
            "en" => Some(Lang::En),
            "km" => Some(Lang::Km),
            _ => None,
        }
    }

    /// The person's choice (the switch's cookie), else `?lang=`, else the browser's
    /// `Accept-Language` in order of preference, else English.
    pub fn negotiate(headers: &HeaderMap, query_lang: Option<&str>) -> Lang {
        let chosen = cookie(headers, LANGUAGE_COOKIE).and_then(|value| Lang::from_tag(&value));
        chosen
            .or_else(|| query_lang.and_then(Lang::from_tag))
            .or_else(|| accept_language(headers))
            .unwrap_or(Lang::En)
    }

    fn bundle(self) -> &'static FluentBundle<FluentResource> {
        match self {
            Lang::En => &BUNDLES.0,
            Lang::Km => &BUNDLES.1,
        }
    }
}

/// A cookie's value from the request's `Cookie` header(s).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The most preferred supported language of `Accept-Language` (`q` weights honoured).
fn accept_language(headers: &HeaderMap) -> Option<Lang> {
    let header = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut ranked: Vec<(f32, usize, Lang)> = header
        .split(',')
        .enumerate()
        .filter_map(|(position, item)| {
            let mut parts = item.split(';');
            let lang = Lang::from_tag(parts.next()?)?;
            let quality = parts
                .find_map(|parameter| parameter.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (quality > 0.0).then_some((quality, position, lang))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked.first().map(|(_, _, lang)| *lang)
}

static BUNDLES: LazyLock<(FluentBundle<FluentResource>, FluentBundle<FluentResource>)> =
    LazyLock::new(|| {
        (
            bundle("en", include_str!("../../locales/en.ftl")),
            bundle("km", include_str!("../../locales/km.ftl")),
        )
    });

fn bundle(tag: &str, source: &str) -> FluentBundle<FluentResource> {
    let language: LanguageIdentifier = tag.parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![language]);
    // Isolation marks around placeables would show up in form values and tests' text.
    bundle.set_use_isolating(false);
    // The files are compiled in and checked by a test; a syntax error there is a bug in this
    // build, and the messages that did parse are still served.
    let resource =
        FluentResource::try_new(source.to_owned()).unwrap_or_else(|(partial, _)| partial);
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            ?errors,
            language = tag,
            "translation file has duplicate messages"
        );
    }
    bundle
}

/// Translates for one request: `t("search-title")`, `t_args("results", &[("count", n)])`.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Self {
        Tr { lang }
    }

    /// The message, from this language, else English, else its ID (so a missing translation
    /// shows up, never breaks the page).
    pub fn t(&self, id: &str) -> String {
        self.format(id, None)
    }

    /// A message when this language or English has it, else `fallback`: for names that come
    /// from data (a model's comparisons) rather than from the interface.
    pub fn t_or(&self, id: &str, fallback: &str) -> String {
        let known = [self.lang, Lang::En]
            .iter()
            .any(|lang| lang.bundle().has_message(id));
        if known {
            self.t(id)
        } else {
            fallback.to_owned()
        }
    }

    pub fn t_args(&self, id: &str, args: &[(&str, &str)]) -> String {
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, FluentValue::from(*value));
        }
        self.format(id, Some(&fluent_args))
    }

    /// A count in a message that may pluralise (`{ $count -> [one] … *[other] … }`); the
    /// number is written in this language's digits.
    pub fn t_count(&self, id: &str, count: i64) -> String {
        let mut fluent_args = FluentArgs::new();
        fluent_args.set("count", FluentValue::from(count));
        fluent_args.set("shown", FluentValue::from(self.number(count)));
        self.format(id, Some(&fluent_args))
    }

    fn format(&self, id: &str, args: Option<&FluentArgs>) -> String {
        for lang in [self.lang, Lang::En] {
            let bundle = lang.bundle();
            if let Some(pattern) = bundle.get_message(id).and_then(|message| message.value()) {
                let mut errors = Vec::new();
                return bundle
                    .format_pattern(pattern, args, &mut errors)
                    .into_owned();
            }
        }
        id.to_owned()
    }

    /// An integer in this language's digits (Khmer digits ០–៩ for Khmer).
    pub fn number(&self, value: i64) -> String {
        let text = value.to_string();
        match self.lang {
            Lang::En => group_thousands(&text),
            Lang::Km => text.chars().map(khmer_digit).collect(),
        }
    }

    /// A date as this language writes it: `5 Mar 2024`, `៥ មីនា ២០២៤`.
    pub fn date(&self, date: NaiveDate) -> String {
        let month = self.t(&format!("month-{}", date.month()));
        match self.lang {
            Lang::En => format!("{} {month} {}", date.day(), date.year()),
            Lang::Km => format!(
                "{} {month} {}",
                self.number(i64::from(date.day())),
                self.number(i64::from(date.year()))
            ),
        }
    }

    /// A moment as a date and a time of day in UTC: `5 Mar 2024 14:05 UTC`.
    pub fn moment(&self, at: DateTime<Utc>) -> String {
        let clock = at.format("%H:%M").to_string();
        let clock: String = match self.lang {
            Lang::En => clock,
            Lang::Km => clock.chars().map(khmer_digit).collect(),
        };
        format!("{} {clock} UTC", self.date(at.date_naive()))
    }

    /// A probability as a percentage with one decimal: `99.7 %`.
    pub fn percent(&self, probability: f64) -> String {
        let text = format!("{:.1} %", probability * 100.0);
        match self.lang {
            Lang::En => text,
            Lang::Km => text.chars().map(khmer_digit).collect(),
        }
    }
}

fn khmer_digit(symbol: char) -> char {
    symbol
        .to_digit(10)
        .and_then(|digit| char::from_u32(0x17E0 + digit))
        .unwrap_or(symbol)
}

fn group_thousands(digits: &str) -> String {
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits), |rest| ("-", rest));
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped}")
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query_lang = parts.uri.query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(name, _)| name == "lang")
                .map(|(_, value)| value.into_owned())
        });
        Ok(Lang::negotiate(&parts.headers, query_lang.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use axum::http::HeaderValue;

    /// Message IDs: lines that start a message (`id = …`), after checking the file parses.
    fn message_ids(source: &str) -> std::collections::BTreeSet<String> {
        assert!(
            FluentResource::try_new(source.to_owned()).is_ok(),
            "the file parses"
        );
        source
            .lines()
            .filter(|line| line.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_owned()))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_messages() {
        let english = message_ids(include_str!("../../locales/en.ftl"));
        let khmer = message_ids(include_str!("../../locales/km.ftl"));
        let missing: Vec<_> = english.difference(&khmer).collect();
        let extra: Vec<_> = khmer.difference(&english).collect();
        assert!(missing.is_empty(), "not translated to Khmer: {missing:?}");
        assert!(
            extra.is_empty(),
            "Khmer messages without English: {extra:?}"
        );
        assert!(english.len() > 50, "{}", english.len());
    }

    #[test]
    fn the_choice_beats_the_query_which_beats_the_browser() {
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::negotiate(&headers, None), Lang::En);
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr;q=1, km-KH;q=0.8, en;q=0.5"),
        );
        assert_eq!(Lang::negotiate(&headers, None), Lang::Km);
        assert_eq!(Lang::negotiate(&headers, Some("en")), Lang::En);
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b; cr_lang=km"));
        assert_eq!(Lang::negotiate(&headers, Some("en")), Lang::Km);
    }

    #[test]
    fn dates_and_numbers_follow_the_language() {
        let date = NaiveDate::from_ymd_opt(2024, 3, 5).unwrap();
        assert_eq!(Tr::new(Lang::En).date(date), "5 Mar 2024");
        assert_eq!(Tr::new(Lang::Km).date(date), "៥ មីនា ២០២៤");
        assert_eq!(Tr::new(Lang::En).number(1234567), "1,234,567");
        assert_eq!(Tr::new(Lang::Km).number(2026), "២០២៦");
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2024, 3, 5, 14, 5, 0).unwrap();
        assert_eq!(Tr::new(Lang::En).moment(at), "5 Mar 2024 14:05 UTC");
        assert_eq!(Tr::new(Lang::Km).moment(at), "៥ មីនា ២០២៤ ១៤:០៥ UTC");
        assert_eq!(Tr::new(Lang::En).t_count("results-count", 1), "1 child");
        assert_eq!(
            Tr::new(Lang::En).t_count("results-count", 2500),
            "2,500 children"
        );
    }
}
