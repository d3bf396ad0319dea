//! Hand-written name tables and the rules that pick names from them.
//!
//! Every table is written by hand for this generator from common naming *patterns* (clan
//! names, birth-circumstance names, Christian and Muslim names, Khmer name words). None of it
//! comes from lists of real persons. Tables are ordered from most to least common: the
//! generator draws from them with a Zipf-like law and adds a long tail of syllable-generated
//! rare names.

pub(crate) mod cambodia;
pub(crate) mod uganda;

use crate::model::Sex;

/// Which sex a name is given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SexTag {
    Female,
    Male,
    Unisex,
}

impl SexTag {
    pub(crate) fn fits(self, sex: Sex) -> bool {
        matches!(
            (self, sex),
            (SexTag::Unisex, _) | (SexTag::Female, Sex::Female) | (SexTag::Male, Sex::Male)
        )
    }
}

/// One name in a table.
#[derive(Debug, Clone)]
pub(crate) struct NameEntry {
    /// The most usual Latin spelling.
    pub(crate) roman: &'static str,
    pub(crate) sex: SexTag,
    /// Other spellings clerks use for the same name (romanisation and phonetic variants).
    pub(crate) variants: Vec<&'static str>,
    /// Short forms and nicknames.
    pub(crate) nicknames: Vec<&'static str>,
    /// Khmer-script spelling (Cambodian names only).
    pub(crate) khmer: Option<&'static str>,
}

/// Parses a table written as `roman|sex|variants|nicknames|khmer` entries, one per line;
/// lists are comma-separated, trailing fields may be left out, `#` starts a comment line.
pub(crate) fn parse_table(text: &'static str) -> Vec<NameEntry> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut fields = line.split('|').map(str::trim);
            let roman = fields.next().unwrap_or_default();
            let sex = match fields.next().unwrap_or("u") {
                "f" => SexTag::Female,
                "m" => SexTag::Male,
                _ => SexTag::Unisex,
            };
            let list = |field: Option<&'static str>| -> Vec<&'static str> {
                field
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            let variants = list(fields.next());
            let nicknames = list(fields.next());
            let khmer = fields.next().filter(|s| !s.is_empty());
            NameEntry {
                roman,
                sex,
                variants,
                nicknames,
                khmer,
            }
        })
        .collect()
}

/// A name as chosen for a child or parent: a table entry or a generated rare name.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub(crate) roman: String,
    pub(crate) khmer: Option<String>,
    pub(crate) entry: Option<&'static NameEntry>,
}

impl Name {
    pub(crate) fn from_entry(entry: &'static NameEntry) -> Self {
        Name {
            roman: entry.roman.to_string(),
            khmer: entry.khmer.map(str::to_string),
            entry: Some(entry),
        }
    }

    pub(crate) fn generated(roman: String, khmer: Option<String>) -> Self {
        Name {
            roman,
            khmer,
            entry: None,
        }
    }

    pub(crate) fn variants(&self) -> &[&'static str] {
        self.entry.map(|e| e.variants.as_slice()).unwrap_or(&[])
    }

    pub(crate) fn nicknames(&self) -> &[&'static str] {
        self.entry.map(|e| e.nicknames.as_slice()).unwrap_or(&[])
    }
}

/// A table split by sex, each part with its own Zipf law.
#[derive(Debug)]
pub(crate) struct SexedTable {
    pub(crate) female: Vec<&'static NameEntry>,
    pub(crate) male: Vec<&'static NameEntry>,
    female_zipf: crate::sample::Zipf,
    male_zipf: crate::sample::Zipf,
}

impl SexedTable {
    /// Unisex entries go into both halves, keeping table order (= frequency order).
    pub(crate) fn new(entries: &'static [NameEntry], exponent: f64) -> Self {
        let female: Vec<_> = entries.iter().filter(|e| e.sex.fits(Sex::Female)).collect();
        let male: Vec<_> = entries.iter().filter(|e| e.sex.fits(Sex::Male)).collect();
        SexedTable {
            female_zipf: crate::sample::Zipf::new(female.len(), exponent, 1.5),
            male_zipf: crate::sample::Zipf::new(male.len(), exponent, 1.5),
            female,
            male,
        }
    }

    pub(crate) fn draw(&self, rng: &mut crate::sample::Rand, sex: Sex) -> &'static NameEntry {
        match sex {
            Sex::Female => self.female[self.female_zipf.sample(rng)],
            Sex::Male => self.male[self.male_zipf.sample(rng)],
        }
    }

    pub(crate) fn of(&self, sex: Sex) -> &[&'static NameEntry] {
        match sex {
            Sex::Female => &self.female,
            Sex::Male => &self.male,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_fields() {
        let table = parse_table("# comment\nSok|u|Sokh,Sukh|Sokk|សុខ\nDara|m\n");
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].variants, vec!["Sokh", "Sukh"]);
        assert_eq!(table[0].nicknames, vec!["Sokk"]);
        assert_eq!(table[0].khmer, Some("សុខ"));
        assert_eq!(table[1].sex, SexTag::Male);
        assert!(table[1].variants.is_empty());
    }
}
