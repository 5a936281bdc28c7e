//! The HES's command policy against the attacks it is meant to stop: disconnect rate limits
//! bound a mass disconnect, two-person approval stops a single stolen account, an HSM-quorum
//! signature checked at the meter stops a compromised HES, protected critical facilities keep
//! their supply; and the utility's own work still gets through.

use amirange::run::Finished;
use amirange::scenario::{Overrides, Scenario};
use amirange_sim::hes::{AuditRecord, Refusal};
use amirange_sim::model::Cause;

const METERS: i64 = 2_000;

fn load(text: &str) -> Scenario {
    let overrides = Overrides {
        meters: Some(METERS),
        ..Overrides::default()
    };
    amirange::scenario::load("defenses.ron", text, &overrides).unwrap_or_else(|e| panic!("{e}"))
}

fn run(text: &str) -> Finished {
    amirange::run::execute(&load(text), |_, _| {}).expect("runs")
}

/// A mass disconnect of every residential customer at 17:30 with a phished operator account
/// (with its second factor), in requests of `batch` meters a minute apart, under `policy`.
fn mass_disconnect(policy: &str, batch: u32, operations: bool) -> String {
    let ops = if operations {
        "operations: Typical,\n    operation_rates: (nonpayment_per_1000_per_month: 300.0, reconnect_share: 1.0, reconnect_median: \"2h\"),"
    } else {
        ""
    };
    format!(
        r#"Scenario(
    name: "defended",
    seed: 7,
    start: "2026-01-15T00:00:00",
    duration: "1d",
    topology: Preset("town-10k"),
    {ops}
    defenses: (command_policy: ({policy})),
    attacks: [
        MassDisconnect(
            id: "md",
            at: "0d 17:30",
            access: Phishing(account: "ops-alice", success: 1.0, mfa_bypass: 1.0, at: "0d 09:00"),
            targets: Class(Residential),
            batch: {batch},
            spacing: "1m",
        ),
    ],
)"#
    )
}

/// A per-account rate limit bounds the customers a mass disconnect cuts off to what the limit
/// allows in the time the attack has (here until the end of the run: no detection or response
/// yet), and the HES refuses the rest as `rate-limited`.
#[test]
fn a_disconnect_rate_limit_bounds_a_mass_disconnect() {
    let open = run(&mass_disconnect("", 50, false));
    let unbounded = open.metrics.attacks[0].blast_radius.peak_customers_disconnected;
    assert!(unbounded > 1_000, "{unbounded}");
    let limited = run(&mass_disconnect(
        "disconnect_limit_per_account: (meters: 100, per: \"1h\")",
        50,
        false,
    ));
    let b = &limited.metrics.attacks[0].blast_radius;
    // From 17:30 to midnight: 6.5 hours, so at most 7 windows' worth.
    assert!(b.peak_customers_disconnected <= 7 * 100, "{b:?}");
    // A window's worth goes through, less the few meters dark then (chronic
    // non-communicators, about 1 %), whose commands time out.
    assert!(
        b.peak_customers_disconnected >= 90,
        "the limit lets some through: {b:?}"
    );
    let refused = limited
        .sim
        .hes()
        .audit
        .iter()
        .filter(|a| a.cause == Cause::Attack(0) && a.refused == Some(Refusal::RateLimited))
        .count();
    assert!(refused > 0);
    // A global limit bounds everyone's disconnects together.
    let global = run(&mass_disconnect(
        "disconnect_limit_global: (meters: 200, per: \"1h\")",
        50,
        false,
    ));
    let peak = global.metrics.attacks[0].blast_radius.peak_customers_disconnected;
    assert!(peak <= 7 * 200 && peak < unbounded, "{peak} of {unbounded}");
    assert!(
        global
            .sim
            .hes()
            .audit
            .iter()
            .any(|a| a.refused == Some(Refusal::RateLimited))
    );
}

/// Two-person approval stops a single stolen account's bulk request, while the utility's own
/// requests (which carry a colleague's approval) still run, after the approval latency.
#[test]
fn two_person_approval_stops_a_single_stolen_account() {
    let policy = "two_person_above: 5, approval_latency: \"15m\"";
    let finished = run(&mass_disconnect(policy, 500, true));
    let a = &finished.metrics.attacks[0];
    assert!(!a.succeeded, "{a:?}");
    assert!(
        a.failure_reason.as_deref().unwrap_or("").contains("approval-missing"),
        "{a:?}"
    );
    assert_eq!(a.blast_radius.peak_customers_disconnected, 0);
    // Every legitimate request runs: small ones need no approval, large ones (the nightly
    // key-rotation waves) carry a colleague's and join the queue after the approval latency.
    let hes = finished.sim.hes();
    let legit: Vec<_> = hes.audit.iter().filter(|r| r.cause == Cause::Operation).collect();
    assert!(
        legit.iter().all(|r| r.refused.is_none()),
        "no legitimate request is refused"
    );
    let (large, small): (Vec<&&AuditRecord>, Vec<&&AuditRecord>) = legit.iter().partition(|r| r.targets > 5);
    assert!(!large.is_empty() && !small.is_empty());
    assert!(large.iter().all(|r| r.approver.is_some() && r.executed > 0));
    assert!(small.iter().all(|r| r.approver.is_none()));
    let latency = 15 * 60 * 1_000_000;
    for j in hes.jobs.iter().filter(|j| large.iter().any(|r| r.id == j.command)) {
        assert_eq!(j.queued.0, hes.audit[j.command as usize].time.0 + latency);
    }
    // At the threshold, the same attacker is not stopped (the policy is about size).
    let small = run(&mass_disconnect(policy, 5, false));
    assert!(small.metrics.attacks[0].succeeded);
}

/// An HSM-quorum signature verified at the meter stops commands from a compromised HES, which
/// go around every check inside the HES; the same attack without it cuts customers off.
#[test]
fn an_hsm_quorum_check_at_the_meter_stops_a_compromised_hes() {
    let path = format!(
        "{}/scenarios/attacks/mass-disconnect-hes-exploit.ron",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("scenario");
    let open = run(&text);
    assert!(
        open.metrics
            .attacks
            .iter()
            .all(|a| a.blast_radius.peak_customers_disconnected > 0)
    );
    let guarded = text.replace(
        "security: (random_delay_max: \"5m\"),",
        "security: (random_delay_max: \"5m\"),\n    operations: Typical,\n    defenses: (command_policy: (hsm_quorum: true, disconnect_limit_per_account: (meters: 1, per: \"1h\"))),",
    );
    assert_ne!(guarded, text);
    let finished = run(&guarded);
    for a in &finished.metrics.attacks {
        assert_eq!(a.blast_radius.peak_customers_disconnected, 0, "{a:?}");
        assert!(!a.succeeded);
    }
    // The HES accepted the requests (the foothold goes around its checks, the rate limit
    // included); the meters rejected every job.
    let hes = finished.sim.hes();
    for r in hes.audit.iter().filter(|r| matches!(r.cause, Cause::Attack(_))) {
        assert!(r.refused.is_none() && !r.signed);
        assert_eq!(r.executed, 0);
        assert!(r.rejected > 0);
    }
    let why = finished.metrics.attacks[0].failure_reason.as_deref().unwrap_or("");
    assert!(why.contains("HSM quorum"), "{why}");
    // The utility's own (signed) commands still execute.
    let legit: Vec<_> = hes.audit.iter().filter(|r| r.cause == Cause::Operation).collect();
    assert!(legit.iter().any(|r| r.executed > 0));
    assert!(legit.iter().all(|r| r.signed && r.rejected == 0));
}

/// Protected critical facilities: a disconnect aimed at them reaches none, and the audit log
/// counts the meters the policy dropped.
#[test]
fn protected_critical_facilities_keep_their_supply() {
    let text = mass_disconnect("protect_critical: true", 500, false).replace("Class(Residential)", "Critical");
    let finished = run(&text);
    let a = &finished.metrics.attacks[0];
    assert!(a.meters_targeted > 0, "the town has critical facilities");
    assert_eq!(a.blast_radius.critical_facilities_hit, 0, "{a:?}");
    let protected: u32 = finished.sim.hes().audit.iter().map(|r| r.protected).sum();
    assert_eq!(u64::from(protected), a.meters_targeted);
    assert!(a.failure_reason.as_deref().unwrap_or("").contains("protected"), "{a:?}");
}

/// Outside the disconnect window the HES refuses disconnects.
#[test]
fn disconnects_outside_the_window_are_refused() {
    let finished = run(&mass_disconnect("disconnect_hours: (8, 17)", 500, false));
    let a = &finished.metrics.attacks[0];
    assert!(!a.succeeded && a.failure_reason.as_deref().unwrap_or("").contains("outside-window"));
}
