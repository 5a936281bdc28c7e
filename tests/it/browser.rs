//! A run's report.html in a real browser: every chart is parsed, laid out, visible and drawn.
//!
//! The test runs the real `amirange` executable on an attack scenario with a defense preset,
//! opens the result folder's report.html in headless Chromium through chromedriver (W3C
//! WebDriver, spoken over plain HTTP/1.1 with a tiny client below), and checks every chart
//! (each `svg` inside a `figure`): it is displayed, at least 100 × 100 CSS pixels, and its
//! screenshot is not blank (at least 1% of its pixels differ from white, and it has at least
//! 3 colours). The browser must find as many charts as report.html holds `<svg` tags, so a chart
//! the browser failed to parse fails the test. The number of charts is read from the report,
//! never hard-coded. A full-page screenshot is written to `target/tmp/report-screenshot.png`
//! (and each chart to `target/tmp/report-chart-<figure id>.png`) for a person to look at.
//!
//! Needs Debian's `chromium` and `chromium-driver` packages (`chromedriver` and `chromium` on
//! PATH). Without them the test prints that it was skipped, and why, and passes, unless the
//! environment variable `AMIRANGE_REQUIRE_BROWSER` is `1` (as `.ci/run` sets it, after
//! installing both), where it fails and says what to install.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{amirange, read};

/// The W3C WebDriver key under which an element reference travels.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The smallest width and height of a chart, in CSS pixels.
const MIN_CHART_PX: f64 = 100.0;
/// The smallest share of a chart's screenshot pixels that must differ from white.
const MIN_INKED_SHARE: f64 = 0.01;
/// The fewest distinct colours in a chart's screenshot.
const MIN_COLOURS: usize = 3;

#[test]
fn report_charts_render_visibly_in_headless_chromium() {
    let Some((driver, chromium)) = browser_or_skip() else {
        return;
    };

    // A small attack run with a defense preset: a timeline and a detection chart at least.
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("run");
    let scenario = format!("{}/scenarios/attacks/jamming-constant.ron", env!("CARGO_MANIFEST_DIR"));
    let o = amirange(
        &[
            "run",
            &scenario,
            "--meters",
            "2000",
            "--preset",
            "hardened",
            "--out",
            out.to_str().expect("utf-8 temp path"),
            "--quiet",
        ],
        tmp.path(),
    );
    assert!(
        o.status.success(),
        "amirange run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = out.join("report.html");
    let html = String::from_utf8(read(&report)).expect("report.html is utf-8");
    let svgs_in_html = html.matches("<svg").count();
    let figures_in_html = html.matches("<figure").count();
    assert!(
        svgs_in_html >= 2,
        "report.html of an attack run with a defense preset should hold a timeline and a \
         detection chart, but has {svgs_in_html} <svg> tag(s)"
    );

    let mut browser = Browser::start(&driver, &tmp.path().join("chromedriver.log"));
    browser.new_session(&chromium);
    let url = file_url(&report.canonicalize().expect("absolute report path"));
    browser.cmd("POST", "url", Some(json!({ "url": url })));
    let title = browser.cmd("GET", "title", None);
    assert!(
        title.as_str().is_some_and(|t| t.starts_with("amirange")),
        "{url} did not load as the report (title {title})"
    );

    // Every figure, its id, and the charts inside it.
    let figures = browser.find(None, "figure");
    assert_eq!(
        figures.len(),
        figures_in_html,
        "the browser found {} <figure> elements, report.html has {figures_in_html} <figure> tags",
        figures.len()
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&shots).expect("target tmp dir");
    // (label for failures, element id, screenshot file) of every chart.
    let mut charts = Vec::new();
    for (i, figure) in figures.iter().enumerate() {
        let id = browser.cmd("GET", &format!("element/{figure}/attribute/id"), None);
        let id = id.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let svgs = browser.find(Some(figure), "svg");
        for (j, svg) in svgs.into_iter().enumerate() {
            let n = charts.len();
            let (label, file) = match id.as_deref() {
                Some(id) if j == 0 => (format!("chart {n} (figure #{id})"), format!("report-chart-{id}.png")),
                Some(id) => (
                    format!("chart {n} (svg {j} of figure #{id})"),
                    format!("report-chart-{id}-{j}.png"),
                ),
                None => (
                    format!("chart {n} (svg {j} of figure {i}, which has no id)"),
                    format!("report-chart-{i}-{j}.png"),
                ),
            };
            charts.push((label, svg, shots.join(file)));
        }
    }
    assert_eq!(
        charts.len(),
        svgs_in_html,
        "the browser found {} charts (svg inside a figure), report.html has {svgs_in_html} \
         <svg> tags: a chart was not parsed or sits outside a figure",
        charts.len()
    );

    // Laid out in the 1200 x 900 window: displayed, and big enough.
    let rects: Vec<Value> = charts
        .iter()
        .map(|(label, svg, _)| check_layout(&browser, svg, label))
        .collect();

    // Element screenshots are cut to the viewport: grow the window to hold the whole page
    // (the width stays, so the layout does not change), then look at every chart's pixels.
    fit_window_to_page(&browser);
    for ((label, svg, file), rect) in charts.iter().zip(&rects) {
        check_pixels(&browser, svg, label, rect, file);
    }

    // A full-page screenshot for a person.
    browser.cmd(
        "POST",
        "execute/sync",
        Some(json!({ "script": "window.scrollTo(0, 0);", "args": [] })),
    );
    let page = decode_base64(&browser.cmd("GET", "screenshot", None), "the page screenshot");
    let page_path = shots.join("report-screenshot.png");
    std::fs::write(&page_path, &page).unwrap_or_else(|e| panic!("{}: {e}", page_path.display()));
    let (w, h, _) = decode_png(&page).unwrap_or_else(|e| panic!("the page screenshot: {e}"));
    println!(
        "browser: {} charts visible and drawn in {}; page screenshot ({w}x{h}): {}",
        charts.len(),
        report.display(),
        page_path.display()
    );
}

/// Checks that one chart is displayed and big enough, returning its rect. Panics naming it.
fn check_layout(browser: &Browser, svg: &str, label: &str) -> Value {
    let displayed = browser.cmd("GET", &format!("element/{svg}/displayed"), None);
    assert_eq!(displayed, json!(true), "{label} is not displayed");
    let rect = browser.cmd("GET", &format!("element/{svg}/rect"), None);
    let num = |k: &str| rect[k].as_f64().unwrap_or(f64::NAN);
    let (x, y, width, height) = (num("x"), num("y"), num("width"), num("height"));
    assert!(
        width >= MIN_CHART_PX && height >= MIN_CHART_PX,
        "{label} is {width} x {height} CSS pixels, under {MIN_CHART_PX} x {MIN_CHART_PX} \
         (rect {rect})"
    );
    assert!(x >= 0.0 && y >= 0.0, "{label} lies off the page at ({x}, {y})");
    rect
}

/// Grows the window to the page's full height (at most 16,000 pixels), keeping its width.
fn fit_window_to_page(browser: &Browser) {
    let sizes = browser.cmd(
        "POST",
        "execute/sync",
        Some(json!({
            "script": "return [document.documentElement.scrollHeight, \
                       window.outerHeight - window.innerHeight];",
            "args": [],
        })),
    );
    let page = sizes[0].as_f64().unwrap_or(900.0);
    let chrome = sizes[1].as_f64().unwrap_or(0.0).max(0.0);
    let height = (page + chrome).ceil().clamp(900.0, 16_000.0);
    browser.cmd("POST", "window/rect", Some(json!({ "width": 1200, "height": height })));
}

/// Checks that one chart's screenshot holds the whole chart and is not blank. Panics naming it.
fn check_pixels(browser: &Browser, svg: &str, label: &str, rect: &Value, png_path: &Path) {
    let shot = browser.cmd("GET", &format!("element/{svg}/screenshot"), None);
    let png = decode_base64(&shot, label);
    std::fs::write(png_path, &png).unwrap_or_else(|e| panic!("{}: {e}", png_path.display()));
    let (w, h, pixels) = decode_png(&png).unwrap_or_else(|e| panic!("{label}'s screenshot: {e}"));
    let num = |k: &str| rect[k].as_f64().unwrap_or(f64::NAN);
    let (width, height) = (num("width"), num("height"));
    assert!(
        f64::from(w) >= width.floor() && f64::from(h) >= height.floor(),
        "{label}'s screenshot is {w}x{h} pixels, smaller than the chart's {width} x {height} \
         CSS pixels: the chart was cut off (see {})",
        png_path.display()
    );
    let inked = pixels.iter().filter(|p| p.iter().any(|&c| c < 250)).count();
    let share = inked as f64 / pixels.len().max(1) as f64;
    let colours = pixels.iter().collect::<HashSet<_>>().len();
    assert!(
        share >= MIN_INKED_SHARE,
        "{label} looks blank: only {:.3}% of its {w}x{h} screenshot differs from white \
         (want at least {}%; see {})",
        share * 100.0,
        MIN_INKED_SHARE * 100.0,
        png_path.display()
    );
    assert!(
        colours >= MIN_COLOURS,
        "{label} looks blank: its {w}x{h} screenshot has {colours} colour(s), want at least \
         {MIN_COLOURS} (see {})",
        png_path.display()
    );
    println!(
        "browser: {label}: {width} x {height} CSS px, screenshot {w}x{h}, {:.1}% inked, \
         {colours} colours",
        share * 100.0
    );
}

/// chromedriver and the Chromium binary, or None after printing why the test is skipped;
/// panics instead when `AMIRANGE_REQUIRE_BROWSER=1`.
fn browser_or_skip() -> Option<(PathBuf, PathBuf)> {
    let driver = on_path("chromedriver");
    let chromium = Some(PathBuf::from("/usr/bin/chromium"))
        .filter(|p| p.is_file())
        .or_else(|| on_path("chromium"));
    let missing: Vec<&str> = [("chromedriver", driver.is_none()), ("chromium", chromium.is_none())]
        .into_iter()
        .filter_map(|(name, gone)| gone.then_some(name))
        .collect();
    match (driver, chromium) {
        (Some(d), Some(c)) => Some((d, c)),
        _ => {
            let why = format!(
                "{} not found on PATH; install Debian's `chromium` and `chromium-driver` \
                 packages (apt-get install chromium chromium-driver)",
                missing.join(" and ")
            );
            if std::env::var("AMIRANGE_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("AMIRANGE_REQUIRE_BROWSER=1 but {why}");
            }
            println!(
                "browser test skipped: {why}; set AMIRANGE_REQUIRE_BROWSER=1 to make this a \
                 failure"
            );
            None
        }
    }
}

/// The first executable file called `name` in a PATH directory.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A `file://` URL for an absolute path, percent-encoding all but unreserved bytes and `/`.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for &b in path.to_str().expect("utf-8 report path").as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Bytes from a WebDriver screenshot value (a base64 string). Panics naming `what`.
fn decode_base64(value: &Value, what: &str) -> Vec<u8> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: the screenshot is not a string: {value}"));
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("{what}: the screenshot is not base64: {e}"))
}

/// A PNG's width, height and pixels as RGB, alpha composited over white.
fn decode_png(bytes: &[u8]) -> Result<(u32, u32, Vec<[u8; 3]>), String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
    let size = reader.output_buffer_size().ok_or("the PNG is too large")?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| format!("PNG decode: {e}"))?;
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("an indexed PNG was not expanded".into()),
    };
    let (w, h) = (info.width as usize, info.height as usize);
    let mut pixels = Vec::with_capacity(w * h);
    for row in buf.chunks(info.line_size).take(h) {
        for p in row[..w * channels].chunks(channels) {
            let (rgb, alpha) = match channels {
                1 => ([p[0]; 3], 255),
                2 => ([p[0]; 3], p[1]),
                3 => ([p[0], p[1], p[2]], 255),
                _ => ([p[0], p[1], p[2]], p[3]),
            };
            let over_white = |c: u8| {
                let (c, a) = (u32::from(c), u32::from(alpha));
                u8::try_from((c * a + 255 * (255 - a) + 127) / 255).unwrap_or(255)
            };
            pixels.push(rgb.map(over_white));
        }
    }
    Ok((info.width, info.height, pixels))
}

/// A running chromedriver and, once made, its browser session. Dropping it (also while a
/// failed assertion unwinds) deletes the session and kills chromedriver.
struct Browser {
    child: Child,
    addr: SocketAddr,
    session: Option<String>,
    log: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and waits until it reports ready.
    fn start(driver: &Path, log: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let mut browser = Browser {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: None,
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = browser.child.try_wait() {
                panic!("{} exited at start: {status}", driver.display());
            }
            if let Ok((200, v)) = http(browser.addr, "GET", "/status", None)
                && v["value"]["ready"] == json!(true)
            {
                return browser;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not become ready on port {port} within 30 s",
                driver.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Opens a headless Chromium session.
    fn new_session(&mut self, chromium: &Path) {
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": chromium.to_str().expect("utf-8 chromium path"),
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            // The report needs no network: keep the browser from trying its
                            // own (updates, sync, QUIC probes) on machines with none.
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-quic",
                            "--no-first-run",
                            "--window-size=1200,900",
                        ],
                    },
                },
            },
        });
        let v = self.call("POST", "/session", Some(caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("new session: no sessionId in {v}"));
        self.session = Some(id.to_owned());
    }

    /// A command on the session (`path` relative to `/session/{id}/`), returning its value.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let id = self.session.as_deref().expect("a session");
        self.call(method, &format!("/session/{id}/{path}"), body)
    }

    /// A WebDriver call: its `value` on success, a panic with the driver's error otherwise.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        match http(self.addr, method, path, body.as_ref()) {
            Ok((200, mut v)) => v["value"].take(),
            Ok((status, v)) => panic!(
                "WebDriver {method} {path}: HTTP {status}: {} {}",
                v["value"]["error"], v["value"]["message"]
            ),
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        }
    }

    /// Element ids matching a CSS selector, in document order, under `parent` or the page.
    fn find(&self, parent: Option<&str>, css: &str) -> Vec<String> {
        let path = match parent {
            Some(p) => format!("element/{p}/elements"),
            None => "elements".to_owned(),
        };
        let found = self.cmd("POST", &path, Some(json!({ "using": "css selector", "value": css })));
        found
            .as_array()
            .unwrap_or_else(|| panic!("find {css:?}: not a list: {found}"))
            .iter()
            .map(|e| {
                e[ELEMENT_KEY]
                    .as_str()
                    .unwrap_or_else(|| panic!("find {css:?}: not an element: {e}"))
                    .to_owned()
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = http(self.addr, "DELETE", &format!("/session/{id}"), None);
        }
        // Deleting the session closes the browser; then chromedriver goes. (Do not signal a
        // process group with `kill -KILL -PID`: procps-ng 4.0.2's kill reads that as every
        // process it may signal, which ended this machine's whole session when we tried.)
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking()
            && let Ok(log) = std::fs::read_to_string(&self.log)
        {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("--- the last lines of chromedriver's log ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// One HTTP/1.1 request with a JSON body: the status and the JSON body. The response is read
/// to its Content-Length (or its last chunk): chromedriver answers `Connection: close` yet keeps
/// the socket open, and drops a request whose sender half-closes the socket.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .and_then(|()| stream.set_write_timeout(Some(Duration::from_secs(30))))
        .map_err(|e| format!("socket timeouts: {e}"))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; \
         charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| format!("send: {e}"))?;

    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    // Reads more of the response; false at the end of the stream.
    let mut more = |raw: &mut Vec<u8>| -> Result<bool, String> {
        let n = stream.read(&mut buf).map_err(|e| format!("read the response: {e}"))?;
        raw.extend_from_slice(&buf[..n]);
        Ok(n > 0)
    };
    let split = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if !more(&mut raw)? {
            return Err(format!("no end of headers in {} bytes", raw.len()));
        }
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let (mut chunked, mut length) = (false, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {value:?}"))?,
            );
        }
    }
    let start = split + 4;
    let payload = if chunked {
        loop {
            if let Some(body) = dechunk(&raw[start..])? {
                break body;
            }
            if !more(&mut raw)? {
                return Err("the chunked response was cut short".into());
            }
        }
    } else if let Some(len) = length {
        while raw.len() < start + len {
            if !more(&mut raw)? {
                return Err(format!("response cut short: {} of {len} bytes", raw.len() - start));
            }
        }
        raw[start..start + len].to_vec()
    } else {
        while more(&mut raw)? {}
        raw[start..].to_vec()
    };
    let value = if payload.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&payload).map_err(|e| {
            format!(
                "HTTP {status}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(&payload[..payload.len().min(500)])
            )
        })?
    };
    Ok((status, value))
}

/// The body of a `Transfer-Encoding: chunked` response, or None while its last chunk has not
/// arrived yet.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        data = &data[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
