//! `cargo xtask fetch`: bring the files of the asset manifest into the data directory, each one
//! verified before it lands.
//!
//! Spec: spec/data-assets.md. Invariants:
//! - bytes arrive in `<data>/.partial/<name>.part` and are hashed as they arrive (SHA-256, plus
//!   MD5 where the manifest pins one); a file reaches its `dest` only by a rename made after every
//!   pin (size, SHA-256, SHA-256 prefix, MD5, or the lock's record) agreed;
//! - a file that disagrees goes to `<data>/.quarantine/`, never to `dest`, and the error names the
//!   expected and the actual digest;
//! - an interrupted download resumes with `Range: bytes=N-` (the N bytes on disk are hashed again
//!   first); a server answering 200 instead of 206 restarts it from zero; retries back off
//!   exponentially and are bounded; 4xx answers are not retried;
//! - an entry the manifest pins nothing about is trusted on first use: its digest goes to the lock
//!   file, is printed, and pins every later download and `verify`;
//! - a present file that verifies is not fetched again, so a rerun is a no-op.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::archive;
use crate::assets::{Entry, Lock, LockRecord, Manifest, Source};
use crate::disk::{check_free_space, hash_file, Digests, Hashes};

/// What `cargo xtask fetch` was asked for.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct FetchArgs {
    /// Fetch only these assets or groups (recipe1m, food101, weights, authors, bert); repeatable
    /// or comma-separated.
    #[arg(long, value_name = "NAME|GROUP", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where files behind a registration come from: a directory, or a base URL
    /// (`URL/<relative path>`). A directory is also looked in first for the other files.
    #[arg(long, value_name = "URL|DIR")]
    pub mirror: Option<String>,
    /// The data directory (default: `<workspace>/data`, where paper/configs/paper.toml looks).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// A user-supplied source of the `mirror:` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirror {
    Dir(PathBuf),
    Url(String),
}

impl Mirror {
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Mirror::Url(s.trim_end_matches('/').to_string())
        } else {
            Mirror::Dir(PathBuf::from(s))
        }
    }
}

/// Retries of one download: at most `attempts` requests, waiting `first_delay`, then twice as
/// long each time, never more than `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 8,
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub data: PathBuf,
    pub mirror: Option<Mirror>,
    pub retry: Retry,
    /// Longest wait for a connection, or for the next bytes of a body.
    pub timeout: Duration,
    /// Honour `http_proxy`/`https_proxy` from the environment.
    pub system_proxy: bool,
    /// Draw progress bars (indicatif hides them anyway when stderr is not a terminal).
    pub progress: bool,
}

impl Options {
    pub fn new(data: PathBuf) -> Self {
        Self {
            data,
            mirror: None,
            retry: Retry::default(),
            timeout: Duration::from_secs(60),
            system_proxy: true,
            progress: true,
        }
    }

    fn partial_dir(&self) -> PathBuf {
        self.data.join(".partial")
    }

    fn quarantine_dir(&self) -> PathBuf {
        self.data.join(".quarantine")
    }
}

/// What happened to one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Present and verified; nothing fetched.
    Present,
    /// Landed from this URL or path.
    Landed { from: String },
}

/// The default data directory: `<workspace>/data`.
pub fn default_data_dir() -> PathBuf {
    crate::workspace_root().join("data")
}

/// Entry point of `cargo xtask fetch`.
pub fn run(args: &FetchArgs) -> Result<()> {
    let manifest = Manifest::committed()?;
    let mut opts = Options::new(args.data.clone().unwrap_or_else(default_data_dir));
    opts.mirror = args.mirror.as_deref().map(Mirror::parse);
    fetch(&manifest, &args.only, &opts)?;
    Ok(())
}

/// Fetches the selected entries; every entry is tried, and the failures are reported together.
pub fn fetch(manifest: &Manifest, only: &[String], opts: &Options) -> Result<Vec<Outcome>> {
    let entries = manifest.select(only)?;
    fs::create_dir_all(&opts.data)
        .with_context(|| format!("cannot create the data directory {}", opts.data.display()))?;
    let client = client(opts)?;
    let mut lock = Lock::load(&opts.data)?;
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for e in entries {
        match fetch_entry(e, opts, &client, &mut lock) {
            Ok(o) => {
                match &o {
                    Outcome::Present => eprintln!("fetch: {}: present and verified", e.name),
                    Outcome::Landed { from } => {
                        eprintln!("fetch: {}: verified and installed from {from}", e.name)
                    }
                }
                outcomes.push(o);
            }
            Err(err) => {
                eprintln!("fetch: {}: FAILED (the reasons follow at the end)", e.name);
                failures.push(format!("{}: {err:#}", e.name));
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} assets could not be fetched:\n- {}",
            failures.len(),
            failures.len() + outcomes.len(),
            failures.join("\n- ")
        );
    }
    Ok(outcomes)
}

fn client(opts: &Options) -> Result<reqwest::blocking::Client> {
    let mut b = reqwest::blocking::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .user_agent(concat!("seje-xtask/", env!("CARGO_PKG_VERSION")));
    if !opts.system_proxy {
        b = b.no_proxy();
    }
    b.build().context("cannot build the HTTP client")
}

/// Checks digests against the manifest's pins, or against the lock for an unpinned entry.
pub fn check(entry: &Entry, record: Option<&LockRecord>, d: &Digests) -> Result<(), String> {
    entry.check_pins(d)?;
    if !entry.is_pinned() {
        if let Some(r) = record {
            if r.sha256 != d.sha256 {
                return Err(format!(
                    "sha256 expected {} (recorded in the lock on first use), actual {}",
                    r.sha256, d.sha256
                ));
            }
        }
    }
    Ok(())
}

fn fetch_entry(
    e: &Entry,
    opts: &Options,
    client: &reqwest::blocking::Client,
    lock: &mut Lock,
) -> Result<Outcome> {
    let data = &opts.data;
    let dest = e.dest_path(data);
    let with_md5 = e.md5.is_some();
    if dest.exists() {
        eprintln!("fetch: {}: checking the present {}", e.name, dest.display());
        let d = hash_file(&dest, with_md5)?;
        match check(e, lock.asset.get(&e.name), &d) {
            Ok(()) => {
                if !lock.asset.contains_key(&e.name) {
                    record(
                        e,
                        lock,
                        &d,
                        &format!("present file {}", dest.display()),
                        data,
                    )?;
                }
                ensure_extracted(e, opts, lock)?;
                return Ok(Outcome::Present);
            }
            Err(why) => {
                let q = quarantine(&dest, &e.name, opts)?;
                eprintln!(
                    "fetch: {}: the present {} does not match ({why}); moved to {} and fetching \
                     it again",
                    e.name,
                    dest.display(),
                    q.display()
                );
                if let Some(r) = lock.asset.get_mut(&e.name) {
                    r.extracted_to = None;
                }
            }
        }
    }

    let partial = opts.partial_dir();
    fs::create_dir_all(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let part = partial.join(format!("{}.part", e.name));
    if let Some(size) = e.size {
        let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        check_free_space(&partial, size.saturating_sub(have))
            .with_context(|| format!("before fetching {} ({size} bytes)", e.name))?;
    }
    let (from, d) = obtain(e, opts, client, &part, with_md5)?;

    if let Err(why) = check(e, lock.asset.get(&e.name), &d) {
        let q = quarantine(&part, &e.name, opts)?;
        bail!(
            "digest mismatch for {} from {from}: {why}; the file was moved to {} and was not \
             installed at {}",
            e.name,
            q.display(),
            dest.display()
        );
    }
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // The lock first: a crash between the two leaves a record and no file, which the next run
    // fetches and holds to the record, never a file that no record vouches for.
    record(e, lock, &d, &from, data)?;
    fs::rename(&part, &dest)
        .with_context(|| format!("cannot move {} to {}", part.display(), dest.display()))?;
    ensure_extracted(e, opts, lock)?;
    Ok(Outcome::Landed { from })
}

/// Records a landed file in the lock; says so loudly when the record is the only pin.
fn record(e: &Entry, lock: &mut Lock, d: &Digests, from: &str, data: &Path) -> Result<()> {
    let tofu = !e.is_pinned();
    let first_use = tofu && !lock.asset.contains_key(&e.name);
    lock.asset.insert(
        e.name.clone(),
        LockRecord {
            sha256: d.sha256.clone(),
            size: d.len,
            from: from.to_string(),
            trust_on_first_use: tofu,
            extracted_to: None,
        },
    );
    lock.save(data)?;
    if first_use {
        eprintln!(
            "fetch: TRUST ON FIRST USE: {} has no digest in the manifest; recorded sha256 {} \
             ({} bytes, from {from}) in {}. Later fetches and `cargo xtask verify` hold it to \
             this digest; compare it with a digest you trust.",
            e.name,
            d.sha256,
            d.len,
            Lock::path(data).display()
        );
    }
    Ok(())
}

fn ensure_extracted(e: &Entry, opts: &Options, lock: &mut Lock) -> Result<()> {
    let (Some(kind), Some(to)) = (e.extract, e.extract_dir(&opts.data)) else {
        return Ok(());
    };
    let to_name = e.extract_to.clone().unwrap_or_else(|| ".".into());
    let rec = lock
        .asset
        .get_mut(&e.name)
        .expect("a landed file has a lock record");
    if rec.extracted_to.as_deref() == Some(to_name.as_str()) && to.exists() {
        return Ok(());
    }
    let archive_path = e.dest_path(&opts.data);
    let size = fs::metadata(&archive_path)?.len();
    // The unpacked size of a compressed archive is not known in advance: its own size is the
    // least it needs.
    check_free_space(&to, size).with_context(|| format!("before extracting {}", e.name))?;
    eprintln!("fetch: {}: extracting into {}", e.name, to.display());
    archive::extract(&archive_path, kind, &to, &opts.partial_dir())?;
    rec.extracted_to = Some(to_name);
    lock.save(&opts.data)
}

/// Moves a rejected file into `<data>/.quarantine/`; returns where it went.
fn quarantine(file: &Path, name: &str, opts: &Options) -> Result<PathBuf> {
    let dir = opts.quarantine_dir();
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut q = dir.join(format!("{name}.{stamp}"));
    let mut n = 1;
    while q.exists() {
        q = dir.join(format!("{name}.{stamp}.{n}"));
        n += 1;
    }
    fs::rename(file, &q)
        .with_context(|| format!("cannot move {} to {}", file.display(), q.display()))?;
    Ok(q)
}

/// Brings the bytes of `e` into `part`; returns where they came from and their digests.
fn obtain(
    e: &Entry,
    opts: &Options,
    client: &reqwest::blocking::Client,
    part: &Path,
    with_md5: bool,
) -> Result<(String, Digests)> {
    if let Some(Mirror::Dir(dir)) = &opts.mirror {
        let src = dir.join(e.mirror_path());
        if src.is_file() {
            let d = copy_hashing(&src, part, with_md5, opts, &e.name)?;
            return Ok((src.display().to_string(), d));
        }
        if matches!(e.source(), Source::Mirror(_)) {
            bail!(
                "{} is not in the mirror directory {} (expected at {})",
                e.name,
                dir.display(),
                src.display()
            );
        }
    }
    let url = match (e.source(), &opts.mirror) {
        (Source::Url(u), _) => u.to_string(),
        (Source::Mirror(rel), Some(Mirror::Url(base))) => format!("{base}/{rel}"),
        (Source::Mirror(rel), _) => bail!(
            "{} is not downloaded by this package: obtain it by hand from {}, then pass \
             `--mirror DIR` (a directory holding {rel}) or `--mirror URL` (serving URL/{rel})",
            e.name,
            e.page.as_deref().unwrap_or("its publisher")
        ),
    };
    let d = download(client, &url, part, with_md5, opts, &e.name)?;
    Ok((url, d))
}

fn progress_bar(
    opts: &Options,
    total: Option<u64>,
    start: u64,
    label: &str,
) -> indicatif::ProgressBar {
    if !opts.progress {
        return indicatif::ProgressBar::hidden();
    }
    let (pb, template) = match total {
        Some(t) => (
            indicatif::ProgressBar::new(t),
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{msg} {spinner} {bytes} {bytes_per_sec}",
        ),
    };
    pb.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    pb.set_message(label.to_string());
    pb.set_position(start);
    pb
}

/// Copies `src` to `part`, hashing the bytes on the way.
fn copy_hashing(
    src: &Path,
    part: &Path,
    with_md5: bool,
    opts: &Options,
    name: &str,
) -> Result<Digests> {
    let len = fs::metadata(src)
        .with_context(|| format!("cannot read {}", src.display()))?
        .len();
    check_free_space(part.parent().unwrap_or(part), len)
        .with_context(|| format!("before copying {}", src.display()))?;
    let mut r = fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let mut w =
        fs::File::create(part).with_context(|| format!("cannot create {}", part.display()))?;
    let mut h = Hashes::new(with_md5);
    let pb = progress_bar(opts, Some(len), 0, name);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", src.display()))?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])
            .with_context(|| format!("cannot write {} (disk full?)", part.display()))?;
        h.update(&buf[..n]);
        pb.inc(n as u64);
    }
    w.flush()?;
    pb.finish_and_clear();
    Ok(h.finish())
}

enum Failure {
    /// Not worth another request (a 4xx answer, a full disk).
    Fatal(anyhow::Error),
    /// A dropped connection, a truncated body, a 5xx answer: try again, resuming.
    Again(anyhow::Error),
    /// The server cannot be reached at all: its name does not resolve, the connection is refused,
    /// or TLS cannot be set up. Waiting does not help a machine without network: tried once more,
    /// then reported with the way to fetch offline (`--mirror`).
    Unreachable(anyhow::Error),
}

/// Whether a failed request says the server cannot be reached (see [`Failure::Unreachable`]),
/// read from the error's chain of causes: a refused connection, a name that does not resolve, a
/// TLS error. Resets, timeouts and the like stay transient.
fn unreachable_cause(e: &reqwest::Error) -> Option<&'static str> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::ConnectionRefused {
                return Some("the connection was refused");
            }
        }
        let text = c.to_string().to_lowercase();
        if text.contains("dns error") || text.contains("lookup address") {
            return Some("the server's name does not resolve");
        }
        if text.contains("tls") || text.contains("certificate") || text.contains("handshake") {
            return Some("TLS could not be set up");
        }
        cause = c.source();
    }
    None
}

/// Downloads `url` into `part`, resuming and retrying as [`Retry`] allows.
pub fn download(
    client: &reqwest::blocking::Client,
    url: &str,
    part: &Path,
    with_md5: bool,
    opts: &Options,
    name: &str,
) -> Result<Digests> {
    let mut delay = opts.retry.first_delay;
    let attempts = opts.retry.attempts.max(1);
    let mut unreachable = 0;
    for attempt in 1..=attempts {
        match try_download(client, url, part, with_md5, opts, name) {
            Ok(d) => return Ok(d),
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Unreachable(e)) if unreachable >= 1 || attempt == attempts => {
                return Err(e.context(format!(
                    "{url} cannot be reached, twice in a row: no network, or a proxy or \
                     firewall in the way (not a passing failure, so it is not retried {attempts} \
                     times). Without network, fetch from a copy: `cargo xtask fetch --mirror DIR` \
                     (a directory holding the files at their manifest paths) or `--mirror URL`"
                )))
            }
            Err(Failure::Unreachable(e)) => {
                unreachable += 1;
                eprintln!("fetch: {name}: {e:#}; trying once more in {delay:?}");
                std::thread::sleep(delay);
            }
            Err(Failure::Again(e)) if attempt == attempts => {
                return Err(e.context(format!("GET {url}: gave up after {attempts} attempts")))
            }
            Err(Failure::Again(e)) => {
                eprintln!(
                    "fetch: {name}: {e:#}; retrying in {delay:?} (attempt {} of {attempts})",
                    attempt + 1
                );
                std::thread::sleep(delay);
                delay = (delay * 2).min(opts.retry.max_delay);
            }
        }
    }
    unreachable!("the last attempt returns")
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(v: &str) -> Option<u64> {
    v.trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

fn try_download(
    client: &reqwest::blocking::Client,
    url: &str,
    part: &Path,
    with_md5: bool,
    opts: &Options,
    name: &str,
) -> Result<Digests, Failure> {
    use Failure::{Again, Fatal};
    let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut req = client.get(url);
    if have > 0 {
        req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let mut resp = req.send().map_err(|e| match unreachable_cause(&e) {
        Some(why) => {
            Failure::Unreachable(anyhow::Error::new(e).context(format!("GET {url}: {why}")))
        }
        None => Again(anyhow::Error::new(e).context(format!("GET {url}"))),
    })?;
    let status = resp.status();
    let restart = |why: &str| -> Failure {
        match fs::File::create(part) {
            Ok(_) => Again(anyhow!("GET {url}: {why}; starting again from zero")),
            Err(e) => Fatal(anyhow!("cannot truncate {}: {e}", part.display())),
        }
    };
    let start = match status.as_u16() {
        206 if have > 0 => {
            let range = resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(content_range_start);
            if range != Some(have) {
                return Err(restart(&format!(
                    "asked for bytes from {have}, the server sent a range starting at {}",
                    range.map_or("an unreadable offset".to_string(), |r| r.to_string())
                )));
            }
            have
        }
        200 => {
            if have > 0 {
                eprintln!(
                    "fetch: {name}: the server ignored the range request (200, not 206); \
                     downloading again from zero"
                );
            }
            0
        }
        416 if have > 0 => return Err(restart("range not satisfiable (416)")),
        s if (400..500).contains(&s) => {
            return Err(Fatal(anyhow!("GET {url}: HTTP {status}")));
        }
        _ => return Err(Again(anyhow!("GET {url}: HTTP {status}"))),
    };
    let body_len = resp.content_length();
    let total = body_len.map(|n| n + start);
    if let Some(n) = body_len {
        if let Err(e) = check_free_space(part.parent().unwrap_or(part), n) {
            return Err(Fatal(
                e.context(format!("before downloading {url} ({n} bytes)")),
            ));
        }
    }
    let mut hashes = Hashes::new(with_md5);
    let mut file = if start > 0 {
        // Hash again the bytes already on disk, then append.
        let mut f = fs::File::open(part).map_err(|e| Fatal(anyhow!("{}: {e}", part.display())))?;
        hashes
            .update_from(&mut f)
            .map_err(|e| Fatal(anyhow!("cannot read {}: {e}", part.display())))?;
        fs::OpenOptions::new().append(true).open(part)
    } else {
        fs::File::create(part)
    }
    .map_err(|e| Fatal(anyhow!("cannot write {}: {e}", part.display())))?;
    if hashes.len() != start {
        return Err(restart("the partial file changed while resuming"));
    }
    let pb = progress_bar(opts, total, start, name);
    let mut buf = vec![0u8; 1 << 16];
    let outcome = loop {
        match resp.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(e) = file.write_all(&buf[..n]) {
                    break Err(Fatal(anyhow!(
                        "cannot write {} (disk full?): {e}",
                        part.display()
                    )));
                }
                hashes.update(&buf[..n]);
                pb.inc(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                break Err(Again(anyhow!(
                    "GET {url}: connection lost after {} of {} bytes: {e}",
                    hashes.len(),
                    total.map_or("?".to_string(), |t| t.to_string())
                )))
            }
        }
    };
    pb.finish_and_clear();
    file.flush()
        .map_err(|e| Fatal(anyhow!("cannot write {}: {e}", part.display())))?;
    outcome?;
    if let Some(t) = total {
        if hashes.len() != t {
            return Err(Again(anyhow!(
                "GET {url}: body truncated: {} of {t} bytes",
                hashes.len()
            )));
        }
    }
    Ok(hashes.finish())
}
