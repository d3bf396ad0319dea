//! Dates as people write them on forms, in exports and in a search box: one reader for bulk
//! imports and for the dates typed into a search.

use chrono::{Datelike, NaiveDate};
use matching::normalize::{is_khmer, khmer_date_as_latin};

/// ISO dates, and the day-first forms exports and spreadsheets write (`01-Jan-2015`,
/// `01/01/2015`, `1.1.2015`, `1 January 2015`, `1st January 2015`), a month written out before
/// the day (`January 1, 2015`: only where the month is a name, so never ambiguous), in Latin or
/// Khmer digits and months (`១២/០១/២០១៥`, `ថ្ងៃទី១២ ខែមករា ឆ្នាំ២០១៥`), and timestamps' date
/// part. `None` for anything else, a month and year alone included.
pub fn read_written_date(written: &str) -> Option<NaiveDate> {
    let latin = khmer_date_as_latin(written.trim());
    let value = month_abbreviations_plain(&without_ordinal_suffixes(&latin));
    let value = value.as_str();
    let formats = [
        "%Y-%m-%d",
        "%d-%b-%Y",
        "%d/%m/%Y",
        "%d-%m-%Y",
        "%Y/%m/%d",
        "%d.%m.%Y",
        "%d %b %Y",
        "%d-%B-%Y",
        "%d %B %Y",
        "%B %d, %Y",
        "%b %d, %Y",
        "%B %d %Y",
        "%b %d %Y",
    ];
    for format in formats {
        // chrono reads a format's space as any run of spaces, even none: "Feb 2019" would be
        // the 20th of February in the year 19 by `%b %d %Y`.
        if let Ok(date) = NaiveDate::parse_from_str(value, format) {
            if date.year() >= 1000 {
                return Some(date);
            }
        }
    }
    // Some exports write timestamps (`2015-01-01T00:00:00Z`, `2015-01-01 00:00:00`): take
    // the date part.
    if let Some((date, _)) = value.split_once(['T', ' ']) {
        if let Ok(date) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
            return Some(date);
        }
    }
    None
}

/// A month and year written out: `March 2015`, `Mar 2015`, `Sept 2015`, `ខែមីនា ឆ្នាំ២០១៥`
/// ("month March, year 2015"), `03-2015`, `2015-03`, in Latin or Khmer digits.
pub fn read_written_month(written: &str) -> Option<(i32, u32)> {
    let latin = khmer_date_as_latin(written.trim());
    let parts: Vec<&str> = latin
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '/' | '.' | ','))
        .filter(|part| !part.is_empty())
        .collect();
    let year = |part: &str| {
        (part.len() == 4 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i32>().ok())
            .flatten()
            .filter(|year| *year >= 1000)
    };
    let month = |part: &str| {
        let number = (part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten();
        number
            .or_else(|| month_named(part))
            .filter(|month| (1..=12).contains(month))
    };
    match parts.as_slice() {
        [first, second] => match (year(first), year(second)) {
            (Some(year), None) => month(second).map(|month| (year, month)),
            (None, Some(year)) => month(first).map(|month| (year, month)),
            _ => None,
        },
        _ => None,
    }
}

/// The month a word names, in English (`March`, `Mar`, `Sept`, any case) or Khmer (`មីនា`,
/// `ខែមីនា`).
pub fn month_named(word: &str) -> Option<u32> {
    let latin = khmer_date_as_latin(word.trim());
    let word = latin.trim();
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let word = month_abbreviations_plain(word);
    // chrono reads a month's full name or its three-letter abbreviation with either format.
    NaiveDate::parse_from_str(&format!("1 {word} 2000"), "%d %B %Y")
        .ok()
        .map(|date| date.month())
}

/// A day or a year written as a number in Latin or Khmer digits, a day perhaps as an English
/// ordinal (`12`, `3rd`, `២០១៥`, `ថ្ងៃទី១២`): a part of a date written in words.
pub fn is_date_number(word: &str) -> bool {
    let plain = without_ordinal_suffixes(&khmer_date_as_latin(word));
    !plain.is_empty() && plain.bytes().all(|b| b.is_ascii_digit())
}

/// Month abbreviations written as chrono reads them: `Sept` (as many forms abbreviate
/// September) as `Sep`, and the full stop after an abbreviation (`Mar.`, `Sept.`) left out;
/// `September` and every other word are left whole.
fn month_abbreviations_plain(text: &str) -> String {
    let mut written = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_alphabetic()) {
        written.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let (word, after) = rest.split_at(end);
        let abbreviation = if word.eq_ignore_ascii_case("sept") {
            Some(&word[..3])
        } else {
            Some(word).filter(|word| is_month_abbreviation(word))
        };
        match abbreviation {
            Some(abbreviation) => {
                written.push_str(abbreviation);
                rest = after.strip_prefix('.').unwrap_or(after);
            }
            None => {
                written.push_str(word);
                rest = after;
            }
        }
    }
    written.push_str(rest);
    written
}

/// `Jan` … `Dec` in any case.
fn is_month_abbreviation(word: &str) -> bool {
    word.len() == 3
        && word.chars().all(|c| c.is_ascii_alphabetic())
        && NaiveDate::parse_from_str(&format!("1 {word} 2000"), "%d %b %Y").is_ok()
}

/// True when a written month is in Khmer script: `ខែឧសភា` is the month May, where the
/// English `May` may be a child's name.
pub fn is_khmer_month(word: &str) -> bool {
    word.chars().any(is_khmer) && month_named(word).is_some()
}

/// A date with its day written as an English ordinal (`1st`, `22nd`, `3rd`, `12th`, as registers
/// typed from letters write it) with the day's number alone.
fn without_ordinal_suffixes(date: &str) -> String {
    let mut plain = String::with_capacity(date.len());
    let mut rest = date;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        plain.push_str(&rest[..start]);
        rest = &rest[start..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        plain.push_str(&rest[..digits]);
        rest = &rest[digits..];
        let suffix = rest.get(..2).map(str::to_ascii_lowercase);
        let ends_there = !rest[2.min(rest.len())..].starts_with(|c: char| c.is_alphabetic());
        if digits <= 2 && matches!(suffix.as_deref(), Some("st" | "nd" | "rd" | "th")) && ends_there
        {
            rest = &rest[2..];
        }
    }
    plain.push_str(rest);
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_years_written_out() {
        for written in [
            "March 2015",
            "mar 2015",
            "Mar, 2015",
            "2015-03",
            "03/2015",
            "ខែមីនា ឆ្នាំ២០១៥",
            "មីនា ២០១៥",
        ] {
            assert_eq!(read_written_month(written), Some((2015, 3)), "{written}");
        }
        assert_eq!(read_written_month("Sept 2015"), Some((2015, 9)));
        for written in [
            "12 Sept 2015",
            "12 SEPT. 2015",
            "12-sept-2015",
            "12 Sep. 2015",
            "Sept. 12, 2015",
            "Sept 12, 2015",
            "12 September 2015",
        ] {
            assert_eq!(
                read_written_date(written),
                NaiveDate::from_ymd_opt(2015, 9, 12),
                "{written}"
            );
        }
        assert_eq!(read_written_date("12 Septt 2015"), None);
        assert_eq!(
            read_written_date("12 Mar. 2015"),
            NaiveDate::from_ymd_opt(2015, 3, 12)
        );
        assert_eq!(read_written_month("Mar. 2015"), Some((2015, 3)));
        // Only a month's abbreviation loses its full stop: a word ending a sentence is kept.
        assert_eq!(read_written_date("12 March. 2015"), None);
        assert_eq!(read_written_date("12 Marc. 2015"), None);
        for not_a_month in [
            "March",
            "2015",
            "Marsh 2015",
            "13/2015",
            "3 March 2015",
            "Akello 2015",
        ] {
            assert_eq!(read_written_month(not_a_month), None, "{not_a_month}");
        }
    }

    #[test]
    fn month_names_in_english_and_khmer() {
        assert_eq!(month_named("JUNE"), Some(6));
        assert_eq!(month_named("jun"), Some(6));
        assert_eq!(month_named("ខែមិថុនា"), Some(6));
        assert_eq!(month_named("junior"), None);
        assert_eq!(month_named("12"), None);
        assert!(is_date_number("3rd"));
        assert!(is_date_number("២០១៥"));
        assert!(!is_date_number("3rdd"));
        assert!(!is_date_number("March"));
        assert!(is_khmer_month("ឧសភា"));
        assert!(!is_khmer_month("May"));
        assert!(!is_khmer_month("សុខា"));
    }
}
