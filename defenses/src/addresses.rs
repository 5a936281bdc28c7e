//! The simulated utility's address plan: which IPv4 addresses and ports each zone and service
//! of the AMI uses, so that flows (and IDS rules over them) name real addresses.
//!
//! | zone | network | hosts |
//! | --- | --- | --- |
//! | corporate IT (`$CORP_NET`) | 10.1.0.0/16 | operator workstations 10.1.1.x (account index + 10), CIS 10.1.0.20 |
//! | HES (`$HES_NET`) | 10.10.0.0/24 | front end (MQTT broker) 10.10.0.10, command server 10.10.0.11 |
//! | MDM (`$MDM_NET`) | 10.11.0.0/24 | MDM 10.11.0.10 |
//! | SCADA (`$SCADA_NET`) | 10.12.0.0/24 | SCADA master 10.12.0.10, feeder RTUs 10.12.0.100 + feeder |
//! | collectors (`$COLLECTOR_NET`) | 10.20.0.0/16 | collector n at 10.20.0.0 + n + 1 |
//! | field network (`$FIELD_NET`) | 10.64.0.0/10 | meter m at 10.64.0.0 + m + 1 |
//! | rogue radios | 10.63.255.0/24 | a rogue concentrator with attack code k at 10.63.255.k (link addresses in field captures) |
//! | outside | anything else | an attacker's hosts, e.g. 203.0.113.0/24 |
//!
//! `$HOME_NET` is 10.0.0.0/8 and `$EXTERNAL_NET` is `!$HOME_NET`.
//!
//! | service | port |
//! | --- | --- |
//! | MQTT (collectors' uploads to the HES front end) | 1883 |
//! | DLMS/COSEM wrapper (the HES to collectors, collectors' backhaul endpoint) | 4059 |
//! | HTTPS (operators to the HES, the MDM's exports) | 443 |
//! | DNP3 (SCADA to feeder RTUs) | 20000 |

use std::net::Ipv4Addr;

/// Address variables and their values, in the order rule files usually list them.
pub const ADDRESS_VARS: [(&str, &str); 8] = [
    ("HOME_NET", "10.0.0.0/8"),
    ("EXTERNAL_NET", "!$HOME_NET"),
    ("CORP_NET", "10.1.0.0/16"),
    ("HES_NET", "10.10.0.0/24"),
    ("MDM_NET", "10.11.0.0/24"),
    ("SCADA_NET", "10.12.0.0/24"),
    ("COLLECTOR_NET", "10.20.0.0/16"),
    ("FIELD_NET", "10.64.0.0/10"),
];

/// Port variables and their values.
pub const PORT_VARS: [(&str, &str); 4] = [
    ("MQTT_PORTS", "1883"),
    ("DLMS_PORTS", "4059"),
    ("HTTP_PORTS", "443"),
    ("DNP3_PORTS", "20000"),
];

/// MQTT: collectors' uploads to the HES front end.
pub const MQTT: u16 = 1883;
/// The DLMS/COSEM wrapper port: the HES to collectors.
pub const DLMS: u16 = 4059;
/// HTTPS.
pub const HTTPS: u16 = 443;
/// DNP3.
pub const DNP3: u16 = 20000;

/// The HES front end (MQTT broker).
pub const HES_FRONT_END: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 10);
/// The HES command server (operators' sessions).
pub const HES_COMMANDS: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 11);
/// The MDM.
pub const MDM: Ipv4Addr = Ipv4Addr::new(10, 11, 0, 10);
/// The customer information system (billing), in corporate IT.
pub const CIS: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 20);
/// The SCADA master.
pub const SCADA_MASTER: Ipv4Addr = Ipv4Addr::new(10, 12, 0, 10);

/// An operator account's workstation.
pub fn workstation(account: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 1, 0)) + u32::from(account) + 10)
}

/// A feeder's RTU.
pub fn rtu(feeder: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 12, 0, 100)).wrapping_add(feeder))
}

/// A collector.
pub fn collector(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 20, 0, 0)) + (n & 0xffff) + 1)
}

/// A meter on the field network.
pub fn meter(m: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 64, 0, 0)) + (m & 0x003f_ffff) + 1)
}

/// The radio of a rogue concentrator (attack code `code`): in no zone of the plan, so that
/// it is no collector the utility knows. A field capture shows it as the link address that
/// relays its victims' exchanges.
pub fn rogue_radio(code: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 63, 255, code)
}

/// The host number of an address outside the utility, as [`outside`] numbers them.
pub fn outside_host(ip: Ipv4Addr) -> Option<u32> {
    let n = u32::from(ip).checked_sub(u32::from(Ipv4Addr::new(203, 0, 113, 1)))?;
    (n < 0x0010_0000).then_some(n)
}

/// Host `n` of an attacker's botnet or infrastructure outside the utility (wrapping within
/// 203.0.113.0/24 and the blocks after it).
pub fn outside(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(203, 0, 113, 1)).wrapping_add(n % 0x0010_0000))
}
