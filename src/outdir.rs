//! Output folders: every folder amirange creates (a run's results, a sweep, a shard, a merge,
//! a live exercise's folder) is checked, created and replaced here, and nowhere else.
//!
//! Three promises, each kept by one function:
//!
//! 1. **Some places are never an output folder** ([`check_destination`]): `.`, `..`, a path
//!    ending in `/.` or `/..`, the current folder and its ancestors, the file system's root, the
//!    home folder and its ancestors, and any folder holding `.git` (a repository's root), also
//!    when reached through a symbolic link. With or without `--force`.
//! 2. **`--force` replaces only what amirange wrote** ([`check_replaceable`]). Every folder
//!    amirange creates carries a marker file, [`MARKER`], naming its kind (`run`, `sweep`,
//!    `exercise`). A folder is replaced only when it carries the marker of the same kind and
//!    every entry in it is one amirange writes in a folder of that kind; anything else is refused
//!    with the count of foreign entries and one of them by name. A folder written by an earlier
//!    version, before the marker existed, is recognised by the same rule on its entries alone,
//!    provided it holds the kind's signature file (`manifest.json` for a run, `sweep.json` for a
//!    sweep, `journal.jsonl` for an exercise).
//! 3. **A replacement is atomic** ([`Writer::write`]). The new folder is written complete under
//!    `.<name>.partial-<pid>` beside the destination. On Linux it then trades places with the old
//!    folder in one step (`renameat2(RENAME_EXCHANGE)`), and the old one, now under the
//!    temporary name, is deleted. Where the exchange is not supported the old folder is renamed
//!    aside to `.<name>.old-<pid>`, the new one renamed in, and the old one deleted; between those
//!    two renames (one instant) the old results are whole under the hidden name, and the next
//!    write in the same parent folder puts them back. A kill or an I/O error at any step
//!    therefore leaves the old or the new folder whole, and an error while deleting the old copy
//!    keeps the new results (the stale copy is reported, and removed by the next write).
//!
//! Hidden `.<name>.partial-<pid>` and `.<name>.old-<pid>` folders left by a process that is no
//! longer alive are cleaned by the next write in the same parent folder and reported on stderr;
//! only folders amirange recognises as its own (or empty ones) are deleted, anything else is
//! listed and left alone. Whether a process is alive is known on Linux (`/proc/<pid>`);
//! elsewhere such folders are listed, never deleted.
//!
//! The file-system steps of a write go through [`FolderSteps`], so that a test can stop or fail
//! any one of them and check what is left.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};

/// The marker file amirange writes into every folder it creates: JSON naming the folder's kind
/// and the version that wrote it, e.g. `{"kind":"run","amirange_version":"0.1.0"}`.
pub const MARKER: &str = ".amirange-folder";

/// What kind of folder amirange writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderKind {
    /// A run's result folder (`amirange run`).
    Run,
    /// A sweep's folder: a whole sweep, a shard or a merge of shards.
    Sweep,
    /// A live exercise's folder (`amirange serve`): its journal and metrics.
    Exercise,
    /// A dataset's folder (`amirange dataset`): its runs' folders, card and manifest.
    Dataset,
}

impl FolderKind {
    /// The kind's name, as written in the marker.
    pub fn name(self) -> &'static str {
        match self {
            FolderKind::Run => "run",
            FolderKind::Sweep => "sweep",
            FolderKind::Exercise => "exercise",
            FolderKind::Dataset => "dataset",
        }
    }

    /// The kind with its article, for messages: "a run", "a sweep", "an exercise".
    pub fn with_article(self) -> &'static str {
        match self {
            FolderKind::Run => "a run",
            FolderKind::Sweep => "a sweep",
            FolderKind::Exercise => "an exercise",
            FolderKind::Dataset => "a dataset",
        }
    }

    /// The file that identifies a folder of this kind written before the marker existed.
    fn signature(self) -> &'static str {
        match self {
            FolderKind::Run => "manifest.json",
            FolderKind::Sweep => "sweep.json",
            FolderKind::Exercise => "journal.jsonl",
            FolderKind::Dataset => "dataset.md",
        }
    }

    /// Whether amirange writes the file `rel` (relative, `/`-separated) in a folder of this kind.
    fn writes_file(self, rel: &str) -> bool {
        // `amirange report` writes `NAME.partial` beside each file and the exercise writes
        // `metrics.tmp` beside `metrics.json`, each then renamed; one left by a kill is
        // amirange's too.
        self.writes_final_file(rel)
            || rel.strip_suffix(".partial").is_some_and(|r| self.writes_final_file(r))
            || rel
                .strip_suffix(".tmp")
                .is_some_and(|stem| self.writes_final_file(&format!("{stem}.json")))
    }

    /// Whether `rel` is one of the files a finished folder of this kind may hold.
    fn writes_final_file(self, rel: &str) -> bool {
        if rel == MARKER {
            return true;
        }
        match self {
            FolderKind::Run => {
                const FILES: [&str; 23] = [
                    "manifest.json",
                    "metrics.json",
                    "timeseries.csv",
                    "feeders.csv",
                    "transformers.csv",
                    "audit.csv",
                    "outages.csv",
                    "truth.csv",
                    "alerts.csv",
                    "map.csv",
                    "map.json",
                    "paired.csv",
                    "baseline-metrics.json",
                    "report.html",
                    "plots/timeline.svg",
                    "plots/map.svg",
                    "plots/detection.svg",
                    "readings.parquet",
                    "traffic.pcapng",
                    "flows.csv",
                    "field.pcapng",
                    "field-keys.csv",
                    "outside.json",
                ];
                FILES.contains(&rel)
            }
            FolderKind::Sweep => {
                if ["runs.csv", "summary.csv", "sweep.json", "report.html"].contains(&rel) {
                    return true;
                }
                if let Some(k) = rel.strip_prefix("plots/measure-").and_then(|r| r.strip_suffix(".svg")) {
                    return all_digits(k);
                }
                rel.strip_prefix("runs/")
                    .and_then(|r| r.strip_suffix("/metrics.json"))
                    .is_some_and(all_digits)
            }
            FolderKind::Exercise => ["journal.jsonl", "metrics.json", "replay-metrics.json"].contains(&rel),
            FolderKind::Dataset => {
                if ["dataset.md", "manifest.json", "plan.ron", "shard.json"].contains(&rel) {
                    return true;
                }
                rel.strip_prefix("parts/")
                    .and_then(|r| r.split_once('/'))
                    .is_some_and(|(k, file)| all_digits(k) && file != MARKER && FolderKind::Run.writes_final_file(file))
            }
        }
    }

    /// Whether amirange creates the folder `rel` (relative, `/`-separated) in a folder of this kind.
    fn writes_dir(self, rel: &str) -> bool {
        match self {
            FolderKind::Run => rel == "plots",
            FolderKind::Sweep => rel == "plots" || rel == "runs" || rel.strip_prefix("runs/").is_some_and(all_digits),
            FolderKind::Exercise => false,
            FolderKind::Dataset => {
                rel == "parts"
                    || rel.strip_prefix("parts/").is_some_and(|r| match r.split_once('/') {
                        None => all_digits(r),
                        Some((k, sub)) => all_digits(k) && sub == "plots",
                    })
            }
        }
    }
}

impl fmt::Display for FolderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Why a folder cannot be written, or replaced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FolderError {
    /// The path is one amirange never writes to (see [`check_destination`]).
    #[error("refusing to use {dir} as an output folder: {why}")]
    Forbidden {
        /// The path as given.
        dir: PathBuf,
        /// Why, in words.
        why: String,
    },
    /// The folder exists and `--force` was not given.
    #[error("{dir} already exists; choose another --out or pass --force to replace it")]
    Exists {
        /// The folder.
        dir: PathBuf,
    },
    /// The folder holds entries amirange did not write there.
    #[error(
        "refusing to replace {dir}: it holds {count} {entries} that amirange did not write, such as {example} \
         (--force replaces only {kind_a} folder amirange wrote; move them away or choose another --out)",
        entries = if *count == 1 { "entry" } else { "entries" },
        kind_a = kind.with_article()
    )]
    Foreign {
        /// The folder.
        dir: PathBuf,
        /// The kind of folder the command writes.
        kind: FolderKind,
        /// How many foreign entries (files, folders, links) there are.
        count: usize,
        /// One of them, relative to the folder.
        example: String,
    },
    /// The folder is amirange's, but of another kind (an exercise's journal is not a run's
    /// result that can be written again).
    #[error("refusing to replace {dir}: it is an amirange {found} folder, not {} folder", wanted.with_article())]
    OtherKind {
        /// The folder.
        dir: PathBuf,
        /// The kind its marker names.
        found: String,
        /// The kind the command writes.
        wanted: FolderKind,
    },
    /// The folder holds only files amirange writes, but neither the marker nor the kind's
    /// signature file, so it is not known to be amirange's.
    #[error(
        "refusing to replace {dir}: it has neither amirange's marker ({MARKER}) nor a {signature}, \
         so it is not {} folder amirange wrote",
        kind.with_article()
    )]
    Unrecognised {
        /// The folder.
        dir: PathBuf,
        /// The kind the command writes.
        kind: FolderKind,
        /// The file that would identify it.
        signature: &'static str,
    },
    /// The destination is not a folder.
    #[error("refusing to replace {dir}: it is not a folder (a file or a symbolic link)")]
    NotAFolder {
        /// The path.
        dir: PathBuf,
    },
    /// A folder filled in place (a live exercise's) holds entries amirange did not write.
    #[error(
        "refusing to use {dir} for {}: it holds {count} {entries} that amirange did not write, such as {example}; \
         give --out a new or empty folder",
        kind.with_article(),
        entries = if *count == 1 { "entry" } else { "entries" }
    )]
    Occupied {
        /// The folder.
        dir: PathBuf,
        /// The kind of folder the command fills.
        kind: FolderKind,
        /// How many entries other than amirange's marker there are.
        count: usize,
        /// One of them.
        example: String,
    },
    /// A live exercise's folder already holds a journal.
    #[error("{dir} already holds a journal: choose another --out")]
    HoldsJournal {
        /// The folder.
        dir: PathBuf,
    },
    /// A file-system step failed.
    #[error("{what}: {source}")]
    Io {
        /// What amirange was doing, with the path.
        what: String,
        /// The cause.
        source: io::Error,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> FolderError {
    let what = what.into();
    move |source| FolderError::Io { what, source }
}

/// The file-system steps of writing a folder. [`RealSteps`] does them; a test wraps it to stop
/// or fail any one step.
pub trait FolderSteps {
    /// Creates a folder and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file and writes `bytes` to it.
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Swaps two existing entries in one atomic step; an error of kind
    /// [`io::ErrorKind::Unsupported`] where the platform or the file system cannot.
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<()>;
    /// Renames `from` to `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a folder and everything in it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealSteps {
    /// Whether each file is synced to disk before the folder is renamed into place: yes for a
    /// run's dozen files; no for a sweep's thousands of `metrics.json` (a sync each would add
    /// seconds to a large sweep), as before this module existed.
    pub sync_files: bool,
}

impl FolderSteps for RealSteps {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = fs::File::create(path)?;
        file.write_all(bytes)?;
        if self.sync_files {
            // Some file systems cannot sync; the rename that follows is what makes the folder
            // visible, and a lost sync costs durability after a power loss, not consistency.
            file.sync_all().ok();
        }
        Ok(())
    }

    #[cfg(target_os = "linux")]
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(()),
            // Old kernels (ENOSYS) and file systems without exchange (EINVAL, EOPNOTSUPP).
            // Overlay file systems answer EXDEV for folders they cannot exchange.
            Err(e) if [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP, Errno::XDEV].contains(&e) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("renameat2(RENAME_EXCHANGE): {e}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn exchange(&self, _a: &Path, _b: &Path) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no atomic exchange of folders on this platform",
        ))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::remove_dir_all(path)
    }
}

/// Whether process `pid` is alive: `Some` on Linux (`/proc/<pid>` exists), `None` where it
/// cannot be told.
pub fn process_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") {
        Some(Path::new("/proc").join(pid.to_string()).exists())
    } else {
        None
    }
}

/// The physical path `dir` names: absolute, every existing part resolved (symbolic links
/// followed), `.` and `..` applied.
fn resolve(dir: &Path) -> io::Result<PathBuf> {
    let absolute = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()?.join(dir)
    };
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::Prefix(_) | Component::RootDir => out.push(component.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if fs::symlink_metadata(&out).is_ok() {
                    out = fs::canonicalize(&out)?;
                }
            }
        }
    }
    Ok(out)
}

/// The last component of `dir` as written (before any normalisation, which drops a trailing `.`).
fn last_written_component(dir: &Path) -> String {
    let text = dir.to_string_lossy();
    let trimmed = text.trim_end_matches(std::path::is_separator);
    trimmed
        .rsplit(std::path::is_separator)
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Refuses the places amirange never writes an output folder to, with or without `--force`:
/// a path ending in `.` or `..`, the file system's root, the current folder or any of its
/// ancestors, the home folder or any of its ancestors, and a folder holding `.git`; each also
/// when reached through symbolic links.
pub fn check_destination(dir: &Path) -> Result<(), FolderError> {
    let forbidden = |why: String| FolderError::Forbidden {
        dir: dir.to_path_buf(),
        why,
    };
    if dir.as_os_str().is_empty() {
        return Err(forbidden("the path is empty".to_owned()));
    }
    let last = last_written_component(dir);
    if last == "." || last == ".." {
        return Err(forbidden(format!(
            "it ends in `{last}`, which names an existing folder rather than a new one; give the result folder's own name"
        )));
    }
    let resolved = resolve(dir).map_err(io_error(format!("resolving {}", dir.display())))?;
    if resolved.parent().is_none() {
        return Err(forbidden("it is the file system's root".to_owned()));
    }
    if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize) {
        if cwd == resolved {
            return Err(forbidden("it is the current folder".to_owned()));
        }
        if cwd.starts_with(&resolved) {
            return Err(forbidden(format!(
                "it is {}, an ancestor of the current folder",
                resolved.display()
            )));
        }
    }
    if let Some(home) = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .and_then(|h| fs::canonicalize(h).ok())
        && home.starts_with(&resolved)
    {
        return Err(forbidden(if home == resolved {
            "it is your home folder".to_owned()
        } else {
            format!("it is {}, an ancestor of your home folder", resolved.display())
        }));
    }
    if fs::symlink_metadata(resolved.join(".git")).is_ok() {
        return Err(forbidden(format!(
            "{} holds .git: it is a repository's root",
            resolved.display()
        )));
    }
    Ok(())
}

/// What a folder's marker says.
fn read_marker(dir: &Path) -> Option<Result<String, ()>> {
    let bytes = fs::read(dir.join(MARKER)).ok()?;
    let kind = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned));
    Some(kind.ok_or(()))
}

/// The marker's bytes for a folder of `kind`.
pub fn marker_bytes(kind: FolderKind) -> Vec<u8> {
    let mut bytes = serde_json::json!({
        "kind": kind.name(),
        "amirange_version": env!("CARGO_PKG_VERSION"),
    })
    .to_string()
    .into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Every entry under `dir` that amirange does not write in a folder of `kind`, relative and
/// `/`-separated, sorted. A symbolic link is always foreign (amirange writes none).
fn foreign_entries(dir: &Path, kind: FolderKind) -> io::Result<Vec<String>> {
    let mut foreign = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(rel_dir) = pending.pop() {
        let here = if rel_dir.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(&rel_dir)
        };
        for entry in fs::read_dir(&here)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel_dir.is_empty() {
                name
            } else {
                format!("{rel_dir}/{name}")
            };
            let file_type = entry.file_type()?;
            if file_type.is_dir() && kind.writes_dir(&rel) {
                pending.push(rel);
            } else if !(file_type.is_file() && kind.writes_file(&rel)) {
                foreign.push(rel);
            }
        }
    }
    foreign.sort();
    Ok(foreign)
}

/// Whether the existing folder `dir` may be replaced by a folder of `kind`: it carries the
/// marker of that kind (or, written before the marker existed, the kind's signature file), and
/// every entry in it is one amirange writes there. An empty folder may always be replaced.
pub fn check_replaceable(dir: &Path, kind: FolderKind) -> Result<(), FolderError> {
    let meta = fs::symlink_metadata(dir).map_err(io_error(format!("reading {}", dir.display())))?;
    if !meta.is_dir() {
        return Err(FolderError::NotAFolder { dir: dir.to_path_buf() });
    }
    match read_marker(dir) {
        Some(Ok(found)) if found != kind.name() => {
            return Err(FolderError::OtherKind {
                dir: dir.to_path_buf(),
                found,
                wanted: kind,
            });
        }
        Some(Err(())) => {
            return Err(FolderError::Foreign {
                dir: dir.to_path_buf(),
                kind,
                count: 1,
                example: format!("{MARKER} (not a marker amirange wrote)"),
            });
        }
        _ => {}
    }
    let foreign = foreign_entries(dir, kind).map_err(io_error(format!("reading {}", dir.display())))?;
    if let Some(first) = foreign.first() {
        return Err(FolderError::Foreign {
            dir: dir.to_path_buf(),
            kind,
            count: foreign.len(),
            example: first.clone(),
        });
    }
    let marked = read_marker(dir).is_some();
    let empty = fs::read_dir(dir)
        .map_err(io_error(format!("reading {}", dir.display())))?
        .next()
        .is_none();
    if !marked && !empty && !dir.join(kind.signature()).is_file() {
        return Err(FolderError::Unrecognised {
            dir: dir.to_path_buf(),
            kind,
            signature: kind.signature(),
        });
    }
    Ok(())
}

/// Checks, before any work is done, that a folder of `kind` can be written at `dir`: the path
/// is allowed ([`check_destination`]), and if something is there, `force` is given and it may
/// be replaced ([`check_replaceable`]).
pub fn check_target(dir: &Path, kind: FolderKind, force: bool) -> Result<(), FolderError> {
    check_destination(dir)?;
    if fs::symlink_metadata(dir).is_ok() {
        if !force {
            return Err(FolderError::Exists { dir: dir.to_path_buf() });
        }
        check_replaceable(dir, kind)?;
    }
    Ok(())
}

/// Writes folders: the file-system steps, this process's id (in the temporary names) and how to
/// tell whether another process is alive (to clean what a dead one left).
pub struct Writer<'a> {
    /// The file-system steps.
    pub steps: &'a dyn FolderSteps,
    /// This process's id.
    pub pid: u32,
    /// Whether a process is alive; `None` when it cannot be told.
    pub alive: &'a dyn Fn(u32) -> Option<bool>,
}

/// The parent folder of `dir` and its name (`dir` passed [`check_destination`]).
fn parent_and_name(dir: &Path) -> Result<(PathBuf, String), FolderError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| FolderError::Forbidden {
            dir: dir.to_path_buf(),
            why: "it has no folder name".to_owned(),
        })?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// A hidden temporary folder's parts: `.<name>.<partial|old>-<pid>`.
fn parse_temporary(file_name: &str) -> Option<(&str, bool, u32)> {
    let rest = file_name.strip_prefix('.')?;
    let (stem, pid) = rest.rsplit_once('-')?;
    let pid: u32 = pid.parse().ok()?;
    if let Some(name) = stem.strip_suffix(".partial") {
        Some((name, false, pid))
    } else {
        stem.strip_suffix(".old").map(|name| (name, true, pid))
    }
}

/// Whether amirange may delete the folder `dir` it finds under a temporary name: empty, or
/// recognised as a folder of some kind amirange writes.
fn deletable(dir: &Path) -> bool {
    let empty = fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    empty
        || [
            FolderKind::Run,
            FolderKind::Sweep,
            FolderKind::Exercise,
            FolderKind::Dataset,
        ]
        .into_iter()
        .any(|kind| check_replaceable(dir, kind).is_ok())
}

impl Writer<'_> {
    /// The writer of the real file system, for this process; `sync_files` as in [`RealSteps`].
    pub fn real(sync_files: bool) -> Writer<'static> {
        const SYNCED: RealSteps = RealSteps { sync_files: true };
        const UNSYNCED: RealSteps = RealSteps { sync_files: false };
        Writer {
            steps: if sync_files { &SYNCED } else { &UNSYNCED },
            pid: std::process::id(),
            alive: &process_alive,
        }
    }

    /// Cleans the temporary folders that processes no longer alive left in `parent`: puts an
    /// interrupted replacement's old folder back when its destination is missing, deletes the
    /// rest when amirange recognises them, lists what it leaves. Returns one line per folder.
    pub fn clean_stale(&self, parent: &Path) -> Vec<String> {
        let mut notes = Vec::new();
        let Ok(entries) = fs::read_dir(parent) else {
            return notes;
        };
        let mut found: Vec<(PathBuf, String, bool, u32)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let file_name = e.file_name().to_string_lossy().into_owned();
                let (name, old, pid) = parse_temporary(&file_name)?;
                Some((e.path(), name.to_owned(), old, pid))
            })
            .filter(|(_, _, _, pid)| *pid != self.pid)
            .collect();
        found.sort();
        for (path, name, old, pid) in found {
            match (self.alive)(pid) {
                Some(true) => continue,
                None => {
                    notes.push(format!(
                        "found {}, left by process {pid}; if no amirange is running, remove it by hand{}",
                        path.display(),
                        if old {
                            format!(" (or rename it back to {name} if that is missing)")
                        } else {
                            String::new()
                        }
                    ));
                    continue;
                }
                Some(false) => {}
            }
            if !deletable(&path) {
                notes.push(format!(
                    "left {} alone: process {pid} is gone, but the folder holds files amirange did not write",
                    path.display()
                ));
                continue;
            }
            let destination = parent.join(&name);
            if old && fs::symlink_metadata(&destination).is_err() {
                match self.steps.rename(&path, &destination) {
                    Ok(()) => notes.push(format!(
                        "restored {} from {} (a replacement by process {pid} was interrupted)",
                        destination.display(),
                        path.display()
                    )),
                    Err(e) => notes.push(format!("could not restore {}: {e}", path.display())),
                }
                continue;
            }
            match self.steps.remove_dir_all(&path) {
                Ok(()) => notes.push(format!(
                    "removed {}, left by process {pid}, which is gone",
                    path.display()
                )),
                Err(e) => notes.push(format!("could not remove {}: {e}", path.display())),
            }
        }
        notes
    }

    /// Writes `files` (relative, `/`-separated names and their bytes) as the folder `dir` of
    /// `kind`, with the marker, atomically; replaces an existing folder only with `force` and
    /// only when [`check_replaceable`] allows. Returns notes for stderr (stale folders cleaned,
    /// an old copy that could not be deleted).
    pub fn write<N: AsRef<str>>(
        &self,
        dir: &Path,
        kind: FolderKind,
        files: &[(N, Vec<u8>)],
        force: bool,
    ) -> Result<Vec<String>, FolderError> {
        let (tmp, mut notes, exists) = self.prepare(dir, kind, force)?;
        self.fill(&tmp, kind, files)
            .map_err(|error| self.discard(&tmp, error))?;
        notes.extend(self.place(dir, &tmp, exists)?);
        Ok(notes)
    }

    /// Begins a folder some of whose files are streamed into it while the work runs (a run's
    /// `readings.parquet`): checks and cleans as [`Writer::write`] does, then creates the
    /// temporary folder `.<name>.partial-<pid>` beside `dir` with the marker, and returns it.
    /// The caller writes its streamed files into [`Staged::path`], then hands the staged folder
    /// to [`Writer::complete`] with the rest (or to [`Writer::abandon`]). A kill in between leaves
    /// a marked temporary folder, which the next write in the same parent folder removes.
    pub fn begin(&self, dir: &Path, kind: FolderKind, force: bool) -> Result<Staged, FolderError> {
        let (tmp, notes, _) = self.prepare(dir, kind, force)?;
        let none: &[(&str, Vec<u8>)] = &[];
        self.fill(&tmp, kind, none).map_err(|error| self.discard(&tmp, error))?;
        Ok(Staged { path: tmp, notes })
    }

    /// Completes a folder begun with [`Writer::begin`]: writes `files` beside what was streamed
    /// into it and moves it into place at `dir`, atomically, under the same rules as
    /// [`Writer::write`] (checked again now: something may have appeared at `dir` meanwhile).
    /// On an error the staged folder is removed.
    pub fn complete<N: AsRef<str>>(
        &self,
        dir: &Path,
        kind: FolderKind,
        staged: Staged,
        files: &[(N, Vec<u8>)],
        force: bool,
    ) -> Result<Vec<String>, FolderError> {
        let Staged { path: tmp, mut notes } = staged;
        let exists = self
            .check_existing(dir, kind, force)
            .map_err(|error| self.discard(&tmp, error))?;
        self.fill_files(&tmp, files)
            .map_err(|error| self.discard(&tmp, error))?;
        notes.extend(self.place(dir, &tmp, exists)?);
        Ok(notes)
    }

    /// Removes a staged folder whose work failed.
    pub fn abandon(&self, staged: Staged) {
        let _ = self.steps.remove_dir_all(&staged.path);
    }

    /// Removes the temporary folder `tmp` after `error`, and returns the error.
    fn discard(&self, tmp: &Path, error: FolderError) -> FolderError {
        let _ = self.steps.remove_dir_all(tmp);
        error
    }

    /// Whether something is at `dir`; an error if it is there and may not be replaced.
    fn check_existing(&self, dir: &Path, kind: FolderKind, force: bool) -> Result<bool, FolderError> {
        let exists = fs::symlink_metadata(dir).is_ok();
        if exists {
            if !force {
                return Err(FolderError::Exists { dir: dir.to_path_buf() });
            }
            check_replaceable(dir, kind)?;
        }
        Ok(exists)
    }

    /// The steps before a folder is filled: checks the path, creates the parent, cleans what
    /// dead processes left there, checks what is at `dir`, and frees this process's temporary
    /// name. Returns the temporary folder's path, the notes, and whether `dir` exists.
    fn prepare(&self, dir: &Path, kind: FolderKind, force: bool) -> Result<(PathBuf, Vec<String>, bool), FolderError> {
        check_destination(dir)?;
        let (parent, name) = parent_and_name(dir)?;
        self.steps
            .create_dir_all(&parent)
            .map_err(io_error(format!("creating {}", parent.display())))?;
        let notes = self.clean_stale(&parent);
        let exists = self.check_existing(dir, kind, force)?;
        let tmp = parent.join(format!(".{name}.partial-{}", self.pid));
        if fs::symlink_metadata(&tmp).is_ok() {
            // This process's own temporary name, taken: removed only if it is amirange's.
            if !deletable(&tmp) {
                return Err(FolderError::Foreign {
                    dir: tmp.clone(),
                    kind,
                    count: 1,
                    example: "files in amirange's temporary folder".to_owned(),
                });
            }
            self.steps
                .remove_dir_all(&tmp)
                .map_err(io_error(format!("removing {}", tmp.display())))?;
        }
        Ok((tmp, notes, exists))
    }

    /// Moves the complete temporary folder `tmp` into place at `dir` (swapping it with the old
    /// folder when `exists`), and deletes the old one. Returns the notes.
    fn place(&self, dir: &Path, tmp: &Path, exists: bool) -> Result<Vec<String>, FolderError> {
        let mut notes = Vec::new();
        let (parent, name) = parent_and_name(dir)?;
        let discard = |error: FolderError| self.discard(tmp, error);
        if !exists {
            self.steps
                .rename(tmp, dir)
                .map_err(io_error(format!("moving the results into {}", dir.display())))
                .map_err(discard)?;
            return Ok(notes);
        }
        // The old folder is now at `stale`, whichever way the swap went.
        let stale = match self.steps.exchange(tmp, dir) {
            Ok(()) => tmp.to_path_buf(),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                let old = parent.join(format!(".{name}.old-{}", self.pid));
                self.steps
                    .rename(dir, &old)
                    .map_err(io_error(format!("moving {} aside", dir.display())))
                    .map_err(discard)?;
                if let Err(e) = self.steps.rename(tmp, dir) {
                    let error = io_error(format!("moving the results into {}", dir.display()))(e);
                    return Err(match self.steps.rename(&old, dir) {
                        Ok(()) => discard(error),
                        Err(_) => error,
                    });
                }
                old
            }
            Err(e) => return Err(discard(io_error(format!("replacing {}", dir.display()))(e))),
        };
        if let Err(e) = self.steps.remove_dir_all(&stale) {
            notes.push(format!(
                "the new results are in {}, but the old copy at {} could not be removed ({e}); the next write in {} removes it",
                dir.display(),
                stale.display(),
                parent.display()
            ));
        }
        Ok(notes)
    }

    /// Creates `tmp` with the marker and every file.
    fn fill<N: AsRef<str>>(&self, tmp: &Path, kind: FolderKind, files: &[(N, Vec<u8>)]) -> Result<(), FolderError> {
        self.steps
            .create_dir_all(tmp)
            .map_err(io_error(format!("creating {}", tmp.display())))?;
        // The marker first: a partial folder left by a kill is recognised as amirange's.
        let marker = tmp.join(MARKER);
        self.steps
            .write_file(&marker, &marker_bytes(kind))
            .map_err(io_error(format!("writing {}", marker.display())))?;
        self.fill_files(tmp, files)
    }

    /// Writes every file into the existing folder `tmp`, creating subfolders as needed.
    fn fill_files<N: AsRef<str>>(&self, tmp: &Path, files: &[(N, Vec<u8>)]) -> Result<(), FolderError> {
        let mut made: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
        for (file, bytes) in files {
            let path = tmp.join(file.as_ref());
            if let Some(folder) = path.parent()
                && folder != tmp
                && !made.contains(folder)
            {
                self.steps
                    .create_dir_all(folder)
                    .map_err(io_error(format!("creating {}", folder.display())))?;
                made.insert(folder.to_path_buf());
            }
            self.steps
                .write_file(&path, bytes)
                .map_err(io_error(format!("writing {}", path.display())))?;
        }
        Ok(())
    }

    /// Prepares a folder that is filled in place (a live exercise's): checks the path, refuses a
    /// folder holding anything but amirange's marker (a journal, by name), creates it and
    /// writes the marker.
    pub fn prepare_in_place(&self, dir: &Path, kind: FolderKind) -> Result<(), FolderError> {
        check_in_place(dir, kind)?;
        self.steps
            .create_dir_all(dir)
            .map_err(io_error(format!("creating {}", dir.display())))?;
        let marker = dir.join(MARKER);
        self.steps
            .write_file(&marker, &marker_bytes(kind))
            .map_err(io_error(format!("writing {}", marker.display())))
    }
}

/// Checks, changing nothing, that a folder filled in place (a live exercise's) may be made at
/// `dir`: the path is allowed, and anything there is empty but for amirange's marker of the
/// same kind (a journal is named as such).
pub fn check_in_place(dir: &Path, kind: FolderKind) -> Result<(), FolderError> {
    check_destination(dir)?;
    if fs::symlink_metadata(dir).is_ok() {
        if kind == FolderKind::Exercise && dir.join("journal.jsonl").exists() {
            return Err(FolderError::HoldsJournal { dir: dir.to_path_buf() });
        }
        if !fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Err(FolderError::NotAFolder { dir: dir.to_path_buf() });
        }
        if let Some(Ok(found)) = read_marker(dir)
            && found != kind.name()
        {
            return Err(FolderError::OtherKind {
                dir: dir.to_path_buf(),
                found,
                wanted: kind,
            });
        }
        let mut others: Vec<String> = fs::read_dir(dir)
            .map_err(io_error(format!("reading {}", dir.display())))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != MARKER)
            .collect();
        others.sort();
        if let Some(example) = others.first() {
            return Err(FolderError::Occupied {
                dir: dir.to_path_buf(),
                kind,
                count: others.len(),
                example: example.clone(),
            });
        }
    }
    Ok(())
}

/// Writes the folder `dir` of `kind` with the real file system (see [`Writer::write`]) and
/// prints its notes on stderr.
pub fn write<N: AsRef<str>>(
    dir: &Path,
    kind: FolderKind,
    files: &[(N, Vec<u8>)],
    force: bool,
) -> Result<(), FolderError> {
    // A run's few files are synced; a sweep's many are not (see [`RealSteps`]).
    let notes = Writer::real(kind == FolderKind::Run).write(dir, kind, files, force)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// A folder begun with [`Writer::begin`]: its temporary path, into which streamed files are
/// written, and the notes of its preparation.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    notes: Vec<String>,
}

impl Staged {
    /// The temporary folder the streamed files go into.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Begins the folder `dir` of `kind` with the real file system (see [`Writer::begin`]).
pub fn begin(dir: &Path, kind: FolderKind, force: bool) -> Result<Staged, FolderError> {
    Writer::real(kind == FolderKind::Run).begin(dir, kind, force)
}

/// Completes a folder begun with [`begin`] with the real file system (see
/// [`Writer::complete`]) and prints its notes on stderr.
pub fn complete<N: AsRef<str>>(
    dir: &Path,
    kind: FolderKind,
    staged: Staged,
    files: &[(N, Vec<u8>)],
    force: bool,
) -> Result<(), FolderError> {
    let notes = Writer::real(matches!(kind, FolderKind::Run | FolderKind::Dataset))
        .complete(dir, kind, staged, files, force)?;
    for note in notes {
        eprintln!("note: {note}");
    }
    Ok(())
}

/// Removes a folder begun with [`begin`] whose work failed (real file system).
pub fn abandon(staged: Staged) {
    Writer::real(false).abandon(staged);
}

/// Prepares a live exercise's folder with the real file system (see
/// [`Writer::prepare_in_place`]).
pub fn prepare_exercise_folder(dir: &Path) -> Result<(), FolderError> {
    Writer::real(true).prepare_in_place(dir, FolderKind::Exercise)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;

    use super::*;

    /// Process ids no system hands out (above Linux's largest `pid_max`, 2^22).
    const OLD_WRITER: u32 = 4_000_000_001;
    const FAULTY_WRITER: u32 = 4_000_000_002;
    const NEXT_WRITER: u32 = 4_000_000_003;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fault {
        /// The process dies at the step: it and every later step fail, clean-up included.
        Kill,
        /// The step fails with an I/O error; later steps (the clean-up) work.
        Error,
    }

    /// The real file system without the sync of each file (slow, and beside the point here).
    struct Quick;

    impl FolderSteps for Quick {
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            RealSteps::default().create_dir_all(path)
        }
        fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            fs::write(path, bytes)
        }
        fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
            RealSteps::default().exchange(a, b)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            RealSteps::default().rename(from, to)
        }
        fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
            RealSteps::default().remove_dir_all(path)
        }
    }

    /// The real file system with a fault at step `at`, and exchange on or off.
    struct Faulty {
        at: usize,
        fault: Fault,
        exchange: bool,
        count: Cell<usize>,
    }

    impl Faulty {
        fn step(&self) -> io::Result<()> {
            let k = self.count.get();
            self.count.set(k + 1);
            let hit = match self.fault {
                Fault::Kill => k >= self.at,
                Fault::Error => k == self.at,
            };
            if hit {
                Err(io::Error::other(format!("injected fault at step {k}")))
            } else {
                Ok(())
            }
        }
    }

    impl FolderSteps for Faulty {
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            self.step()?;
            Quick.create_dir_all(path)
        }
        fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            self.step()?;
            Quick.write_file(path, bytes)
        }
        fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
            self.step()?;
            if self.exchange {
                Quick.exchange(a, b)
            } else {
                Err(io::Error::new(io::ErrorKind::Unsupported, "exchange off in this test"))
            }
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.step()?;
            Quick.rename(from, to)
        }
        fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
            self.step()?;
            Quick.remove_dir_all(path)
        }
    }

    /// Every file under `dir`, relative path to bytes.
    fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut pending = vec![dir.to_path_buf()];
        while let Some(here) = pending.pop() {
            for entry in fs::read_dir(&here).expect("read_dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let rel = path.strip_prefix(dir).expect("inside").to_string_lossy().into_owned();
                    out.insert(rel, fs::read(&path).expect("read"));
                }
            }
        }
        out
    }

    fn expected(files: &[(&str, Vec<u8>)], kind: FolderKind) -> BTreeMap<String, Vec<u8>> {
        let mut map: BTreeMap<String, Vec<u8>> = files.iter().map(|(n, b)| ((*n).to_owned(), b.clone())).collect();
        map.insert(MARKER.to_owned(), marker_bytes(kind));
        map
    }

    fn run_files(tag: &str) -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("manifest.json", format!("{{\"run\":\"{tag}\"}}").into_bytes()),
            ("metrics.json", format!("{tag} metrics").into_bytes()),
            ("timeseries.csv", format!("{tag} rows").into_bytes()),
            ("plots/timeline.svg", format!("<svg>{tag}</svg>").into_bytes()),
            ("report.html", format!("{tag} report").into_bytes()),
        ]
    }

    fn hidden_leftovers(parent: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(parent)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        names.sort();
        names
    }

    /// Finding 2: a replacement stopped (killed) or failed (I/O error) at every one of its
    /// steps, with and without the atomic exchange, leaves the complete old or the complete
    /// new folder at the destination (or, killed in the fallback's one instant, the old one
    /// whole under its hidden name), and the next write in the same parent folder puts back
    /// or cleans what is left.
    #[test]
    fn replacement_interrupted_at_every_step_leaves_old_or_new_whole() {
        let old_files = run_files("old");
        let new_files = run_files("new");
        let old = expected(&old_files, FolderKind::Run);
        let new = expected(&new_files, FolderKind::Run);
        let mut cases = 0;
        for exchange in [true, false] {
            for fault in [Fault::Kill, Fault::Error] {
                for at in 0.. {
                    let tmp = tempfile::tempdir().expect("temp dir");
                    let parent = tmp.path().join("results");
                    let dest = parent.join("res");
                    let first = Writer {
                        steps: &Quick,
                        pid: OLD_WRITER,
                        alive: &|_| Some(false),
                    };
                    first
                        .write(&dest, FolderKind::Run, &old_files, false)
                        .expect("the old folder");
                    assert_eq!(tree(&dest), old);
                    let faulty = Faulty {
                        at,
                        fault,
                        exchange,
                        count: Cell::new(0),
                    };
                    let writer = Writer {
                        steps: &faulty,
                        pid: FAULTY_WRITER,
                        alive: &|pid| Some(pid == FAULTY_WRITER),
                    };
                    let outcome = writer.write(&dest, FolderKind::Run, &new_files, true);
                    let case = format!("exchange {exchange}, {fault:?} at step {at}: {outcome:?}");
                    if dest.exists() {
                        let now = tree(&dest);
                        assert!(now == old || now == new, "{case}: the destination is neither whole");
                        if outcome.is_ok() {
                            assert!(now == new, "{case}: Ok but not the new folder");
                        }
                    } else {
                        assert!(
                            fault == Fault::Kill && !exchange,
                            "{case}: only a kill in the fallback's window leaves no destination"
                        );
                        let aside = parent.join(format!(".res.old-{FAULTY_WRITER}"));
                        assert_eq!(tree(&aside), old, "{case}: the old folder is whole aside");
                    }
                    // The next write in the same parent folder restores or cleans.
                    let next = Writer {
                        steps: &Quick,
                        pid: NEXT_WRITER,
                        alive: &|pid| Some(pid == NEXT_WRITER),
                    };
                    next.write(&parent.join("other"), FolderKind::Run, &old_files, false)
                        .expect("the next write");
                    let now = tree(&dest);
                    assert!(now == old || now == new, "{case}: after the next write");
                    assert!(
                        hidden_leftovers(&parent).is_empty(),
                        "{case}: {:?}",
                        hidden_leftovers(&parent)
                    );
                    cases += 1;
                    if faulty.count.get() <= at {
                        // No step was interrupted: every step has been tried.
                        assert!(outcome.is_ok(), "{case}");
                        assert_eq!(tree(&dest), new, "{case}");
                        break;
                    }
                }
            }
        }
        assert!(cases > 4 * 10, "{cases} cases");
    }

    /// Finding 1: a folder holding a user's file is refused, naming the file; a marked folder
    /// and one written by an earlier version (known files, manifest.json) are replaceable; an
    /// exercise's folder is not replaced by a run.
    #[test]
    fn force_replaces_only_what_amirange_wrote() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("res");
        Writer::real(false)
            .write(&dir, FolderKind::Run, &run_files("a"), false)
            .expect("write");
        check_replaceable(&dir, FolderKind::Run).expect("a marked run folder");
        fs::write(dir.join("notes.txt"), "mine").expect("write");
        let err = check_replaceable(&dir, FolderKind::Run).expect_err("a user's file");
        assert!(
            err.to_string()
                .contains("1 entry that amirange did not write, such as notes.txt"),
            "{err}"
        );
        let err = Writer::real(false)
            .write(&dir, FolderKind::Run, &run_files("b"), true)
            .expect_err("refused");
        assert!(err.to_string().contains("notes.txt"), "{err}");
        assert_eq!(fs::read(dir.join("notes.txt")).expect("kept"), b"mine");
        assert_eq!(fs::read(dir.join("metrics.json")).expect("kept"), b"a metrics");
        // Written before the marker existed: recognised by its files.
        fs::remove_file(dir.join("notes.txt")).expect("rm");
        fs::remove_file(dir.join(MARKER)).expect("rm");
        check_replaceable(&dir, FolderKind::Run).expect("an earlier version's run folder");
        fs::remove_file(dir.join("manifest.json")).expect("rm");
        let err = check_replaceable(&dir, FolderKind::Run).expect_err("no signature");
        assert!(err.to_string().contains("manifest.json"), "{err}");
        // Another kind.
        let exercise = tmp.path().join("exercise");
        Writer::real(false)
            .prepare_in_place(&exercise, FolderKind::Exercise)
            .expect("prepare");
        fs::write(exercise.join("journal.jsonl"), "{}\n").expect("write");
        let err = check_replaceable(&exercise, FolderKind::Run).expect_err("another kind");
        assert!(err.to_string().contains("exercise folder, not a run folder"), "{err}");
        let err = Writer::real(false)
            .prepare_in_place(&exercise, FolderKind::Exercise)
            .expect_err("a journal");
        assert!(err.to_string().contains("already holds a journal"), "{err}");
        // A folder nested deeper, and a symbolic link, are foreign too.
        let sweep = tmp.path().join("sweep");
        Writer::real(false)
            .write(
                &sweep,
                FolderKind::Sweep,
                &[
                    ("sweep.json", b"{}".to_vec()),
                    ("runs/00001/metrics.json", b"{}".to_vec()),
                ],
                false,
            )
            .expect("write");
        check_replaceable(&sweep, FolderKind::Sweep).expect("a sweep");
        fs::write(sweep.join("runs/00001/extra.txt"), "x").expect("write");
        let err = check_replaceable(&sweep, FolderKind::Sweep).expect_err("nested foreign file");
        assert!(err.to_string().contains("runs/00001/extra.txt"), "{err}");
    }

    /// A folder begun for streaming holds the marker and what was streamed into it under its
    /// temporary name, and appears at its destination, with the rest, only when completed
    /// (replacing an old run folder with `force`); an abandoned one leaves nothing.
    #[test]
    fn a_streamed_folder_appears_only_when_completed() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("res");
        let writer = Writer::real(false);
        writer
            .write(&dir, FolderKind::Run, &run_files("old"), false)
            .expect("write");
        let staged = writer.begin(&dir, FolderKind::Run, true).expect("begin");
        assert!(staged.path().join(MARKER).is_file());
        fs::write(staged.path().join("readings.parquet"), "rows").expect("stream");
        assert_eq!(fs::read(dir.join("metrics.json")).expect("old"), b"old metrics");
        writer
            .complete(&dir, FolderKind::Run, staged, &run_files("new"), true)
            .expect("complete");
        assert_eq!(fs::read(dir.join("readings.parquet")).expect("streamed"), b"rows");
        assert_eq!(fs::read(dir.join("metrics.json")).expect("new"), b"new metrics");
        check_replaceable(&dir, FolderKind::Run).expect("readings.parquet is amirange's");
        let other = tmp.path().join("other");
        let staged = writer.begin(&other, FolderKind::Run, false).expect("begin");
        let path = staged.path().to_path_buf();
        writer.abandon(staged);
        assert!(!path.exists() && !other.exists());
        assert_eq!(fs::read_dir(tmp.path()).expect("dir").count(), 1, "only res");
    }

    /// Finding 2: the hidden folders a dead process left are cleaned by the next write in the
    /// same parent folder (an interrupted replacement's old folder put back); a live process's
    /// are not touched, nor a dead one's that holds a file amirange did not write.
    #[test]
    fn stale_partial_folders_of_dead_processes_are_cleaned() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let parent = tmp.path();
        let make = |name: &str, extra: Option<&str>| {
            let dir = parent.join(name);
            fs::create_dir_all(dir.join("plots")).expect("mkdir");
            fs::write(dir.join(MARKER), marker_bytes(FolderKind::Run)).expect("write");
            fs::write(dir.join("metrics.json"), name).expect("write");
            if let Some(extra) = extra {
                fs::write(dir.join(extra), "mine").expect("write");
            }
        };
        make(".a.partial-4000000007", None);
        make(".b.old-4000000007", None);
        make(".c.partial-4000000008", None);
        make(".d.partial-4000000007", Some("notes.txt"));
        let writer = Writer {
            steps: &RealSteps::default(),
            pid: NEXT_WRITER,
            alive: &|pid| Some(pid == 4_000_000_008),
        };
        let notes = writer.clean_stale(parent);
        assert!(!parent.join(".a.partial-4000000007").exists());
        assert_eq!(
            fs::read(parent.join("b/metrics.json")).expect("restored"),
            b".b.old-4000000007"
        );
        assert!(parent.join(".c.partial-4000000008").exists(), "a live process's");
        assert!(parent.join(".d.partial-4000000007/notes.txt").exists(), "a user's file");
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("removed") && n.contains(".a.partial")),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.contains("restored")), "{notes:?}");
        assert!(
            notes.iter().any(|n| n.contains("left") && n.contains(".d.partial")),
            "{notes:?}"
        );
        // Where liveness cannot be told, they are listed, never deleted.
        make(".e.partial-4000000009", None);
        let unknowing = Writer {
            steps: &RealSteps::default(),
            pid: NEXT_WRITER,
            alive: &|_| None,
        };
        let notes = unknowing.clean_stale(parent);
        assert!(parent.join(".e.partial-4000000009").exists());
        assert!(notes.iter().any(|n| n.contains(".e.partial-4000000009")), "{notes:?}");
    }

    /// Finding 1: `.`, `..`, `DIR/.`, the root and the current folder's ancestors are refused,
    /// with or without `--force`, also through a symbolic link.
    #[test]
    fn force_refuses_the_current_folder_and_its_ancestors() {
        let cwd = std::env::current_dir().expect("cwd");
        for dir in [
            PathBuf::from("."),
            PathBuf::from(".."),
            PathBuf::from("src/."),
            PathBuf::from("src/.."),
            PathBuf::from("/"),
            cwd.clone(),
        ] {
            let err = check_target(&dir, FolderKind::Run, true).expect_err("refused");
            assert!(err.to_string().contains("refusing to use"), "{}: {err}", dir.display());
        }
        let err = check_destination(Path::new("src/..")).expect_err("refused");
        assert!(err.to_string().contains("ends in `..`"), "{err}");
        if let Some(parent) = cwd.parent() {
            let err = check_destination(parent).expect_err("refused");
            assert!(err.to_string().contains("an ancestor of the current folder"), "{err}");
            #[cfg(unix)]
            {
                let tmp = tempfile::tempdir().expect("temp dir");
                let link = tmp.path().join("up");
                std::os::unix::fs::symlink(parent, &link).expect("symlink");
                let err = check_destination(&link).expect_err("refused");
                assert!(err.to_string().contains("an ancestor of the current folder"), "{err}");
            }
        }
        check_destination(Path::new("target/outdir-test-never-created")).expect("a new folder is fine");
    }

    /// The exchange swaps two folders in one step where the platform has it (Linux, on the
    /// file system the tests run on), else says it is unsupported (and the fallback is used).
    #[test]
    fn exchange_swaps_two_folders_or_says_unsupported() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir(&a).expect("mkdir");
        fs::create_dir(&b).expect("mkdir");
        fs::write(a.join("f"), "a").expect("write");
        fs::write(b.join("f"), "b").expect("write");
        match RealSteps::default().exchange(&a, &b) {
            Ok(()) => {
                assert_eq!(fs::read(a.join("f")).expect("read"), b"b");
                assert_eq!(fs::read(b.join("f")).expect("read"), b"a");
            }
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::Unsupported, "{e}");
                assert!(!cfg!(target_os = "linux") || e.to_string().contains("RENAME_EXCHANGE"));
            }
        }
    }
}
