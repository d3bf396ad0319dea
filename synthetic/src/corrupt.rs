//! How clerks and scanners change what they write: keyboard and OCR typos, phonetic
//! respellings, letter case, date slips.

use chrono::{Datelike, NaiveDate};
use rand::Rng;

use crate::model::Country;
use crate::sample::{pick_copy, Rand};

/// Neighbouring keys on a QWERTY keyboard.
fn keyboard_neighbours(c: char) -> &'static str {
    match c.to_ascii_lowercase() {
        'q' => "wa",
        'w' => "qes",
        'e' => "wrd",
        'r' => "etf",
        't' => "ryg",
        'y' => "tuh",
        'u' => "yij",
        'i' => "uok",
        'o' => "ipl",
        'p' => "ol",
        'a' => "qsz",
        's' => "adwz",
        'd' => "sfe",
        'f' => "dgr",
        'g' => "fht",
        'h' => "gjy",
        'j' => "hku",
        'k' => "jli",
        'l' => "ko",
        'z' => "xas",
        'x' => "zcs",
        'c' => "xvd",
        'v' => "cbf",
        'b' => "vng",
        'n' => "bmh",
        'm' => "nj",
        _ => "",
    }
}

fn match_case(template: char, c: char) -> char {
    if template.is_uppercase() {
        c.to_ascii_uppercase()
    } else {
        c
    }
}

/// One keyboard slip: substitute a neighbouring key, drop, double, insert or transpose a
/// letter. Works on characters, so Khmer-script names get dropped/doubled/swapped signs.
pub(crate) fn typo(rng: &mut Rand, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    if chars.len() < 2 {
        return text.to_string();
    }
    // Avoid the first letter most of the time: people get it right more often.
    let position = if rng.gen_bool(0.85) {
        rng.gen_range(1..chars.len())
    } else {
        0
    };
    let current = chars[position];
    match rng.gen_range(0..5) {
        0 => {
            let neighbours = keyboard_neighbours(current);
            if neighbours.is_empty() {
                chars.remove(position);
            } else {
                let n = neighbours.as_bytes()[rng.gen_range(0..neighbours.len())] as char;
                chars[position] = match_case(current, n);
            }
        }
        1 => {
            chars.remove(position);
        }
        2 => chars.insert(position, current),
        3 => {
            let neighbours = keyboard_neighbours(current);
            if let Some(&n) = neighbours.as_bytes().first() {
                chars.insert(position, match_case(current, n as char));
            } else {
                chars.insert(position, current);
            }
        }
        _ => {
            let other = if position + 1 < chars.len() {
                position + 1
            } else {
                position - 1
            };
            chars.swap(position, other);
        }
    }
    chars.into_iter().collect()
}

/// Scanner misreads of typed or handwritten forms.
const OCR: &[(&str, &str)] = &[
    ("m", "rn"),
    ("rn", "m"),
    ("d", "cl"),
    ("h", "li"),
    ("l", "1"),
    ("I", "l"),
    ("O", "0"),
    ("o", "0"),
    ("e", "c"),
    ("a", "o"),
    ("u", "ii"),
    ("n", "ri"),
    ("B", "8"),
    ("S", "5"),
];

pub(crate) fn ocr(rng: &mut Rand, text: &str) -> String {
    replace_one_of(rng, text, OCR).unwrap_or_else(|| typo(rng, text))
}

/// Respellings heard-and-written in Uganda (Luganda l/r, doubled consonants, c/k, ph/f...).
const PHONETIC_UG: &[(&str, &str)] = &[
    ("ll", "l"),
    ("l", "r"),
    ("r", "l"),
    ("ss", "s"),
    ("s", "ss"),
    ("tt", "t"),
    ("t", "tt"),
    ("gg", "g"),
    ("kk", "k"),
    ("c", "k"),
    ("k", "c"),
    ("ph", "f"),
    ("f", "ph"),
    ("y", "i"),
    ("i", "y"),
    ("ie", "y"),
    ("ee", "i"),
    ("ou", "u"),
    ("ch", "c"),
    ("c", "ch"),
    ("th", "t"),
    ("j", "gy"),
    ("gy", "j"),
    ("w", "u"),
    ("oo", "o"),
    ("aa", "a"),
    ("ii", "i"),
    ("e", "i"),
    ("h", ""),
];

/// Khmer romanisation variants (no standard system is used consistently).
const PHONETIC_KH: &[(&str, &str)] = &[
    ("ey", "ei"),
    ("ei", "ey"),
    ("y", "i"),
    ("i", "y"),
    ("kh", "k"),
    ("k", "kh"),
    ("chh", "ch"),
    ("ch", "chh"),
    ("ch", "j"),
    ("th", "t"),
    ("t", "th"),
    ("ph", "p"),
    ("p", "ph"),
    ("ea", "ia"),
    ("ia", "ea"),
    ("ou", "u"),
    ("u", "ou"),
    ("o", "ou"),
    ("nn", "n"),
    ("n", "nn"),
    ("eu", "oeu"),
    ("oeu", "eu"),
    ("v", "w"),
    ("s", "ss"),
    ("ar", "a"),
    ("a", "ar"),
    (" ", ""),
    ("r", "rr"),
];

pub(crate) fn phonetic(rng: &mut Rand, text: &str, country: Country) -> String {
    let rules = match country {
        Country::Uganda => PHONETIC_UG,
        Country::Cambodia => PHONETIC_KH,
    };
    replace_one_of(rng, text, rules).unwrap_or_else(|| text.to_string())
}

/// Applies one randomly chosen applicable rule at one random occurrence (never the first
/// letter, case-insensitive match, case kept).
fn replace_one_of(rng: &mut Rand, text: &str, rules: &[(&str, &str)]) -> Option<String> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return None; // non-ASCII case mapping changed lengths: leave it
    }
    let applicable: Vec<(usize, &str, &str)> = rules
        .iter()
        .flat_map(|(from, to)| {
            let from_lower = from.to_lowercase();
            lower
                .match_indices(from_lower.as_str())
                .filter(|(i, _)| *i > 0 || from.chars().all(char::is_uppercase))
                .map(move |(i, _)| (i, *from, *to))
                .collect::<Vec<_>>()
        })
        .collect();
    if applicable.is_empty() {
        return None;
    }
    let (index, from, to) = pick_copy(rng, &applicable);
    let original = &text[index..index + from.len()];
    let all_upper = !text.chars().any(char::is_lowercase);
    let replacement = if all_upper {
        to.to_uppercase()
    } else if original.starts_with(char::is_uppercase) {
        capitalize(to)
    } else {
        to.to_string()
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push_str(&text[..index]);
    out.push_str(&replacement);
    out.push_str(&text[index + from.len()..]);
    Some(out)
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// How an agency writes letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    Title,
    Upper,
    Lower,
}

pub(crate) fn apply_case(text: String, case: Case) -> String {
    match case {
        Case::Title => text,
        Case::Upper => text.to_uppercase(),
        Case::Lower => text.to_lowercase(),
    }
}

/// Day and month swapped (only possible when the day is 12 or less).
pub(crate) fn transpose_day_month(date: NaiveDate) -> Option<NaiveDate> {
    if date.day() <= 12 && date.day() != date.month() {
        NaiveDate::from_ymd_opt(date.year(), date.day(), date.month())
    } else {
        None
    }
}

/// The same day one year earlier or later (29 February falls back to the 28th).
pub(crate) fn shift_year(date: NaiveDate, years: i32) -> NaiveDate {
    let year = date.year() + years;
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), 28))
        .unwrap_or(date)
}

/// A digit slip in the day (e.g. 13 → 18, 21 → 12).
pub(crate) fn day_slip(rng: &mut Rand, date: NaiveDate) -> NaiveDate {
    let day = date.day();
    let candidate = if day >= 10 && rng.gen_bool(0.5) {
        (day % 10) * 10 + day / 10
    } else {
        (day / 10) * 10 + rng.gen_range(0..10)
    };
    NaiveDate::from_ymd_opt(date.year(), date.month(), candidate.max(1)).unwrap_or(date)
}

/// A digit slip in an identifier: substitution or adjacent transposition of digits.
pub(crate) fn mistype_identifier(rng: &mut Rand, value: &str) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    let digits: Vec<usize> = (0..chars.len())
        .filter(|&i| chars[i].is_ascii_digit())
        .collect();
    if digits.len() < 2 {
        return value.to_string();
    }
    let i = digits[rng.gen_range(0..digits.len())];
    if rng.gen_bool(0.5)
        && i + 1 < chars.len()
        && chars[i + 1].is_ascii_digit()
        && chars[i] != chars[i + 1]
    {
        chars.swap(i, i + 1);
    } else {
        let current = chars[i];
        let mut replacement = current;
        while replacement == current {
            replacement = char::from(b'0' + rng.gen_range(0..10u8));
        }
        chars[i] = replacement;
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn typo_changes_text_a_little() {
        let mut rng = Rand::seed_from_u64(3);
        for _ in 0..200 {
            let out = typo(&mut rng, "Namubiru");
            let diff = (out.chars().count() as i64 - 8).abs();
            assert!(diff <= 1, "{out}");
        }
    }

    #[test]
    fn phonetic_keeps_case_and_first_letter() {
        let mut rng = Rand::seed_from_u64(4);
        for _ in 0..200 {
            let out = phonetic(&mut rng, "Ssemakula", Country::Uganda);
            assert!(out.starts_with('S'), "{out}");
        }
    }

    #[test]
    fn transposition_and_year_shift() {
        let d = NaiveDate::from_ymd_opt(2015, 3, 7).unwrap();
        assert_eq!(transpose_day_month(d), NaiveDate::from_ymd_opt(2015, 7, 3));
        let leap = NaiveDate::from_ymd_opt(2016, 2, 29).unwrap();
        assert_eq!(
            shift_year(leap, 1),
            NaiveDate::from_ymd_opt(2017, 2, 28).unwrap()
        );
    }

    #[test]
    fn identifier_slip_changes_one_digit_area() {
        let mut rng = Rand::seed_from_u64(5);
        let out = mistype_identifier(&mut rng, "BRN-2015-1234567");
        assert_ne!(out, "BRN-2015-1234567");
        assert_eq!(out.len(), 16);
    }
}
