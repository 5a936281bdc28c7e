//! Ground-truth tags: each attack's STRIDE category, its MITRE ATT&CK for ICS techniques and
//! the NESCOR failure scenarios it enacts.
//!
//! The technique table is a copy of ATT&CK for ICS v18.1 (`attackers/data/attack-ics/`, with its
//! source and attribution); tests check every tag against it, id and name.

use serde::Serialize;

/// The ATT&CK for ICS v18.1 technique table: `id,name,tactics` per line, with a header.
pub const TECHNIQUES_CSV: &str = include_str!("../data/attack-ics/techniques.csv");

/// A STRIDE threat category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Stride {
    /// Pretending to be someone else.
    Spoofing,
    /// Changing data or code.
    Tampering,
    /// Denying having done something.
    Repudiation,
    /// Exposing information.
    InformationDisclosure,
    /// Denying service.
    DenialOfService,
    /// Gaining rights one should not have.
    ElevationOfPrivilege,
}

impl Stride {
    /// The category as result files write it.
    pub fn name(self) -> &'static str {
        match self {
            Stride::Spoofing => "Spoofing",
            Stride::Tampering => "Tampering",
            Stride::Repudiation => "Repudiation",
            Stride::InformationDisclosure => "Information disclosure",
            Stride::DenialOfService => "Denial of service",
            Stride::ElevationOfPrivilege => "Elevation of privilege",
        }
    }
}

/// An ATT&CK for ICS technique: id and name, as the matrix spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Technique {
    /// E.g. `"T0855"`.
    pub id: &'static str,
    /// E.g. `"Unauthorized Command Message"`.
    pub name: &'static str,
}

/// What an attack kind is, for ground truth and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Tags {
    /// The attack kind, as result files write it (e.g. `"mass-disconnect"`).
    pub kind: &'static str,
    /// The NESCOR electric-sector failure scenarios it enacts ("Electric Sector Failure
    /// Scenarios and Impact Analyses", AMI section: e.g. `"AMI.1"`, an authorized employee
    /// issues an unauthorized mass remote disconnect), as exercises cite them; empty where no
    /// id has been checked against the document.
    pub nescor: &'static [&'static str],
    /// Its STRIDE category.
    pub stride: Stride,
    /// The technique that describes the attack as a whole.
    pub technique: Technique,
    /// Techniques of its steps (access, delivery, payloads).
    pub related: &'static [Technique],
}

/// Looks `id` up in the table: its name, if the technique exists.
pub fn technique_name(id: &str) -> Option<&'static str> {
    TECHNIQUES_CSV
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (tid, rest) = line.split_once(',')?;
            let name = rest.rsplit_once(',').map_or(rest, |(n, _)| n);
            Some((tid, name))
        })
        .find(|(tid, _)| *tid == id)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_is_in_the_published_matrix() {
        for tags in crate::ALL_TAGS {
            for t in std::iter::once(&tags.technique).chain(tags.related) {
                assert_eq!(
                    technique_name(t.id),
                    Some(t.name),
                    "{}: {} is not {:?} in ATT&CK for ICS v18.1",
                    tags.kind,
                    t.id,
                    t.name
                );
            }
        }
        // The table distinguishes look-alikes that secondary sources mix up.
        assert_eq!(technique_name("T0814"), Some("Denial of Service"));
        assert_eq!(technique_name("T0815"), Some("Denial of View"));
        assert_eq!(technique_name("T0999"), None);
    }
}
