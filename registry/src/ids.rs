//! Child IDs: 60 random bits written as 12 Crockford base32 symbols plus one check symbol.
//!
//! The check symbol is the 60-bit value modulo 37, written with Crockford's extended check
//! alphabet. Because 37 is prime and larger than every symbol value, any single substitution
//! and any adjacent transposition changes the value modulo 37, so a mistyped ID never resolves
//! to another child.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ENCODE: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
const DATA_SYMBOLS: usize = 12;
const ID_BITS: u32 = 60;

/// A child's permanent identifier, e.g. `7KQ2-M9XA-04TB-S`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildId(u64);

/// Why a string is not a child ID; the message is meant for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildIdError {
    #[error("a child ID has 12 characters and a check character (e.g. 7KQ2-M9XA-04TB-S); this one has {0}")]
    Length(usize),
    #[error("'{0}' is not a character used in child IDs")]
    Symbol(char),
    #[error("the check character does not match: the child ID was probably mistyped")]
    Check,
}

impl ChildId {
    /// A fresh random ID from the operating system's CSPRNG (never derived from personal data).
    pub fn random() -> Self {
        let bits = rand::rngs::OsRng.next_u64() >> (64 - ID_BITS);
        ChildId(bits)
    }

    /// The 60-bit value; exposed for tests and storage only.
    pub fn value(self) -> u64 {
        self.0
    }

    pub fn from_value(value: u64) -> Option<Self> {
        (value >> ID_BITS == 0).then_some(ChildId(value))
    }

    /// The ID without its check symbol, hyphenated: `7KQ2-M9XA-04TB`. For places that allow
    /// only letters, digits, `-` and `.` (a FHIR resource id), since the check symbol may be
    /// one of `*~$=`.
    pub fn without_check(self) -> String {
        let compact = self.compact();
        format!("{}-{}-{}", &compact[0..4], &compact[4..8], &compact[8..12])
    }

    /// Reads the form of [`ChildId::without_check`] (any case, hyphens optional).
    pub fn parse_without_check(input: &str) -> Result<Self, ChildIdError> {
        let symbols: Vec<char> = input
            .trim()
            .chars()
            .filter(|symbol| *symbol != '-' && *symbol != ' ')
            .collect();
        if symbols.len() != DATA_SYMBOLS {
            return Err(ChildIdError::Length(symbols.len()));
        }
        let mut value = 0u64;
        for &symbol in &symbols {
            let digit = data_symbol_value(symbol).ok_or(ChildIdError::Symbol(symbol))?;
            value = (value << 5) | digit;
        }
        Ok(ChildId(value))
    }

    /// The 13 symbols without hyphens, e.g. `7KQ2M9XA04TBS`.
    pub fn compact(self) -> String {
        let mut out = String::with_capacity(DATA_SYMBOLS + 1);
        for position in (0..DATA_SYMBOLS).rev() {
            let symbol = (self.0 >> (position * 5)) & 0x1f;
            out.push(ENCODE[symbol as usize] as char);
        }
        out.push(CHECK[(self.0 % 37) as usize] as char);
        out
    }
}

/// Reads a data symbol the forgiving Crockford way: any case, I/L as 1, O as 0.
fn data_symbol_value(symbol: char) -> Option<u64> {
    let upper = match symbol.to_ascii_uppercase() {
        'I' | 'L' => '1',
        'O' => '0',
        other => other,
    };
    ENCODE
        .iter()
        .position(|&candidate| candidate as char == upper)
        .map(|index| index as u64)
}

fn check_symbol_value(symbol: char) -> Option<u64> {
    if symbol.eq_ignore_ascii_case(&'u') {
        return Some(36);
    }
    if let Some(value) = data_symbol_value(symbol) {
        return Some(value);
    }
    CHECK[32..]
        .iter()
        .position(|&candidate| candidate as char == symbol)
        .map(|index| 32 + index as u64)
}

impl FromStr for ChildId {
    type Err = ChildIdError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let symbols: Vec<char> = input
            .trim()
            .chars()
            .filter(|symbol| *symbol != '-' && *symbol != ' ')
            .collect();
        if symbols.len() != DATA_SYMBOLS + 1 {
            return Err(ChildIdError::Length(symbols.len()));
        }
        let mut value = 0u64;
        for &symbol in &symbols[..DATA_SYMBOLS] {
            let digit = data_symbol_value(symbol).ok_or(ChildIdError::Symbol(symbol))?;
            value = (value << 5) | digit;
        }
        let check_symbol = symbols[DATA_SYMBOLS];
        let check = check_symbol_value(check_symbol).ok_or(ChildIdError::Symbol(check_symbol))?;
        if value % 37 != check {
            return Err(ChildIdError::Check);
        }
        Ok(ChildId(value))
    }
}

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let compact = self.compact();
        write!(
            f,
            "{}-{}-{}-{}",
            &compact[0..4],
            &compact[4..8],
            &compact[8..12],
            &compact[12..]
        )
    }
}

impl fmt::Debug for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChildId({self})")
    }
}

impl Serialize for ChildId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChildId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for ChildId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Child ID: 12 Crockford base32 symbols and a check symbol, grouped XXXX-XXXX-XXXX-C",
            ))
            .examples([serde_json::json!("7KQ2-M9XA-04TB-S")])
            .into()
    }
}

impl utoipa::ToSchema for ChildId {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_id() -> impl Strategy<Value = ChildId> {
        (0u64..(1 << ID_BITS)).prop_map(ChildId)
    }

    proptest! {
        #[test]
        fn without_check_round_trips_and_stays_alphanumeric(id in any_id()) {
            let text = id.without_check();
            prop_assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
            prop_assert_eq!(ChildId::parse_without_check(&text), Ok(id));
            prop_assert!(id.to_string().starts_with(&text));
        }

        #[test]
        fn display_round_trips(id in any_id()) {
            prop_assert_eq!(id.to_string().parse::<ChildId>(), Ok(id));
            prop_assert_eq!(id.compact().parse::<ChildId>(), Ok(id));
            prop_assert_eq!(id.to_string().to_lowercase().parse::<ChildId>(), Ok(id));
        }

        #[test]
        fn every_single_substitution_is_detected(id in any_id(), position in 0usize..13, replacement in 0usize..37) {
            let mut symbols: Vec<char> = id.compact().chars().collect();
            let alphabet = if position < DATA_SYMBOLS { &ENCODE[..] } else { &CHECK[..] };
            let replacement = alphabet[replacement % alphabet.len()] as char;
            prop_assume!(symbols[position] != replacement);
            symbols[position] = replacement;
            let typed: String = symbols.into_iter().collect();
            prop_assert!(typed.parse::<ChildId>().is_err(), "{} accepted", typed);
        }

        #[test]
        fn every_adjacent_transposition_is_detected(id in any_id(), position in 0usize..12) {
            let mut symbols: Vec<char> = id.compact().chars().collect();
            prop_assume!(symbols[position] != symbols[position + 1]);
            symbols.swap(position, position + 1);
            let typed: String = symbols.into_iter().collect();
            prop_assert!(typed.parse::<ChildId>().is_err(), "{} accepted", typed);
        }
    }

    #[test]
    fn exhaustive_substitutions_and_transpositions_for_sample_ids() {
        for id in [
            ChildId(0),
            ChildId((1 << ID_BITS) - 1),
            ChildId(0x0012_3456_789a_bcde),
        ] {
            let symbols: Vec<char> = id.compact().chars().collect();
            for position in 0..symbols.len() {
                let alphabet = if position < DATA_SYMBOLS {
                    &ENCODE[..]
                } else {
                    &CHECK[..]
                };
                for &replacement in alphabet {
                    let mut typed = symbols.clone();
                    if typed[position] == replacement as char {
                        continue;
                    }
                    typed[position] = replacement as char;
                    let typed: String = typed.into_iter().collect();
                    assert!(typed.parse::<ChildId>().is_err(), "{typed} accepted");
                }
            }
        }
    }

    #[test]
    fn forgiving_reading() {
        let id = ChildId(0x0012_3456_789a_bcde);
        let typed = id
            .to_string()
            .replace('1', "l")
            .replace('0', "o")
            .to_lowercase();
        assert_eq!(typed.parse::<ChildId>(), Ok(id));
    }

    #[test]
    fn clear_errors() {
        assert_eq!("ABC".parse::<ChildId>(), Err(ChildIdError::Length(3)));
        assert_eq!(
            "7KQ2-M9XA-04TB-!".parse::<ChildId>(),
            Err(ChildIdError::Symbol('!'))
        );
        let id = ChildId(12345);
        let mut wrong = id.compact();
        let check = wrong.pop().unwrap_or('0');
        wrong.push(if check == '0' { '1' } else { '0' });
        assert_eq!(wrong.parse::<ChildId>(), Err(ChildIdError::Check));
    }

    #[test]
    fn random_ids_fit_sixty_bits() {
        for _ in 0..1000 {
            assert!(ChildId::random().value() < 1 << ID_BITS);
        }
    }
}
