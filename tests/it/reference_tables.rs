//! The field tables of the scenario reference (`docs/scenarios.md`, `docs/topologies.md`,
//! `docs/attacks.md`, `docs/defenses.md`), generated from the types a scenario file is read
//! into, and kept current.
//!
//! Each table is rendered from the type's JSON Schema (`schemars`), so its rows are the type's
//! fields in declaration order (as serde lists them), each with its type, its default and its
//! doc comment as the meaning; a detector's table is that of its `DetectorSpec` variant, and a
//! variant without fields says so in one line. A doc comment's lines starting `Default:` fill the default
//! column; otherwise a required field says `required` and an optional one the default serde
//! fills in, or `—` when leaving it out means what its meaning says. A table sits in its file
//! between `<!-- generated:NAME -->` and `<!-- end generated:NAME -->`; everything else in the
//! files is prose and left alone.
//!
//! A table that differs from the types fails here, naming the file and the table;
//! `AMIRANGE_BLESS=1 cargo test --test it reference_tables` rewrites them (review the diff).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde_json::Value;

use amirange::scenario as sc;
use amirange_attackers as at;
use amirange_defenses::spec as df;
use amirange_topologies::spec as topo;

/// One generated table.
struct Table {
    /// The name in its markers.
    name: &'static str,
    /// The docs file that holds it, relative to the repository root.
    file: &'static str,
    /// What every field name in the table is prefixed with (`hes.`).
    prefix: &'static str,
    /// The type's JSON Schema.
    schema: Value,
    /// The type's fields in declaration order.
    fields: Vec<&'static str>,
}

fn table<T: JsonSchema + de::DeserializeOwned>(name: &'static str, file: &'static str, prefix: &'static str) -> Table {
    Table {
        name,
        file,
        prefix,
        schema: schemars::schema_for!(T).to_value(),
        fields: field_order::<T>(),
    }
}

/// The docs file of the defenses' tables.
const DEFENSES: &str = "docs/defenses.md";

/// The table of enum `T`'s struct variant `variant`: its fields, as the scenario writes them
/// inside `Variant(...)`.
fn variant_table<T: JsonSchema + de::DeserializeOwned>(variant: &'static str, file: &'static str) -> Table {
    let root = schemars::schema_for!(T).to_value();
    let mut schema = root["oneOf"]
        .as_array()
        .expect("an enum")
        .iter()
        .find_map(|v| v["properties"].get(variant))
        .unwrap_or_else(|| panic!("no variant {variant}"))
        .clone();
    schema["$defs"] = root.get("$defs").cloned().unwrap_or(Value::Null);
    Table {
        name: variant,
        file,
        prefix: "",
        schema,
        fields: variant_field_order::<T>(variant),
    }
}

/// Every generated table.
fn tables() -> Vec<Table> {
    const SCENARIOS: &str = "docs/scenarios.md";
    const TOPOLOGIES: &str = "docs/topologies.md";
    const ATTACKS: &str = "docs/attacks.md";
    let mut tables = vec![
        table::<sc::RawScenario>("scenario", SCENARIOS, ""),
        table::<sc::RawClass>("consumption", SCENARIOS, "consumption.<class>."),
        table::<sc::RawMetering>("metering", SCENARIOS, "metering."),
        table::<sc::RawOperationRates>("operation_rates", SCENARIOS, "operation_rates."),
        table::<sc::RawCampaign>("firmware_campaign", SCENARIOS, "operation_rates.firmware_campaign."),
        table::<sc::RawDemandResponse>("demand_response", SCENARIOS, "operation_rates.demand_response."),
        table::<sc::RawHes>("hes", SCENARIOS, "hes."),
        table::<sc::RawAccount>("account", SCENARIOS, "hes.accounts[]."),
        table::<sc::RawSecurity>("security", SCENARIOS, "security."),
        table::<sc::RawFirmware>("firmware", SCENARIOS, "security.firmware."),
        table::<sc::RawMdm>("mdm", SCENARIOS, "mdm."),
        table::<sc::RawColdLoad>("cold_load", SCENARIOS, "cold_load."),
        table::<sc::RawFrequency>("frequency", SCENARIOS, "frequency."),
        table::<sc::RawLosses>("grid_losses", SCENARIOS, "grid.losses."),
        table::<sc::RawProtection>("grid_protection", SCENARIOS, "grid.protection."),
        table::<sc::RawCommandPolicy>("command_policy", SCENARIOS, "defenses.command_policy."),
        table::<sc::RawRateLimit>("rate_limit", SCENARIOS, "defenses.command_policy.disconnect_limit_*."),
        table::<topo::AreaSpec>("area", TOPOLOGIES, ""),
        table::<topo::ClassMix>("class_mix", TOPOLOGIES, "class_mix."),
        table::<topo::ClassAnnualKwh>("class_annual_kwh", TOPOLOGIES, "class_annual_kwh."),
        table::<topo::FacilityMix>("facility_mix", TOPOLOGIES, "facility_mix."),
        table::<topo::LinkShares>("link_shares", TOPOLOGIES, "link_shares."),
        table::<topo::RadioSpec>("radio", TOPOLOGIES, "radio."),
        table::<topo::MeshSpec>("mesh", TOPOLOGIES, "mesh."),
        table::<topo::PlcSpec>("plc", TOPOLOGIES, "plc."),
        table::<topo::CellularSpec>("cellular", TOPOLOGIES, "cellular."),
        table::<topo::BackhaulSpec>("backhaul", TOPOLOGIES, "backhaul."),
        table::<topo::MessageSpec>("messages", TOPOLOGIES, "messages."),
        table::<at::mass_disconnect::Spec>("MassDisconnect", ATTACKS, ""),
        table::<at::jamming::Spec>("Jamming", ATTACKS, ""),
        table::<at::rogue_firmware::Spec>("RogueFirmware", ATTACKS, ""),
        table::<at::cloning::Spec>("MeterCloning", ATTACKS, ""),
        table::<at::theft::Spec>("EnergyTheft", ATTACKS, ""),
        table::<at::replay::Spec>("Replay", ATTACKS, ""),
        table::<at::command_flood::Spec>("CommandFlood", ATTACKS, ""),
        table::<at::lateral::Spec>("LateralMovement", ATTACKS, ""),
        table::<at::exfiltration::Spec>("DataExfiltration", ATTACKS, ""),
        table::<at::load_switching::Spec>("LoadSwitching", ATTACKS, ""),
        table::<at::downgrade::Spec>("ProtocolDowngrade", ATTACKS, ""),
        table::<at::rogue_concentrator::Spec>("RogueConcentrator", ATTACKS, ""),
        table::<at::connection_flood::Spec>("ConnectionFlood", ATTACKS, ""),
        table::<at::demand_response::Spec>("DemandResponseForgery", ATTACKS, ""),
        table::<sc::RawDefenses>("defenses", DEFENSES, "defenses."),
        table::<df::PlaybookSpec>("playbook", DEFENSES, "defenses.playbooks[]."),
        table::<df::RestorationSpec>("restoration", DEFENSES, "defenses.restoration."),
    ];
    for kind in df::DetectorKind::ALL {
        tables.push(variant_table::<df::DetectorSpec>(kind_variant(kind), DEFENSES));
    }
    tables
}

/// The `DetectorSpec` variant of a detector kind, as a scenario names it.
fn kind_variant(kind: df::DetectorKind) -> &'static str {
    match kind {
        df::DetectorKind::CommandRate => "CommandRate",
        df::DetectorKind::ConsumptionBaseline => "ConsumptionBaseline",
        df::DetectorKind::ZeroAtPeak => "ZeroAtPeak",
        df::DetectorKind::EnergyBalance => "EnergyBalance",
        df::DetectorKind::MissingReadCluster => "MissingReadCluster",
        df::DetectorKind::FirmwareDrift => "FirmwareDrift",
        df::DetectorKind::FrameCounter => "FrameCounter",
        df::DetectorKind::UnknownDevice => "UnknownDevice",
        df::DetectorKind::InventoryDrift => "InventoryDrift",
        df::DetectorKind::FrequencyExcursion => "FrequencyExcursion",
    }
}

// --- Field order -------------------------------------------------------------------------

/// Stops a probing deserialization.
#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_: T) -> Stop {
        Stop
    }
}

/// A deserializer that answers nothing and records the field list a struct asks it for.
struct FieldProbe<'a>(&'a mut Vec<&'static str>);

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.extend_from_slice(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// A struct's field names in declaration order: the list serde's derive hands its deserializer.
fn field_order<T: de::DeserializeOwned>() -> Vec<&'static str> {
    let mut fields = Vec::new();
    assert!(T::deserialize(FieldProbe(&mut fields)).is_err());
    fields
}

/// A deserializer that answers an enum with one variant and records the field list that
/// variant, a struct variant, asks for.
struct VariantProbe<'a> {
    /// The variant to answer with.
    variant: &'static str,
    /// Where its fields go.
    fields: &'a mut Vec<&'static str>,
}

impl<'de> de::Deserializer<'de> for VariantProbe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> de::EnumAccess<'de> for VariantProbe<'_> {
    type Error = Stop;
    type Variant = Self;

    fn variant_seed<V: de::DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Stop> {
        let name: de::value::StrDeserializer<'_, Stop> = de::IntoDeserializer::into_deserializer(self.variant);
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> de::VariantAccess<'de> for VariantProbe<'_> {
    type Error = Stop;

    fn unit_variant(self) -> Result<(), Stop> {
        Err(Stop)
    }

    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, _: T) -> Result<T::Value, Stop> {
        Err(Stop)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], _: V) -> Result<V::Value, Stop> {
        self.fields.extend_from_slice(fields);
        Err(Stop)
    }
}

/// The field names of enum `T`'s struct variant `variant`, in declaration order.
fn variant_field_order<T: de::DeserializeOwned>(variant: &'static str) -> Vec<&'static str> {
    let mut fields = Vec::new();
    assert!(
        T::deserialize(VariantProbe {
            variant,
            fields: &mut fields
        })
        .is_err()
    );
    fields
}

// --- Rendering ---------------------------------------------------------------------------

/// A schema's type as a reader of the file writes it.
fn type_of(s: &Value, defs: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return match defs.get(name) {
            Some(def) => type_of(def, defs),
            None => name.to_owned(),
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = s.get(key) {
            let parts: Vec<String> = options
                .iter()
                .filter(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .map(|o| type_of(o, defs))
                .collect();
            return or_list(&parts);
        }
    }
    if let Some(Value::Array(values)) = s.get("enum") {
        let parts: Vec<String> = values.iter().filter(|v| !v.is_null()).map(literal).collect();
        return or_list(&parts);
    }
    if let Some(v) = s.get("const") {
        return literal(v);
    }
    let kinds: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    };
    match kinds.first().copied() {
        Some("integer") => "integer".to_owned(),
        Some("number") => "number".to_owned(),
        Some("string") => "string".to_owned(),
        Some("boolean") => "`true` or `false`".to_owned(),
        Some("array") => {
            if let Some(Value::Array(items)) = s.get("prefixItems") {
                let parts: Vec<String> = items.iter().map(|i| type_of(i, defs)).collect();
                format!("({})", parts.join(", "))
            } else {
                match s.get("items") {
                    Some(items) => format!("list of {}", type_of(items, defs)),
                    None => "list".to_owned(),
                }
            }
        }
        Some("object") => match s.get("properties").and_then(Value::as_object) {
            // An enum variant with data, as serde tags it externally: `Variant(..)`.
            Some(props)
                if props.len() == 1
                    && s.get("required")
                        .is_some_and(|r| r.as_array().is_some_and(|r| r.len() == 1))
                    && !props.contains_key("id")
                    && props.keys().all(|k| k.starts_with(char::is_uppercase)) =>
            {
                format!("`{}(..)`", props.keys().next().map_or("", String::as_str))
            }
            Some(_) => "`(..)`".to_owned(),
            None => match s.get("additionalProperties") {
                Some(v) if v.is_object() => format!("map of string to {}", type_of(v, defs)),
                _ => "map".to_owned(),
            },
        },
        _ => "any".to_owned(),
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A JSON value as RON writes it, in backticks.
fn literal(v: &Value) -> String {
    let text = match v {
        Value::String(s)
            if !s.is_empty()
                && s.chars().all(|c| c.is_alphanumeric() || c == '_')
                && s.starts_with(char::is_uppercase) =>
        {
            s.clone()
        }
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        other => other.to_string(),
    };
    format!("`{text}`")
}

/// A doc comment split into its meaning and its `Default:` text, each on one line.
fn meaning_and_default(doc: &str) -> (String, Option<String>) {
    let mut meaning: Vec<&str> = Vec::new();
    let mut default: Vec<&str> = Vec::new();
    let mut in_default = false;
    for line in doc.lines() {
        let line = line.trim();
        if line.is_empty() {
            in_default = false;
            continue;
        }
        if let Some(rest) = line.strip_prefix("Default:") {
            in_default = true;
            default.push(rest.trim());
            continue;
        }
        if line.starts_with("Allowed:") {
            in_default = false;
        }
        if in_default {
            default.push(line);
        } else {
            meaning.push(line);
        }
    }
    let default = (!default.is_empty()).then(|| {
        let text = default.join(" ");
        text.strip_suffix('.').map_or(text.clone(), str::to_owned)
    });
    (meaning.join(" "), default)
}

/// A table cell: no line breaks, no bare `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The Markdown table of one type.
fn render(table: &Table) -> String {
    let schema = &table.schema;
    let empty = serde_json::Map::new();
    let props = schema.get("properties").and_then(Value::as_object).unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut names: Vec<&str> = table
        .fields
        .iter()
        .copied()
        .filter(|f| props.contains_key(*f))
        .collect();
    for name in props.keys() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return format!("`{}()` has no fields.\n", table.name);
    }
    let mut out = String::from("| field | type | default | meaning |\n| --- | --- | --- | --- |\n");
    for name in names {
        let prop = &props[name];
        let doc = prop.get("description").and_then(Value::as_str).unwrap_or("");
        let (meaning, doc_default) = meaning_and_default(doc);
        let default = match doc_default {
            Some(d) => d,
            None if required.contains(&name) => "required".to_owned(),
            None => match prop.get("default") {
                None | Some(Value::Null) => "—".to_owned(),
                Some(v) => literal(v),
            },
        };
        writeln!(
            out,
            "| `{}{name}` | {} | {} | {} |",
            table.prefix,
            cell(&type_of(prop, &defs)),
            cell(&default),
            cell(&meaning)
        )
        .expect("a String takes writes");
    }
    out
}

/// `text` with every table of `tables` rendered between its markers, and what is wrong with the
/// markers.
fn splice(file: &str, text: &str, tables: &[&Table]) -> (String, Vec<String>) {
    let mut out = text.to_owned();
    let mut problems = Vec::new();
    for table in tables {
        let start = format!("<!-- generated:{} -->\n", table.name);
        let end = format!("<!-- end generated:{} -->", table.name);
        match (out.find(&start), out.find(&end)) {
            (Some(a), Some(b)) if a + start.len() <= b && out.matches(&start).count() == 1 => {
                out.replace_range(a + start.len()..b, &render(table));
            }
            _ => problems.push(format!(
                "{file}: no single `{}` ... `{end}` block for the table of `{}`",
                start.trim_end(),
                table.name
            )),
        }
    }
    for (at, _) in text.match_indices("<!-- generated:") {
        let name = text[at + 15..].split(" -->").next().unwrap_or("");
        if !tables.iter().any(|t| t.name == name) {
            problems.push(format!("{file}: a block for `{name}`, which is no generated table"));
        }
    }
    (out, problems)
}

/// Every generated table in the docs matches the types it is generated from.
#[test]
fn the_docs_field_tables_match_the_types() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("AMIRANGE_BLESS").is_some();
    let tables = tables();
    let mut by_file: BTreeMap<&str, Vec<&Table>> = BTreeMap::new();
    for t in &tables {
        let has_properties = t
            .schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|p| !p.is_empty());
        assert_eq!(
            t.fields.is_empty(),
            !has_properties,
            "{}: serde's fields against the schema's",
            t.name
        );
        by_file.entry(t.file).or_default().push(t);
    }
    let mut failures = Vec::new();
    for (file, its) in by_file {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (now, problems) = splice(file, &text, &its);
        failures.extend(problems);
        if now != text {
            if bless {
                std::fs::write(&path, &now).unwrap_or_else(|e| panic!("{file}: {e}"));
            } else {
                let stale: Vec<&str> = its
                    .iter()
                    .filter(|t| !text.contains(&render(t)))
                    .map(|t| t.name)
                    .collect();
                failures.push(format!("{file}: the generated tables {stale:?} are stale"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nthe tables are generated from the types' doc comments: run \
         `AMIRANGE_BLESS=1 cargo test --test it reference_tables` and review the diff",
        failures.join("\n")
    );
}

/// Every attack kind has its table: a new kind without one fails here.
#[test]
fn every_attack_kind_has_a_table() {
    let schema = schemars::schema_for!(at::AttackSpec).to_value();
    let kinds: Vec<String> = schema["oneOf"]
        .as_array()
        .expect("AttackSpec is an enum")
        .iter()
        .filter_map(|variant| variant["properties"].as_object())
        .flat_map(|props| props.keys().cloned())
        .collect();
    assert_eq!(kinds.len(), at::ALL_TAGS.len(), "{kinds:?}");
    let tables = tables();
    for kind in &kinds {
        assert!(
            tables
                .iter()
                .any(|t| t.name == kind.as_str() && t.file == "docs/attacks.md"),
            "the attack kind {kind} has no table: add `table::<its module::Spec>(\"{kind}\", ATTACKS, \"\")` \
             to tables() in tests/it/reference_tables.rs and its block to docs/attacks.md"
        );
    }
}

/// Every detector kind has its table in docs/defenses.md: a new detector without one fails
/// here.
#[test]
fn every_detector_kind_has_a_table() {
    let schema = schemars::schema_for!(df::DetectorSpec).to_value();
    let variants: Vec<String> = schema["oneOf"]
        .as_array()
        .expect("DetectorSpec is an enum")
        .iter()
        .filter_map(|variant| variant["properties"].as_object())
        .flat_map(|props| props.keys().cloned())
        .collect();
    assert_eq!(variants.len(), df::DetectorKind::ALL.len(), "{variants:?}");
    let tables = tables();
    for variant in &variants {
        assert!(
            tables.iter().any(|t| t.name == variant.as_str() && t.file == DEFENSES),
            "the detector {variant} has no table: add its kind to kind_variant() in \
             tests/it/reference_tables.rs and its block to docs/defenses.md"
        );
    }
}

/// The field probes list a struct's and a struct variant's fields in declaration order, and
/// every documented field has a meaning.
#[test]
fn tables_list_fields_in_declaration_order_with_a_meaning() {
    assert_eq!(
        field_order::<sc::RawMetering>(),
        [
            "read_cycle",
            "read_deadline",
            "chronic_share",
            "dark_days",
            "lit_days",
            "collector_outages_per_year",
            "collector_outage_mean",
            "weather_day_share",
            "weather_success"
        ],
        "declaration order"
    );
    assert_eq!(
        variant_field_order::<df::DetectorSpec>("EnergyBalance"),
        ["gap", "intervals", "transformer_meters", "transformer_gap"],
        "declaration order"
    );
    assert!(variant_field_order::<df::DetectorSpec>("FrameCounter").is_empty());
    for t in tables() {
        let rendered = render(&t);
        for line in rendered.lines().skip(2) {
            assert!(
                !line.ends_with("|  |"),
                "{}: a field without a doc comment: {line}",
                t.name
            );
        }
    }
}
