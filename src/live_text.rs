//! The live range's views for people: a role's snapshot (`{"clock": .., "view": ..}`, as the
//! server sends it) as a heading and tables, for `amirange red|blue|white snapshot` and the
//! redrawn `watch` view. Numbers are grouped or rounded, times are the run's day and clock,
//! lists newest first.

use amirange_range::messages::Role;
use serde_json::Value;

/// A snapshot (`{"clock": .., "view": ..}`) for people: a heading line with the clock, then
/// the role's tables, newest first, numbers grouped.
pub fn view_text(role: Role, snapshot: &Value) -> String {
    use std::fmt::Write as _;
    let (clock, view) = (&snapshot["clock"], &snapshot["view"]);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} · pace {}x{}{}",
        text(&view["time"]),
        number(&clock["pace"]),
        if clock["paused"] == Value::Bool(true) {
            " · PAUSED"
        } else {
            ""
        },
        if clock["finished"] == Value::Bool(true) {
            " · FINISHED"
        } else {
            ""
        }
    );
    if view["messages"].as_array().is_some_and(|m| !m.is_empty()) {
        newest_table(
            &mut out,
            "messages from white",
            &["time", "message"],
            &view["messages"],
            |m| vec![at(&m["at_s"]), text(&m["message"])],
        );
    }
    match role {
        Role::Red => {
            let _ = writeln!(
                out,
                "area: {} meters on {} feeder{}; accounts: {}",
                number(&view["meters"]),
                number(&view["feeders"]),
                if view["feeders"] == 1 { "" } else { "s" },
                list(&view["accounts"])
            );
            table(
                &mut out,
                "credentials held",
                &["team", "account", "second factor"],
                &view["held"],
                |h| vec![text(&h["team"]), text(&h["account"]), yes_no(&h["second_factor"])],
            );
            table(
                &mut out,
                "keys from opened meters",
                &[
                    "team",
                    "meter",
                    "attack",
                    "state",
                    "wPort",
                    "meters it opens",
                    "encryption key",
                    "authentication key",
                ],
                &view["keys"],
                |k| {
                    vec![
                        text(&k["team"]),
                        number(&k["meter"]),
                        text(&k["attack"]),
                        text(&k["state"]),
                        number(&k["wport"]),
                        number(&k["opens_meters"]),
                        text(&k["encryption_key"]),
                        text(&k["authentication_key"]),
                    ]
                },
            );
            moves(&mut out, "attacks", &view["attacks"], &view["attacks_total"], |a| {
                vec![at(&a["at_s"]), text(&a["team"]), text(&a["id"]), text(&a["kind"])]
            });
        }
        Role::Blue | Role::White => {
            let last = |key: &str| view["timeline"][key].as_array().and_then(|a| a.last()).cloned();
            let _ = writeln!(
                out,
                "load {} kW · reads on time {}% · crews waiting {}",
                last("load_kw").map_or("-".to_owned(), |v| number(&v)),
                last("reads_on_time_pct").map_or("-".to_owned(), |v| number(&v)),
                number(&view["crews_waiting"])
            );
            if role == Role::White {
                table(
                    &mut out,
                    "scoreboard",
                    &["team", "role", "points"],
                    &view["scoreboard"]["teams"],
                    |t| vec![text(&t["team"]), text(&t["role"]), number(&t["points"])],
                );
            }
            newest_table(
                &mut out,
                "alerts",
                &["time", "severity", "detector", "count", "message"],
                &view["alerts"],
                |a| {
                    vec![
                        at(&a["t_s"]),
                        text(&a["severity"]),
                        text(&a["detector"]),
                        number(&a["count"]),
                        text(&a["message"]),
                    ]
                },
            );
            moves(
                &mut out,
                "responses",
                &view["responses"],
                &view["responses_total"],
                |b| {
                    vec![
                        at(&b["at_s"]),
                        text(&b["team"]),
                        text(&b["action"]),
                        text(&b["subject"]),
                    ]
                },
            );
            if role == Role::White {
                moves(&mut out, "attacks", &view["attacks"], &view["attacks_total"], |a| {
                    vec![at(&a["at_s"]), text(&a["team"]), text(&a["id"]), text(&a["kind"])]
                });
                table(
                    &mut out,
                    "ground truth (newest)",
                    &["time", "source", "kind", "detail"],
                    &view["truth"],
                    |t| vec![at(&t["t_s"]), text(&t["source"]), text(&t["kind"]), text(&t["detail"])],
                );
            }
        }
    }
    out
}

/// A blue query's answer (`{"of": .., "result": ..}`) for people: a table of the page, newest
/// first, with which rows of how many it shows; a meter as its facts and its reads.
pub fn query_text(answer: &Value) -> String {
    use std::fmt::Write as _;
    let result = &answer["result"];
    let mut out = String::new();
    let paged = |out: &mut String, title: &str, header: &[&str], row: &dyn Fn(&Value) -> Vec<String>| {
        let (page, per, total) = (
            result["page"].as_u64().unwrap_or(0),
            result["per_page"].as_u64().unwrap_or(20),
            result["total"].as_u64().unwrap_or(0),
        );
        let shown = result["rows"].as_array().map_or(0, Vec::len) as u64;
        let first = page * per + 1;
        let heading = if shown == 0 {
            format!(
                "{title}: none on page {page} ({} in all)",
                amirange_viz::numbers::group(total)
            )
        } else {
            format!(
                "{title}: {} to {} of {}, newest first (page {page}; --page {} for older)",
                amirange_viz::numbers::group(first),
                amirange_viz::numbers::group(first + shown - 1),
                amirange_viz::numbers::group(total),
                page + 1
            )
        };
        table(out, &heading, header, &result["rows"], row);
    };
    match answer["of"].as_str() {
        Some("audit") => paged(
            &mut out,
            "HES audit log",
            &[
                "time", "account", "kind", "purpose", "meters", "refused", "executed", "acked", "failed",
            ],
            &|a| {
                vec![
                    text(&a["time"]),
                    text(&a["account"]),
                    text(&a["kind"]),
                    text(&a["purpose"]),
                    number(&a["targets"]),
                    text(&a["refused"]),
                    number(&a["executed"]),
                    number(&a["acked"]),
                    number(&a["failed"]),
                ]
            },
        ),
        Some("events") => paged(&mut out, "relay events", &["time", "meter", "relay"], &|e| {
            vec![text(&e["time"]), number(&e["meter"]), text(&e["relay"])]
        }),
        Some("flows") => paged(
            &mut out,
            "flows the sensor saw",
            &[
                "time",
                "seconds",
                "src",
                "hosts",
                "dst",
                "port",
                "proto",
                "connections",
                "established",
                "bytes",
            ],
            &|f| {
                vec![
                    text(&f["time"]),
                    number(&f["seconds"]),
                    text(&f["src"]),
                    number(&f["sources"]),
                    text(&f["dst"]),
                    number(&f["port"]),
                    text(&f["proto"]),
                    number(&f["connections"]),
                    yes_no(&f["established"]),
                    number(&f["bytes"]),
                ]
            },
        ),
        Some("census") => {
            let _ = writeln!(
                out,
                "firmware census: {} meter(s) not answering, {} at the legacy security level",
                number(&result["not_answering"]),
                number(&result["legacy_level"])
            );
            table(&mut out, "images", &["version", "meters"], &result["images"], |i| {
                vec![text(&i["version"]), number(&i["meters"])]
            });
        }
        Some("meter") => {
            let _ = writeln!(
                out,
                "meter {}: {} on {}, feeder {}, transformer {}; relay {}; firmware {}; {}{}",
                number(&result["meter"]),
                text(&result["class"]),
                text(&result["link"]),
                number(&result["feeder"]),
                number(&result["transformer"]),
                text(&result["relay"]),
                text(&result["firmware"]),
                if result["answering"] == Value::Bool(false) {
                    "not answering"
                } else {
                    "answering"
                },
                if result["legacy_level"] == Value::Bool(true) {
                    "; at the legacy security level"
                } else {
                    ""
                }
            );
            newest_table(
                &mut out,
                "last interval reads",
                &["interval end", "Wh"],
                &result["reads"],
                |r| vec![text(&r["end"]), number(&r["wh"])],
            );
        }
        _ => {
            let _ = writeln!(out, "{answer}");
        }
    }
    out
}

/// A string value as it is, anything else as JSON, nothing as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// A number for people: whole numbers grouped by thousands, others to two decimals.
fn number(v: &Value) -> String {
    match v {
        Value::Number(n) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => amirange_viz::numbers::group(u),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => {
                let whole = amirange_viz::numbers::group(f.abs() as u64);
                if f < 0.0 { format!("-{whole}") } else { whole }
            }
            (None, Some(f)) => format!("{f:.2}"),
            _ => n.to_string(),
        },
        Value::Array(a) => amirange_viz::numbers::group(a.len() as u64),
        other => text(other),
    }
}

fn yes_no(v: &Value) -> String {
    match v {
        Value::Bool(true) => "yes".to_owned(),
        Value::Bool(false) => "no".to_owned(),
        other => text(other),
    }
}

/// Seconds since the start as the run's day and time.
fn at(v: &Value) -> String {
    let s = v.as_f64().unwrap_or(0.0).max(0.0) as u64;
    format!(
        "{}d {:02}:{:02}:{:02}",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

fn list(v: &Value) -> String {
    let items: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

/// A titled table of `rows` (a JSON array), columns padded to their widest cell; `(none)`
/// when empty.
fn table(out: &mut String, title: &str, header: &[&str], rows: &Value, row: impl Fn(&Value) -> Vec<String>) {
    use std::fmt::Write as _;
    let rows: Vec<Vec<String>> = rows.as_array().into_iter().flatten().map(row).collect();
    let _ = writeln!(
        out,
        "
{title}:"
    );
    if rows.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, &w)| format!("{c:<w$}")).collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    let _ = writeln!(out, "{}", line(header.iter().map(|h| (*h).to_owned()).collect()));
    for r in rows {
        let _ = writeln!(out, "{}", line(r));
    }
}

/// [`table`] of a list the server sends oldest first, newest first.
fn newest_table(out: &mut String, title: &str, header: &[&str], rows: &Value, row: impl Fn(&Value) -> Vec<String>) {
    let reversed = Value::Array(rows.as_array().into_iter().flatten().rev().cloned().collect());
    table(out, title, header, &reversed, row);
}

/// The newest moves of a side (attacks or responses), with how many there are in all.
fn moves(out: &mut String, what: &str, rows: &Value, total: &Value, row: impl Fn(&Value) -> Vec<String>) {
    let shown = rows.as_array().map_or(0, Vec::len);
    let title = format!("{what} ({shown} newest of {})", number(total));
    let header = if what == "attacks" {
        ["time", "team", "attack", "kind"]
    } else {
        ["time", "team", "action", "subject"]
    };
    newest_table(out, &title, &header, rows, row);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each role's snapshot reads as a heading and tables: numbers grouped and rounded (no
    /// `0.45711359999995693`), times as day and clock, newest first, `(none)` for what is empty.
    #[test]
    fn snapshots_read_as_tables_for_people() {
        let clock =
            serde_json::json!({"pace": 60.0, "paused": false, "finished": false, "max_lag_s": 0.45711359999995693});
        let red = serde_json::json!({"clock": clock, "view": {
            "time": "2026-01-15 06:40", "accounts": ["cis-integration", "sup-bob"], "feeders": 12, "meters": 10000,
            "held": [{"team": "red", "account": "cis-integration", "second_factor": false}],
            "keys": [],
            "attacks": [{"team": "red", "id": "red-phish-1", "kind": "mass-disconnect", "at_s": 3600},
                        {"team": "red", "id": "red-jam-2", "kind": "jamming", "at_s": 7260}],
            "attacks_total": 2,
        }});
        let text = view_text(Role::Red, &red);
        assert!(text.starts_with("2026-01-15 06:40 · pace 60x\n"), "{text}");
        assert!(
            text.contains("area: 10,000 meters on 12 feeders; accounts: cis-integration, sup-bob"),
            "{text}"
        );
        assert!(text.contains("  red   cis-integration  no"), "{text}");
        assert!(text.contains("keys from opened meters:\n  (none)"), "{text}");
        let jam = text
            .find("0d 02:01:00  red   red-jam-2")
            .expect("the jam, newest first");
        assert!(jam < text.find("0d 01:00:00").expect("the phish"), "{text}");
        assert!(!text.contains("0.457"), "{text}");

        let white = serde_json::json!({"clock": {"pace": 3600, "paused": true, "finished": false}, "view": {
            "time": "2026-01-15 12:00",
            "timeline": {"t_s": [900, 1800], "load_kw": [5200.0, 5312.0], "reads_on_time_pct": [99.5, 98.25]},
            "alerts": [{"t_s": 1800, "detector": "command-rate", "severity": "high", "subject": "fleet", "count": 3, "message": "3 disconnects in a minute"}],
            "scoreboard": {"teams": [{"team": "red", "role": "red", "points": 12.5}, {"team": "blue", "role": "blue", "points": 4.0}]},
            "responses": [], "responses_total": 0, "attacks": [], "attacks_total": 0, "crews_waiting": 2,
            "truth": [{"t_s": 1700, "source": "red-phish-1", "kind": "disconnect", "detail": "feeder 0"}],
        }});
        let text = view_text(Role::White, &white);
        assert!(text.contains("· PAUSED"), "{text}");
        let mut told = white.clone();
        told["view"]["messages"] =
            serde_json::json!([{"at_s": 600, "message": "storm at 13:00"}, {"at_s": 660, "message": "crews back"}]);
        let heard = view_text(Role::Red, &told);
        let (storm, crews) = (heard.find("storm at 13:00"), heard.find("crews back"));
        assert!(
            heard.contains("messages from white:") && crews < storm && crews.is_some(),
            "newest first: {heard}"
        );
        assert!(
            text.contains("load 5,312 kW · reads on time 98.25% · crews waiting 2"),
            "{text}"
        );
        assert!(text.contains("  red   red   12.50"), "{text}");
        assert!(
            text.contains("0d 00:30:00  high      command-rate  3      3 disconnects in a minute"),
            "{text}"
        );
        assert!(text.contains("responses (0 newest of 0):\n  (none)"), "{text}");
        assert!(text.contains("ground truth (newest):"), "{text}");
        let blue = view_text(Role::Blue, &white);
        assert!(!blue.contains("scoreboard") && !blue.contains("ground truth"), "{blue}");
    }
}
