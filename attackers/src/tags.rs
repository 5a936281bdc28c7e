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

/// The techniques the attack kinds are tagged with, named as the matrix names them (a test
/// checks each against the bundled table).
impl Technique {
    /// T0803, Block Command Message.
    pub const BLOCK_COMMAND_MESSAGE: Technique = Technique {
        id: "T0803",
        name: "Block Command Message",
    };
    /// T0804, Block Reporting Message.
    pub const BLOCK_REPORTING_MESSAGE: Technique = Technique {
        id: "T0804",
        name: "Block Reporting Message",
    };
    /// T0806, Brute Force I/O.
    pub const BRUTE_FORCE_I_O: Technique = Technique {
        id: "T0806",
        name: "Brute Force I/O",
    };
    /// T0811, Data from Information Repositories.
    pub const DATA_FROM_INFORMATION_REPOSITORIES: Technique = Technique {
        id: "T0811",
        name: "Data from Information Repositories",
    };
    /// T0814, Denial of Service.
    pub const DENIAL_OF_SERVICE: Technique = Technique {
        id: "T0814",
        name: "Denial of Service",
    };
    /// T0815, Denial of View.
    pub const DENIAL_OF_VIEW: Technique = Technique {
        id: "T0815",
        name: "Denial of View",
    };
    /// T0826, Loss of Availability.
    pub const LOSS_OF_AVAILABILITY: Technique = Technique {
        id: "T0826",
        name: "Loss of Availability",
    };
    /// T0828, Loss of Productivity and Revenue.
    pub const LOSS_OF_PRODUCTIVITY_AND_REVENUE: Technique = Technique {
        id: "T0828",
        name: "Loss of Productivity and Revenue",
    };
    /// T0830, Adversary-in-the-Middle.
    pub const ADVERSARY_IN_THE_MIDDLE: Technique = Technique {
        id: "T0830",
        name: "Adversary-in-the-Middle",
    };
    /// T0831, Manipulation of Control.
    pub const MANIPULATION_OF_CONTROL: Technique = Technique {
        id: "T0831",
        name: "Manipulation of Control",
    };
    /// T0832, Manipulation of View.
    pub const MANIPULATION_OF_VIEW: Technique = Technique {
        id: "T0832",
        name: "Manipulation of View",
    };
    /// T0848, Rogue Master.
    pub const ROGUE_MASTER: Technique = Technique {
        id: "T0848",
        name: "Rogue Master",
    };
    /// T0855, Unauthorized Command Message.
    pub const UNAUTHORIZED_COMMAND_MESSAGE: Technique = Technique {
        id: "T0855",
        name: "Unauthorized Command Message",
    };
    /// T0856, Spoof Reporting Message.
    pub const SPOOF_REPORTING_MESSAGE: Technique = Technique {
        id: "T0856",
        name: "Spoof Reporting Message",
    };
    /// T0857, System Firmware.
    pub const SYSTEM_FIRMWARE: Technique = Technique {
        id: "T0857",
        name: "System Firmware",
    };
    /// T0859, Valid Accounts.
    pub const VALID_ACCOUNTS: Technique = Technique {
        id: "T0859",
        name: "Valid Accounts",
    };
    /// T0860, Wireless Compromise.
    pub const WIRELESS_COMPROMISE: Technique = Technique {
        id: "T0860",
        name: "Wireless Compromise",
    };
    /// T0862, Supply Chain Compromise.
    pub const SUPPLY_CHAIN_COMPROMISE: Technique = Technique {
        id: "T0862",
        name: "Supply Chain Compromise",
    };
    /// T0865, Spearphishing Attachment.
    pub const SPEARPHISHING_ATTACHMENT: Technique = Technique {
        id: "T0865",
        name: "Spearphishing Attachment",
    };
    /// T0866, Exploitation of Remote Services.
    pub const EXPLOITATION_OF_REMOTE_SERVICES: Technique = Technique {
        id: "T0866",
        name: "Exploitation of Remote Services",
    };
    /// T0878, Alarm Suppression.
    pub const ALARM_SUPPRESSION: Technique = Technique {
        id: "T0878",
        name: "Alarm Suppression",
    };
    /// T0882, Theft of Operational Information.
    pub const THEFT_OF_OPERATIONAL_INFORMATION: Technique = Technique {
        id: "T0882",
        name: "Theft of Operational Information",
    };
    /// T0883, Internet Accessible Device.
    pub const INTERNET_ACCESSIBLE_DEVICE: Technique = Technique {
        id: "T0883",
        name: "Internet Accessible Device",
    };
    /// T0886, Remote Services.
    pub const REMOTE_SERVICES: Technique = Technique {
        id: "T0886",
        name: "Remote Services",
    };
    /// T0887, Wireless Sniffing.
    pub const WIRELESS_SNIFFING: Technique = Technique {
        id: "T0887",
        name: "Wireless Sniffing",
    };
    /// T0891, Hardcoded Credentials.
    pub const HARDCODED_CREDENTIALS: Technique = Technique {
        id: "T0891",
        name: "Hardcoded Credentials",
    };
    /// T0893, Data from Local System.
    pub const DATA_FROM_LOCAL_SYSTEM: Technique = Technique {
        id: "T0893",
        name: "Data from Local System",
    };
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

/// The ATT&CK for ICS tactics of technique `id` (`;`-separated as the table has them), if the
/// technique exists.
pub fn technique_tactics(id: &str) -> Option<&'static str> {
    TECHNIQUES_CSV.lines().skip(1).find_map(|line| {
        let (tid, rest) = line.split_once(',')?;
        (tid == id).then(|| rest.rsplit_once(',').map_or("", |(_, t)| t))
    })
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
