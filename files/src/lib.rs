//! # amirange-files: reading the files users give amirange
//!
//! Every file a user names (a scenario, a topology `File(..)`, an exercise, a sweep plan, a
//! journal to replay) is read here, and every RON text is parsed here, so that each kind of file
//! gets the same guarantees:
//!
//! - [`read_text`] reads only regular files (never `/dev/zero`, a FIFO or a folder) and at most
//!   a limit plus one byte, so a wrong path costs an error, not the machine's memory; the error
//!   names the file and the limit.
//! - [`parse_ron`] accepts a UTF-8 byte-order mark, caps nesting at [`RECURSION_LIMIT`], and
//!   reports every fault as a [`SourceError`]: file, line, column and field, with the field
//!   found by its key path in the text ([`locate`]) for faults that validation finds later.
//! - [`opening`] tells which kind of file a text is (`Scenario(`, `Exercise(`, `Sweep(`,
//!   `Area(`) without quoting anything else of it, so a file that is not what was asked for is
//!   refused without echoing its content.
//!
//! This crate knows nothing of scenarios, exercises or sweeps themselves: their loaders (in the
//! root package and in `amirange-range`) bring the types and the checks.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

/// The most bytes a scenario, topology, exercise or sweep plan file may hold: 4 MiB.
///
/// Why this value: these files are written by hand; the largest one shipped is under 2 KB, so
/// 4 MiB leaves room for thousands of attacks, accounts or IDS rules, while a path that names
/// something else by mistake (a data file, a disk image, `/dev/zero`) is refused after reading
/// 4 MiB and 1 byte instead of filling memory. A 3.5 MB scenario loads in about 0.1 s in a
/// debug build, with a peak of about 22 MB.
pub const MAX_SOURCE_BYTES: u64 = 4 * 1024 * 1024;

/// The most bytes a journal given to `amirange replay` may hold: 1 GiB, which is also the cap
/// at which a live exercise stops taking actions (`amirange_range::session::DEFAULT_JOURNAL_CAP`).
///
/// Why this value: a journal holds one JSON line per request of a live exercise, about 180
/// bytes each; at the range's rate limits a busy day of play stays far below it, and replay
/// keeps the whole text and its parsed lines in memory (a few times the file's size), which
/// still fits a workstation at 1 GiB.
pub const MAX_JOURNAL_BYTES: u64 = 1024 * 1024 * 1024;

/// The most bytes one file of a result or sweep folder may hold when `report` or `merge` reads
/// it back: 256 MiB.
///
/// Why this value: amirange writes these files itself and the largest stay far below it (a
/// year's `timeseries.csv` is about 9 MB, a 100,000-run sweep's `runs.csv` a few tens of MB,
/// `map.csv` at most 12,000 meters); a folder pointed at by mistake, or a file replaced by
/// something else, is refused instead of read whole.
pub const MAX_RESULT_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// How deeply values may nest in a RON file: 128 levels (RON's own default, set here so the
/// refusal can name it). The deepest shipped file nests 5 levels.
pub const RECURSION_LIMIT: usize = 128;

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The operating system refused (no such file, no permission, ...).
    #[error("cannot read {what} {path}: {error}")]
    Io {
        /// What the file was to be (e.g. `scenario file`).
        what: String,
        /// The path as given.
        path: String,
        /// The system's reason.
        error: std::io::Error,
    },
    /// A folder, a device, a FIFO or a socket.
    #[error("{what} {path} is not a regular file (it is {kind}); amirange reads only regular files")]
    NotAFile {
        /// What the file was to be.
        what: String,
        /// The path as given.
        path: String,
        /// What it is instead (e.g. `a character device`).
        kind: &'static str,
    },
    /// More bytes than the limit.
    #[error("{what} {path} is larger than the limit of {} for a {what}", human_bytes(*.limit))]
    TooLarge {
        /// What the file was to be.
        what: String,
        /// The path as given.
        path: String,
        /// The limit, bytes.
        limit: u64,
    },
    /// Bytes that are not UTF-8 text.
    #[error("{what} {path} is not UTF-8 text (the first bad byte is at offset {offset})")]
    NotText {
        /// What the file was to be.
        what: String,
        /// The path as given.
        path: String,
        /// The offset of the first byte that is not UTF-8, bytes from the start.
        offset: usize,
    },
}

/// `n` bytes for people: `4 MiB (4194304 bytes)`, or `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit} ({n} bytes)", n / size);
        }
    }
    format!("{n} bytes")
}

/// Reads the regular file at `path` as UTF-8 text of at most `limit` bytes; `what` names it in
/// errors (`scenario file`, `topology file`, ...). Anything but a regular file is refused
/// before it is opened (opening a FIFO would wait for a writer), and at most `limit + 1` bytes
/// are read whatever the file claims its size to be.
pub fn read_text(path: &Path, what: &str, limit: u64) -> Result<String, ReadError> {
    let shown = path.display().to_string();
    let io = |error: std::io::Error| ReadError::Io {
        what: what.to_owned(),
        path: shown.clone(),
        error,
    };
    let not_a_file = |meta: &std::fs::Metadata| ReadError::NotAFile {
        what: what.to_owned(),
        path: shown.clone(),
        kind: kind_of(meta),
    };
    let too_large = || ReadError::TooLarge {
        what: what.to_owned(),
        path: shown.clone(),
        limit,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(io)?;
    // The path may have been replaced between the look and the open: look again at what was
    // opened.
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let capacity = usize::try_from(meta.len().min(limit)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotText {
        what: what.to_owned(),
        path: shown.clone(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// What a path that is not a regular file is, in words.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// A file that could not be loaded: where, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The file (or a label such as `<built-in quickstart>` or `command line --meters`).
    pub file: String,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// Dotted path of the field, when known (e.g. `topology.meters`, `teams[1].token`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for SourceError {}

/// `source` without a leading UTF-8 byte-order mark (some editors write one; it is not text).
pub fn without_bom(source: &str) -> &str {
    source.strip_prefix('\u{feff}').unwrap_or(source)
}

/// Parses RON `source`, read from `file`, with `options` (their recursion limit replaced by
/// [`RECURSION_LIMIT`]). A byte-order mark is skipped. Errors carry the position RON reports
/// and the field: the one named by the error, or the last key written before the position
/// (except for text after the end of the value, which is blamed on its own position only).
pub fn parse_ron<T: serde::de::DeserializeOwned>(
    file: &str,
    source: &str,
    options: ron::Options,
) -> Result<T, SourceError> {
    let source = without_bom(source);
    options
        .with_recursion_limit(RECURSION_LIMIT)
        .from_str::<T>(source)
        .map_err(|e| ron_error(file, source, &e))
}

/// A RON error as a [`SourceError`] located in `source`.
fn ron_error(file: &str, source: &str, e: &ron::error::SpannedError) -> SourceError {
    let mut position = (e.span.start.line, e.span.start.col);
    if e.code == ron::Error::TrailingCharacters {
        // RON reports where the value ended; the fault is the first text after it.
        position = next_text(source, position);
    }
    let field = match &e.code {
        ron::Error::NoSuchStructField { found, .. } => Some(found.clone()),
        ron::Error::MissingStructField { field, .. } => Some((*field).to_owned()),
        ron::Error::DuplicateStructField { field, .. } => Some((*field).to_owned()),
        ron::Error::TrailingCharacters | ron::Error::ExceededRecursionLimit => None,
        _ => key_before(source, position),
    };
    let message = match &e.code {
        ron::Error::NoSuchStructField { found, expected, .. } => {
            format!("unknown field `{found}`; expected one of: {}", expected.join(", "))
        }
        ron::Error::TrailingCharacters => {
            "unexpected text after the end of the file's value (a file holds one value; is a `)` misplaced?)".to_owned()
        }
        ron::Error::ExceededRecursionLimit => format!("nested too deeply (limit {RECURSION_LIMIT} levels)"),
        other => other.to_string(),
    };
    SourceError {
        file: file.to_owned(),
        position: Some(position),
        field,
        message,
    }
}

/// The position of the first character at or after `from` (1-based line and column) that is
/// neither blank nor in a comment; `from` itself when there is none.
fn next_text(source: &str, from: (usize, usize)) -> (usize, usize) {
    let chars: Vec<char> = source.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    while i < chars.len() && (line, col) < from {
        if chars[i] == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        i += 1;
    }
    let mut in_line_comment = false;
    let mut in_block_comment = false;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if in_line_comment {
            in_line_comment = c != '\n';
        } else if in_block_comment {
            if c == '*' && next == Some('/') {
                in_block_comment = false;
                i += 1;
                col += 1;
            }
        } else if c == '/' && next == Some('/') {
            in_line_comment = true;
        } else if c == '/' && next == Some('*') {
            in_block_comment = true;
            i += 1;
            col += 1;
        } else if !c.is_whitespace() {
            return (line, col);
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        i += 1;
    }
    from
}

/// An error about `field` (dotted, `name[i]` for list entries), located in `source` (read from
/// `file`) by its key path.
pub fn field_error(file: &str, source: &str, field: &str, message: impl Into<String>) -> SourceError {
    let keys: Vec<&str> = field.split('.').collect();
    SourceError {
        file: file.to_owned(),
        position: locate(source, &keys),
        field: Some(field.to_owned()),
        message: message.into(),
    }
}

/// How a RON text opens, after any byte-order mark, blanks, comments and `#![enable(..)]`
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// A named struct: `Name(`, with the name.
    Named(String),
    /// An unnamed struct: `(`.
    Unnamed,
    /// Anything else (not a RON struct; not quoted, so that a wrong file is not echoed).
    Other,
}

/// How `source` opens: the struct name that tells a scenario (`Scenario`) from an exercise
/// (`Exercise`), a sweep plan (`Sweep`) or a topology (`Area`).
pub fn opening(source: &str) -> Opening {
    let chars: Vec<char> = without_bom(source).chars().take(4096).collect();
    let mut i = 0;
    loop {
        while chars.get(i).is_some_and(|c| c.is_whitespace()) {
            i += 1;
        }
        match (chars.get(i), chars.get(i + 1)) {
            (Some('/'), Some('/')) => {
                while chars.get(i).is_some_and(|c| *c != '\n') {
                    i += 1;
                }
            }
            (Some('/'), Some('*')) => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            (Some('#'), Some('!')) => {
                while chars.get(i).is_some_and(|c| *c != ']') {
                    i += 1;
                }
                i += 1;
            }
            _ => break,
        }
    }
    match chars.get(i) {
        Some('(') => Opening::Unnamed,
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            let start = i;
            while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                i += 1;
            }
            if chars.get(i) == Some(&'(') && name.len() <= 64 {
                Opening::Named(name)
            } else {
                Opening::Other
            }
        }
        _ => Opening::Other,
    }
}

/// Checks that `source` opens as a `kind` should (`expected(` or an unnamed `(`); otherwise
/// says what it is not, quoting at most the struct name it opens with and nothing else of it.
pub fn check_opening(source: &str, expected: &str, kind: &str) -> Result<(), String> {
    let a = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    match opening(source) {
        Opening::Unnamed => Ok(()),
        Opening::Named(name) if name == expected => Ok(()),
        Opening::Named(name) => Err(format!(
            "not {a} {kind}: it opens with `{name}(`, where {a} {kind} opens with `{expected}(`"
        )),
        Opening::Other => Err(format!("not {a} {kind}: {a} {kind} opens with `{expected}(`")),
    }
}

/// Finds the line and column of a field in RON source by following its key path: the first
/// `keys[0]:`, then the first `keys[1]:` after it, and so on. Comments and strings are skipped.
/// Returns the position of the last key found, which is the field itself when the file spells it
/// out, or its nearest written parent when defaults filled it in.
///
/// A key written `name[i]` (a list element, e.g. `attacks[2]`) finds `name:`, then skips to the
/// `i`-th repetition of the key that opens the list's first element (elements written alike,
/// such as attacks that each start with `id:`).
pub fn locate(source: &str, keys: &[&str]) -> Option<(usize, usize)> {
    let found = keys_in(source);
    let mut from = 0;
    let mut best = None;
    for key in keys {
        let (name, index) = match key.split_once('[') {
            Some((name, rest)) => (name, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*key, None),
        };
        match found[from..].iter().position(|(k, _, _)| k == name) {
            Some(i) => {
                let (_, line, col) = &found[from + i];
                best = Some((*line, *col));
                from += i + 1;
            }
            None => break,
        }
        if let (Some(index), Some((first, _, _))) = (index, found.get(from)) {
            let first = first.clone();
            let mut seen = 0;
            let mut at = None;
            for (j, (k, line, col)) in found[from..].iter().enumerate() {
                if *k == first {
                    if seen == index {
                        at = Some((j, *line, *col));
                        break;
                    }
                    seen += 1;
                }
            }
            match at {
                Some((j, line, col)) => {
                    best = Some((line, col));
                    from += j;
                }
                None => break,
            }
        }
    }
    best
}

/// The last key written before `position`, used to name the field near a syntax error.
pub fn key_before(source: &str, position: (usize, usize)) -> Option<String> {
    keys_in(source)
        .into_iter()
        .rfind(|(_, line, col)| (*line, *col) <= position)
        .map(|(k, _, _)| k)
}

/// Every `identifier:` in the source with its 1-based line and column (a byte-order mark is
/// not counted: editors do not show it).
fn keys_in(source: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let chars: Vec<char> = without_bom(source).chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let advance = |c: char, line: &mut usize, col: &mut usize| {
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(chars[i], &mut line, &mut col);
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                advance(chars[i], &mut line, &mut col);
                i += 1;
            }
            i = (i + 2).min(chars.len());
            col += 2;
            continue;
        }
        if c == '"' {
            advance(c, &mut line, &mut col);
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    advance(chars[i], &mut line, &mut col);
                    i += 1;
                }
                if i < chars.len() {
                    advance(chars[i], &mut line, &mut col);
                    i += 1;
                }
            }
            advance('"', &mut line, &mut col);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let (start_line, start_col, start) = (line, col, i);
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                advance(chars[i], &mut line, &mut col);
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && (chars[j] == ' ' || chars[j] == '\t') {
                j += 1;
            }
            if chars.get(j) == Some(&':') {
                out.push((word, start_line, start_col));
            }
            continue;
        }
        advance(c, &mut line, &mut col);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename = "Thing")]
    #[expect(dead_code, reason = "only parsed")]
    struct Thing {
        name: String,
        #[serde(default)]
        nested: serde::de::IgnoredAny,
    }

    fn parse(source: &str) -> Result<Thing, SourceError> {
        parse_ron("t.ron", source, ron::Options::default())
    }

    #[test]
    fn dev_zero_and_folders_are_refused_without_reading() {
        let err = read_text(Path::new("/dev/zero"), "topology file", MAX_SOURCE_BYTES).expect_err("a device");
        assert_eq!(
            err.to_string(),
            "topology file /dev/zero is not a regular file (it is a character device); amirange reads only regular files"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let err = read_text(dir.path(), "scenario file", MAX_SOURCE_BYTES).expect_err("a folder");
        assert!(err.to_string().contains("(it is a folder)"), "{err}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big.ron");
        std::fs::write(&path, vec![b' '; 2049]).expect("write");
        let err = read_text(&path, "sweep plan", 2048).expect_err("too large");
        assert_eq!(
            err.to_string(),
            format!(
                "sweep plan {} is larger than the limit of 2 KiB (2048 bytes) for a sweep plan",
                path.display()
            )
        );
        assert_eq!(read_text(&path, "sweep plan", 2049).expect("at the limit").len(), 2049);
        std::fs::write(&path, [b'a', 0xff]).expect("write");
        let err = read_text(&path, "sweep plan", 2048).expect_err("not text");
        assert!(
            err.to_string()
                .contains("not UTF-8 text (the first bad byte is at offset 1)"),
            "{err}"
        );
    }

    #[test]
    fn byte_order_mark_is_skipped_and_positions_ignore_it() {
        assert!(parse("\u{feff}Thing(name: \"a\")").is_ok());
        let err = parse("\u{feff}Thing(name: \"a\", nme: 1)").expect_err("unknown field");
        assert_eq!(err.position, Some((1, 18)));
        assert_eq!(locate("\u{feff}Thing(name: 1)", &["name"]), Some((1, 7)));
    }

    #[test]
    fn trailing_text_is_blamed_on_its_position_and_nesting_on_the_limit() {
        let err = parse("Thing(\n  name: \"a\",\n)\nx").expect_err("trailing");
        assert_eq!(err.field, None, "{err}");
        assert_eq!(err.position, Some((4, 1)), "{err}");
        let err = parse("Thing(name: \"a\") // done\n /* more */ )").expect_err("trailing");
        assert_eq!(err.position, Some((2, 13)), "{err}");
        let deep = format!("Thing(name: \"a\", nested: [{}{}])", "[".repeat(200), "]".repeat(200));
        let err = parse(&deep).expect_err("too deep");
        assert!(err.message.starts_with("nested too deeply (limit 128 levels)"), "{err}");
        assert!(!err.to_string().contains("serde_stacker"), "{err}");
    }

    #[test]
    fn opening_names_the_struct_without_echoing_other_text() {
        assert_eq!(
            opening("\u{feff}// c\n/* d */ #![enable(implicit_some)]\n Scenario (x: 1)"),
            Opening::Named("Scenario".into())
        );
        assert_eq!(opening("  (x: 1)"), Opening::Unnamed);
        assert_eq!(opening("root:x:0:0:root:/root:/bin/bash"), Opening::Other);
        assert_eq!(opening(""), Opening::Other);
    }
}
