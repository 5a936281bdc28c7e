//! Tidy: the invariants ARCHITECTURE.md states, checked on every `cargo test`.
//!
//! The model crates (`sim`, `topologies`, `attackers`, `defenses`) do no I/O, read no clock,
//! draw no unseeded random numbers, run nothing async and keep no hidden global state, so a
//! run depends on its scenario and seed alone. Their sources (every `.rs` file under each
//! crate's `src/`, line by line, comments left out) may not name:
//!
//! - files: `std::fs`, `fs`, `File::`, `OpenOptions`;
//! - the network: `TcpStream`, `TcpListener`, `UdpSocket`, `ToSocketAddrs`, `UnixStream`,
//!   `UnixListener` (address values such as `Ipv4Addr` are data and allowed);
//! - the clock: `Instant`, `SystemTime`, `UNIX_EPOCH`;
//! - the process around them: `std::env`, `std::process`, `std::thread`, `std::io`,
//!   `println!`, `print!`, `eprintln!`, `eprint!`, `dbg!` (parallel work goes through
//!   `bevy_tasks`, whose results are combined in a fixed order);
//! - async: `tokio`, `async fn`, `.await` (an `async move` block handed to `bevy_tasks`'
//!   scope is how the compute pool takes work, and is allowed);
//! - unseeded randomness: `thread_rng`, `rand::rng`, `rand::random`, `OsRng`, `from_os_rng`,
//!   `from_entropy`, `getrandom`.
//!
//! Two more kinds of name are allowed only on a line that says why, with a comment holding
//! `tidy:` and a reason: hash collections (`HashMap`, `HashSet`), whose iteration order
//! changes from run to run and would leak into results if anything iterated them; and global
//! state (`OnceLock`, `LazyLock`, `OnceCell`, `thread_local!`, `static mut`, `Mutex`,
//! `RwLock`, atomics).
//!
//! The dependency edges between the workspace's crates are those of ARCHITECTURE.md's
//! diagram (every kind of dependency counts, dev and build too), and no model crate depends
//! on an async, network or TLS crate.
//!
//! The root package's library (`src/lib.rs` and every module it declares) does not name
//! `anyhow`: it returns typed errors, and the binary alone wraps and prints them.

use std::path::{Path, PathBuf};

/// The crates whose sources the source rules read.
const MODEL_CRATES: [&str; 6] = ["sim", "topologies", "attackers", "defenses", "measures", "dlms"];

/// Names no model crate may use, each with what it stands for.
const BANNED: [(&str, &str); 30] = [
    ("std::fs", "file I/O"),
    ("fs", "file I/O"),
    ("File::", "file I/O"),
    ("OpenOptions", "file I/O"),
    ("TcpStream", "the network"),
    ("TcpListener", "the network"),
    ("UdpSocket", "the network"),
    ("ToSocketAddrs", "the network"),
    ("UnixStream", "the network"),
    ("UnixListener", "the network"),
    ("Instant", "the wall clock"),
    ("SystemTime", "the wall clock"),
    ("UNIX_EPOCH", "the wall clock"),
    ("std::env", "the environment"),
    ("std::process", "the process"),
    ("std::thread", "threads outside the compute pool"),
    ("std::io", "I/O"),
    ("println!", "printing"),
    ("print!", "printing"),
    ("eprintln!", "printing"),
    ("eprint!", "printing"),
    ("dbg!", "printing"),
    ("tokio", "async"),
    ("async fn", "async"),
    (".await", "async"),
    ("thread_rng", "unseeded randomness"),
    ("rand::rng", "unseeded randomness"),
    ("rand::random", "unseeded randomness"),
    ("OsRng", "unseeded randomness"),
    ("from_os_rng", "unseeded randomness"),
];

/// More unseeded randomness (kept apart so the table above stays readable).
const BANNED_MORE: [(&str, &str); 2] = [
    ("from_entropy", "unseeded randomness"),
    ("getrandom", "unseeded randomness"),
];

/// Names allowed only on a line whose comment holds `tidy:` and a reason.
const MARKED_ONLY: [(&str, &str); 12] = [
    ("HashMap", "a hash collection (iteration order varies between runs)"),
    ("HashSet", "a hash collection (iteration order varies between runs)"),
    ("OnceLock", "global state"),
    ("LazyLock", "global state"),
    ("OnceCell", "global state"),
    ("thread_local!", "global state"),
    ("static mut", "global state"),
    ("Mutex", "global state"),
    ("RwLock", "global state"),
    ("AtomicUsize", "global state"),
    ("AtomicU64", "global state"),
    ("AtomicBool", "global state"),
];

/// The marker that allows a [`MARKED_ONLY`] name on its line, followed by the reason.
const MARKER: &str = "tidy:";

/// The shortest reason a marker may give, in characters.
const SHORTEST_REASON: usize = 10;

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `code` holds `name` as a whole name: not inside a longer identifier.
fn names(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let starts_word = name.starts_with(is_word);
        let ends_word = name.ends_with(is_word);
        let joined_before = starts_word && before.is_some_and(is_word);
        let joined_after = ends_word && after.is_some_and(is_word);
        !joined_before && !joined_after
    })
}

/// The broken rules of one source file's text, as `file:line: what`.
fn check_source(file: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let (code, comment) = match line.find("//") {
            Some(at) => (&line[..at], &line[at..]),
            None => (line, ""),
        };
        for (name, what) in BANNED.iter().chain(&BANNED_MORE) {
            if names(code, name) {
                found.push(format!("{file}:{}: `{name}` is {what}: {}", n + 1, line.trim()));
            }
        }
        let reason = comment
            .find(MARKER)
            .map(|at| comment[at + MARKER.len()..].trim())
            .unwrap_or_default();
        for (name, what) in MARKED_ONLY {
            if names(code, name) && reason.chars().count() < SHORTEST_REASON {
                found.push(format!(
                    "{file}:{}: `{name}` is {what}; use a BTreeMap/BTreeSet or plain data, or say \
                     why it cannot change results in a `// {MARKER} <reason>` comment on the line: {}",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn model_crates_do_no_io_read_no_clock_and_iterate_no_hash_map() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    let mut read = 0;
    for krate in MODEL_CRATES {
        let mut files = Vec::new();
        rust_files(&root.join(krate).join("src"), &mut files);
        files.sort();
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.strip_prefix(root).expect("in the workspace").display().to_string();
            found.extend(check_source(&name, &text));
            read += 1;
        }
    }
    assert!(read >= 40, "only {read} source files read");
    assert!(
        found.is_empty(),
        "the model crates break the tidy rules:\n{}",
        found.join("\n")
    );
}

/// Every rule catches what it is for, and only that.
#[test]
fn the_source_rules_catch_each_banned_name_and_spare_the_rest() {
    for (line, broken) in [
        ("use std::fs;", true),
        ("let t = std::fs::read_to_string(p)?;", true),
        ("use std::{fs, io};", true),
        ("let offsets = vec![0; n];", false),
        ("let f = File::open(p);", true),
        ("use std::net::TcpStream;", true),
        ("use std::net::Ipv4Addr;", false),
        ("let started = Instant::now();", true),
        ("let t = SystemTime::now();", true),
        ("let t: SimInstantish = x;", false),
        ("async fn go() {}", true),
        ("pub async fn go() {}", true),
        ("scope.spawn(async move { work(chunk) });", false),
        ("x.await;", true),
        ("let r = rand::rng();", true),
        ("let mut r = thread_rng();", true),
        ("let v = std::env::var(\"X\");", true),
        ("println!(\"{x}\");", true),
        ("let m: HashMap<u32, u32> = HashMap::new();", true),
        (
            "let m: HashMap<u32, u32> = HashMap::new(); // tidy: looked up only, never iterated",
            false,
        ),
        ("let m: HashMap<u32, u32> = HashMap::new(); // tidy: ok", true),
        ("static TABLE: OnceLock<Table> = OnceLock::new();", true),
        ("let m: BTreeMap<u32, u32> = BTreeMap::new();", false),
        ("// std::fs and Instant in a comment", false),
        ("let stream = MyStreamFamily::new();", false),
    ] {
        let found = check_source("x.rs", line);
        assert_eq!(!found.is_empty(), broken, "{line}: {found:?}");
        if let Some(f) = found.first() {
            assert!(f.starts_with("x.rs:1: `"), "{f}");
        }
    }
}

/// The workspace crates each crate may depend on (dev and build dependencies included), by
/// folder; the root package (`.`) may depend on all of them.
const ALLOWED_EDGES: [(&str, &[&str]); 11] = [
    ("sim", &[]),
    ("dlms", &[]),
    ("topologies", &["sim"]),
    ("attackers", &["sim"]),
    ("defenses", &["sim"]),
    ("measures", &["sim", "attackers"]),
    ("viz", &[]),
    ("range", &["files"]),
    ("files", &[]),
    ("benches", &["sim", "topologies", "dlms", "."]),
    (
        ".",
        &[
            "sim",
            "topologies",
            "attackers",
            "defenses",
            "measures",
            "viz",
            "range",
            "files",
            "dlms",
        ],
    ),
];

/// Crates no model crate may depend on: async runtimes, networking, TLS.
const NOT_IN_MODEL_CRATES: [&str; 12] = [
    "tokio",
    "quinn",
    "rustls",
    "rcgen",
    "ring",
    "futures",
    "async-std",
    "smol",
    "mio",
    "hyper",
    "reqwest",
    "getrandom",
];

/// rand's features that seed from the operating system, which no model crate may turn on.
const OS_SEEDED_RAND_FEATURES: [&str; 3] = ["thread_rng", "os_rng", "sys_rng"];

/// The dependency names of a Cargo.toml's text, from every `[dependencies]`,
/// `[dev-dependencies]` and `[build-dependencies]` table (target-specific ones too), and from
/// `[dependencies.name]` tables.
fn dependencies(toml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_table = false;
    for line in toml.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
            // `[workspace.dependencies]` declares versions for members to share: no edge.
            in_table = header != "workspace.dependencies"
                && kinds.iter().any(|k| header == *k || header.ends_with(&format!(".{k}")));
            if let Some(name) = kinds
                .iter()
                .find_map(|k| header.rsplit_once(&format!("{k}.")).map(|(_, name)| name))
            {
                out.push(name.trim_matches('"').to_owned());
            }
            continue;
        }
        if in_table && !line.starts_with('#') && !line.is_empty() {
            let key = line
                .split(['=', '.'])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('"');
            if !key.is_empty() {
                out.push(key.to_owned());
            }
        }
    }
    out
}

/// The broken dependency rules of crate `folder` whose Cargo.toml is `toml`.
fn check_edges(folder: &str, toml: &str) -> Vec<String> {
    let Some((_, allowed)) = ALLOWED_EDGES.iter().find(|(f, _)| *f == folder) else {
        return vec![format!(
            "{folder}/Cargo.toml: the crate has no dependency rule; add it to ALLOWED_EDGES in tests/it/tidy.rs \
             (and to MODEL_CRATES if it must do no I/O), as ARCHITECTURE.md's diagram says"
        )];
    };
    let mut found = Vec::new();
    if MODEL_CRATES.contains(&folder) {
        for feature in OS_SEEDED_RAND_FEATURES.iter().filter(|f| names(toml, f)) {
            found.push(format!(
                "{folder}/Cargo.toml: a model crate turns on rand's {feature} (seeded by the operating system)"
            ));
        }
    }
    for dep in dependencies(toml) {
        let ours = dep.strip_prefix("amirange-").or((dep == "amirange").then_some("."));
        if ours.is_some_and(|ours| !allowed.contains(&ours)) {
            found.push(format!(
                "{folder}/Cargo.toml: depends on {dep}, an edge ARCHITECTURE.md's diagram does not have"
            ));
        }
        if MODEL_CRATES.contains(&folder) && NOT_IN_MODEL_CRATES.contains(&dep.as_str()) {
            found.push(format!(
                "{folder}/Cargo.toml: a model crate depends on {dep} (async, network or TLS)"
            ));
        }
    }
    found
}

/// The workspace's member folders, from the root Cargo.toml's `members` list.
fn members(root_toml: &str) -> Vec<String> {
    let start = root_toml.find("members").expect("a members list");
    let list = &root_toml[start..];
    let list = &list[list.find('[').expect("[")..=list.find(']').expect("]")];
    list.split('"').skip(1).step_by(2).map(str::to_owned).collect()
}

#[test]
fn dependencies_point_the_way_the_architecture_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let root_toml = read(root.join("Cargo.toml"));
    let members = members(&root_toml);
    assert!(members.len() >= 9, "{members:?}");
    let mut found = Vec::new();
    for folder in &members {
        found.extend(check_edges(folder, &read(root.join(folder).join("Cargo.toml"))));
    }
    assert!(found.is_empty(), "wrong dependency edges:\n{}", found.join("\n"));
    // The workspace's rand has no feature that seeds from the operating system.
    let rand = root_toml
        .lines()
        .find(|l| l.starts_with("rand ="))
        .expect("the workspace's rand");
    assert!(rand.contains("default-features = false"), "{rand}");
    for feature in OS_SEEDED_RAND_FEATURES {
        assert!(!rand.contains(feature), "{rand}");
    }
}

/// The dependency rules catch a wrong edge and a network crate in a model crate.
#[test]
fn the_dependency_rules_catch_a_wrong_edge() {
    let toml = "[package]\nname = \"x\"\n\n[workspace.dependencies]\namirange-range = { path = \"range\" }\n\n[dependencies]\namirange-sim.workspace = true\n\
                amirange-viz = { path = \"../viz\" }\ntokio = \"1\"\n\n[dev-dependencies]\n\
                amirange-defenses.workspace = true\n\n[target.'cfg(unix)'.dependencies.quinn]\nversion = \"0.11\"\n";
    assert_eq!(
        dependencies(toml),
        ["amirange-sim", "amirange-viz", "tokio", "amirange-defenses", "quinn"]
    );
    let found = check_edges("attackers", toml);
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].contains("depends on amirange-viz"), "{found:?}");
    assert!(found[1].contains("depends on tokio"), "{found:?}");
    assert!(found[2].contains("depends on amirange-defenses"), "{found:?}");
    assert!(found[3].contains("depends on quinn"), "{found:?}");
    assert!(check_edges("sim", "[dependencies]\namirange-sim.workspace = true\n")[0].contains("amirange-sim"));
    assert!(
        check_edges(
            "range",
            "[dependencies]\ntokio = \"1\"\namirange-files.workspace = true\n"
        )
        .is_empty()
    );
    assert!(check_edges("newcrate", "")[0].contains("no dependency rule"));
}

/// The module names a Rust file declares with `mod NAME;` (modules in other files), comments
/// and inline modules (`mod tests { ... }`) left out.
fn declared_modules(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default().trim())
        .filter_map(|code| {
            let code = code
                .strip_prefix("pub(crate) ")
                .or_else(|| code.strip_prefix("pub "))
                .unwrap_or(code);
            let name = code.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// Where `anyhow` is named in one source file's code (comments left out), as `file:line: line`.
fn anyhow_lines(file: &str, text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| names(line.split("//").next().unwrap_or_default(), "anyhow"))
        .map(|(n, line)| format!("{file}:{}: {}", n + 1, line.trim()))
        .collect()
}

/// `anyhow` is the binary's: the root package's library (`src/lib.rs` and every module it
/// declares, however deep) returns typed errors, which the binary prints with their causes.
#[test]
fn the_library_names_no_anyhow() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pending = vec![(root.join("src").join("lib.rs"), root.join("src"))];
    let mut found = Vec::new();
    let mut read = Vec::new();
    while let Some((path, folder)) = pending.pop() {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.strip_prefix(root).expect("in the workspace").display().to_string();
        found.extend(anyhow_lines(&name, &text));
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        // A module's own modules live in a folder named after it (`mod.rs` and `lib.rs` excepted).
        let inner = if stem == "lib" || stem == "mod" {
            folder.clone()
        } else {
            folder.join(stem)
        };
        for module in declared_modules(&text) {
            let file = inner.join(format!("{module}.rs"));
            if file.exists() {
                pending.push((file, inner.clone()));
            } else {
                pending.push((inner.join(&module).join("mod.rs"), inner.join(&module)));
            }
        }
        read.push(name);
    }
    for module in ["src/run.rs", "src/results.rs", "src/live.rs", "src/sweep.rs"] {
        assert!(read.iter().any(|r| r == module), "{module} not read: {read:?}");
    }
    assert!(!read.iter().any(|r| r.ends_with("main.rs")), "{read:?}");
    assert!(found.is_empty(), "the library names anyhow:\n{}", found.join("\n"));
}

/// The library rule finds modules and `anyhow` where they are, and nowhere else.
#[test]
fn the_library_rule_finds_modules_and_anyhow() {
    let lib = "//! mod not_this;\npub mod run;\nmod inner; // why\npub(crate) mod shared;\nmod tests {\n}\n";
    assert_eq!(declared_modules(lib), ["run", "inner", "shared"]);
    let code =
        "use anyhow::Result;\n// anyhow in a comment\nlet not_anyhow_here = 1;\nfn f() -> anyhow::Result<()> {}\n";
    assert_eq!(
        anyhow_lines("x.rs", code),
        ["x.rs:1: use anyhow::Result;", "x.rs:4: fn f() -> anyhow::Result<()> {}"]
    );
}
