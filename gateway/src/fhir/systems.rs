//! The identifier systems the registry speaks in FHIR: stable `urn:` forms, since the registry
//! has no configured public address to hang `https:` namespaces from. Source systems and
//! identifier types are codes (lower-case letters, digits, `._-`), so they are safe inside a
//! URN as they are.

use registry::ids::ChildIdError;
use registry::ChildId;

/// The registry's own child ID (`Patient.id` and the `official` identifier).
pub const CHILD_ID_SYSTEM: &str = "urn:child-registry:child-id";
/// Prefix of the record-ID system of each source system: `urn:child-registry:record:police-ug`.
pub const RECORD_SYSTEM_PREFIX: &str = "urn:child-registry:record:";
/// Prefix of the system of each identifier type: `urn:child-registry:identifier:birth_registration`.
pub const IDENTIFIER_SYSTEM_PREFIX: &str = "urn:child-registry:identifier:";

/// A child ID as FHIR carries it: a Patient id (the child ID without its check symbol, see
/// [`ChildId::without_check`]) or the full child ID.
pub fn parse_child_reference(text: &str) -> Result<ChildId, ChildIdError> {
    text.parse::<ChildId>()
        .or_else(|error| ChildId::parse_without_check(text).map_err(|_| error))
}

/// What an identifier system names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierSystem {
    ChildId,
    /// Record IDs of this source system.
    Record(String),
    /// Identifiers of this type (`birth_registration`, `student_number`, …).
    Kind(String),
}

impl IdentifierSystem {
    /// The system a URI names; `None` for a URI the registry does not issue.
    pub fn parse(uri: &str) -> Option<Self> {
        let uri = uri.trim();
        if uri == CHILD_ID_SYSTEM {
            return Some(IdentifierSystem::ChildId);
        }
        let code = |prefix: &str| {
            uri.strip_prefix(prefix)
                .filter(|code| registry::validate::code_text("system", code).is_ok())
                .map(str::to_owned)
        };
        code(RECORD_SYSTEM_PREFIX)
            .map(IdentifierSystem::Record)
            .or_else(|| code(IDENTIFIER_SYSTEM_PREFIX).map(IdentifierSystem::Kind))
    }

    pub fn uri(&self) -> String {
        match self {
            IdentifierSystem::ChildId => CHILD_ID_SYSTEM.to_owned(),
            IdentifierSystem::Record(source_system) => record_system(source_system),
            IdentifierSystem::Kind(kind) => identifier_system(kind),
        }
    }
}

pub fn record_system(source_system: &str) -> String {
    format!("{RECORD_SYSTEM_PREFIX}{source_system}")
}

pub fn identifier_system(kind: &str) -> String {
    format!("{IDENTIFIER_SYSTEM_PREFIX}{kind}")
}

/// A FHIR token `system|value` (both required here).
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let (system, value) = token.split_once('|')?;
    let (system, value) = (system.trim(), value.trim());
    (!system.is_empty() && !value.is_empty()).then_some((system, value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn systems_round_trip() {
        for system in [
            IdentifierSystem::ChildId,
            IdentifierSystem::Record("police-ug".into()),
            IdentifierSystem::Kind("birth_registration".into()),
        ] {
            assert_eq!(IdentifierSystem::parse(&system.uri()), Some(system));
        }
        assert_eq!(IdentifierSystem::parse("http://example.org/mrn"), None);
        assert_eq!(
            IdentifierSystem::parse("urn:child-registry:record:Not A Code"),
            None
        );
    }

    #[test]
    fn patient_ids_and_child_ids_name_the_same_child() {
        let child = ChildId::random();
        assert_eq!(parse_child_reference(&child.without_check()), Ok(child));
        assert_eq!(parse_child_reference(&child.to_string()), Ok(child));
        assert!(parse_child_reference("not-a-child").is_err());
    }

    #[test]
    fn tokens_need_system_and_value() {
        assert_eq!(split_token("a|b"), Some(("a", "b")));
        assert_eq!(split_token("|b"), None);
        assert_eq!(split_token("b"), None);
    }
}
