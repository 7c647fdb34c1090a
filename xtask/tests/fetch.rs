//! `cargo xtask fetch` and `verify` against a loopback HTTP/1.1 server that each test starts on
//! 127.0.0.1:0 (bounded in requests and time), archives built in the test, and the committed
//! manifest. No test touches the network.
//!
//! Spec: spec/data-assets.md.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use xtask::archive;
use xtask::assets::{ArchiveKind, Lock, Manifest};
use xtask::fetch::{self, Mirror, Options, Outcome, Retry};
use xtask::verify::{self, Status};

// ---------------------------------------------------------------- the loopback server

/// One request the server received: its path and headers (names lower-cased).
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: BTreeMap<String, String>,
}

impl Request {
    fn range(&self) -> Option<&str> {
        self.headers.get("range").map(String::as_str)
    }
}

/// What to answer: a status, extra headers, a body whose length is declared in full, and how many
/// of its bytes to send before closing the connection (all of them when `None`).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    send: Option<usize>,
}

impl Reply {
    fn ok(body: &[u8]) -> Self {
        Reply {
            status: 200,
            headers: vec![],
            body: body.to_vec(),
            send: None,
        }
    }

    fn truncated(mut self, send: usize) -> Self {
        self.send = Some(send);
        self
    }

    /// 206 with the bytes from `from` of `full`.
    fn partial(full: &[u8], from: usize) -> Self {
        Reply {
            status: 206,
            headers: vec![(
                "Content-Range".into(),
                format!("bytes {from}-{}/{}", full.len() - 1, full.len()),
            )],
            body: full[from..].to_vec(),
            send: None,
        }
    }

    fn status(status: u16) -> Self {
        Reply {
            status,
            headers: vec![],
            body: format!("status {status}\n").into_bytes(),
            send: None,
        }
    }
}

type Handler = Box<dyn FnMut(usize, &Request) -> Reply + Send>;

/// A one-thread HTTP/1.1 server answering at most `max_requests` requests, for at most 20 s, or
/// until [`Server::finish`]; every connection is closed after one answer.
struct Server {
    url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Request>>>,
}

impl Server {
    fn start(max_requests: usize, mut handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut seen = Vec::new();
            while seen.len() < max_requests
                && Instant::now() < deadline
                && !stop2.load(Ordering::SeqCst)
            {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(req) = answer(stream, seen.len(), &mut handler) {
                            seen.push(req);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
            seen
        });
        Server {
            url,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the server and returns the requests it saw.
    fn finish(mut self) -> Vec<Request> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().expect("server thread")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(stream: TcpStream, index: usize, handler: &mut Handler) -> Option<Request> {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let req = Request { path, headers };
    let reply = handler(index, &req);
    let mut out = stream;
    let reason = match reply.status {
        200 => "OK",
        206 => "Partial Content",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        _ => "Other",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let send = reply.send.unwrap_or(reply.body.len());
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&reply.body[..send]);
    let _ = out.flush();
    let _ = out.shutdown(std::net::Shutdown::Both);
    Some(req)
}

// ---------------------------------------------------------------- fixtures

/// Deterministic bytes that do not repeat quickly (a 64-bit LCG's high bytes).
fn fixture_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn options(data: &Path) -> Options {
    let mut o = Options::new(data.to_path_buf());
    o.retry = Retry {
        attempts: 4,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    o.timeout = Duration::from_secs(5);
    o.system_proxy = false;
    o.progress = false;
    o
}

/// A manifest of one entry; `pins` is extra TOML (digests, extract) for it.
fn one_entry(source: &str, dest: &str, pins: &str) -> Manifest {
    Manifest::parse(&format!(
        "[[entry]]\nname = \"asset.bin\"\ngroup = \"weights\"\nsource = \"{source}\"\n\
         dest = \"{dest}\"\nlicence = \"test fixture\"\nused_by = \"tests\"\n\
         page = \"https://example.org/register\"\n{pins}\n"
    ))
    .unwrap()
}

fn quarantined(data: &Path) -> Vec<PathBuf> {
    fs::read_dir(data.join(".quarantine"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if p.is_dir() && !p.is_symlink() {
                walk(root, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

// ---------------------------------------------------------------- (a) resume

#[test]
fn a_dropped_connection_resumes_with_a_range_request() {
    let body = fixture_bytes(200_000, 1);
    let cut = 70_000;
    let b = body.clone();
    let server = Server::start(
        2,
        Box::new(move |i, req| match (i, req.range()) {
            (0, _) => Reply::ok(&b).truncated(cut),
            (_, Some(r)) if r == format!("bytes={cut}-") => Reply::partial(&b, cut),
            _ => Reply::status(500),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let m = one_entry(
        &format!("{}/models/asset.bin", server.url),
        "weights/asset.bin",
        &format!("sha256 = \"{}\"", sha256(&body)),
    );
    let out = fetch::fetch(&m, &[], &options(&data)).unwrap();
    let seen = server.finish();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range(), None);
    assert_eq!(seen[1].range(), Some("bytes=70000-"), "{seen:?}");
    assert_eq!(seen[1].path, "/models/asset.bin");
    let landed = fs::read(data.join("weights/asset.bin")).unwrap();
    assert_eq!(sha256(&landed), sha256(&body));
    assert!(matches!(&out[0], Outcome::Landed { .. }));
    assert!(!data.join(".partial/asset.bin.part").exists());
    let lock = Lock::load(&data).unwrap();
    assert_eq!(lock.asset["asset.bin"].sha256, sha256(&body));
    assert!(!lock.asset["asset.bin"].trust_on_first_use);
}

#[test]
fn a_server_that_ignores_the_range_restarts_from_zero() {
    let body = fixture_bytes(50_000, 2);
    let b = body.clone();
    let server = Server::start(
        2,
        Box::new(move |i, _| match i {
            0 => Reply::ok(&b).truncated(20_000),
            _ => Reply::ok(&b),
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let m = one_entry(
        &format!("{}/f", server.url),
        "x/asset.bin",
        &format!("sha256 = \"{}\"", sha256(&body)),
    );
    fetch::fetch(&m, &[], &options(dir.path())).unwrap();
    let seen = server.finish();
    assert_eq!(seen[1].range(), Some("bytes=20000-"));
    assert_eq!(fs::read(dir.path().join("x/asset.bin")).unwrap(), body);
}

#[test]
fn a_file_larger_than_the_free_space_is_refused_before_any_request() {
    let server = Server::start(1, Box::new(|_, _| Reply::ok(b"x")));
    let dir = tempfile::tempdir().unwrap();
    let m = one_entry(
        &format!("{}/huge", server.url),
        "huge.bin",
        "size = 1000000000000000000",
    );
    let err = format!(
        "{:#}",
        fetch::fetch(&m, &[], &options(dir.path())).unwrap_err()
    );
    assert!(err.contains("not enough free disk space"), "{err}");
    assert!(err.contains("asset.bin"), "{err}");
    assert!(server.finish().is_empty(), "nothing was requested");
}

// ---------------------------------------------------------------- (b) mismatch

#[test]
fn a_digest_mismatch_goes_to_quarantine_never_to_dest() {
    let body = fixture_bytes(10_000, 3);
    let wrong = sha256(b"other bytes");
    let b = body.clone();
    let server = Server::start(1, Box::new(move |_, _| Reply::ok(&b)));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/asset.bin", server.url);
    let m = one_entry(&url, "w/asset.bin", &format!("sha256 = \"{wrong}\""));
    let err = format!(
        "{:#}",
        fetch::fetch(&m, &[], &options(dir.path())).unwrap_err()
    );
    server.finish();
    assert!(!dir.path().join("w/asset.bin").exists(), "never at dest");
    let q = quarantined(dir.path());
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(fs::read(&q[0]).unwrap(), body);
    assert!(err.contains(&wrong), "expected digest named: {err}");
    assert!(err.contains(&sha256(&body)), "actual digest named: {err}");
    assert!(err.contains("asset.bin"), "asset named: {err}");
    assert!(!Lock::load(dir.path())
        .unwrap()
        .asset
        .contains_key("asset.bin"));
}

#[test]
fn a_wrong_sha256_prefix_or_md5_is_a_mismatch_too() {
    let body = fixture_bytes(3_000, 4);
    let good = sha256(&body);
    // A prefix that differs from the real one in its first digit.
    let first = if good.starts_with('a') { 'b' } else { 'a' };
    let bad_prefix = format!("{first}{}", &good[1..8]);
    for (pins, expect) in [
        (
            format!("sha256_prefix = \"{bad_prefix}\""),
            bad_prefix.clone(),
        ),
        (
            "md5 = \"0123456789abcdef0123456789abcdef\"".to_string(),
            "0123456789abcdef0123456789abcdef".to_string(),
        ),
    ] {
        let b = body.clone();
        let server = Server::start(1, Box::new(move |_, _| Reply::ok(&b)));
        let dir = tempfile::tempdir().unwrap();
        let m = one_entry(&format!("{}/a", server.url), "a.bin", &pins);
        let err = format!(
            "{:#}",
            fetch::fetch(&m, &[], &options(dir.path())).unwrap_err()
        );
        server.finish();
        assert!(err.contains(&expect), "{err}");
        assert!(!dir.path().join("a.bin").exists());
        assert_eq!(quarantined(dir.path()).len(), 1);
    }
    // The right prefix passes.
    let b = body.clone();
    let server = Server::start(1, Box::new(move |_, _| Reply::ok(&b)));
    let dir = tempfile::tempdir().unwrap();
    let m = one_entry(
        &format!("{}/a", server.url),
        "a.bin",
        &format!("sha256_prefix = \"{}\"", &good[..8]),
    );
    fetch::fetch(&m, &[], &options(dir.path())).unwrap();
    assert_eq!(fs::read(dir.path().join("a.bin")).unwrap(), body);
}

// ---------------------------------------------------------------- (c) 404

#[test]
fn a_404_names_the_url_and_is_not_retried() {
    let server = Server::start(5, Box::new(|_, _| Reply::status(404)));
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/missing/asset.bin", server.url);
    let m = one_entry(
        &url,
        "w/asset.bin",
        &format!("sha256 = \"{}\"", sha256(b"x")),
    );
    let err = format!(
        "{:#}",
        fetch::fetch(&m, &[], &options(dir.path())).unwrap_err()
    );
    let seen = server.finish();
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("404"), "{err}");
    assert_eq!(seen.len(), 1, "4xx is not retried: {seen:?}");
    assert!(!dir.path().join("w/asset.bin").exists());
    assert!(quarantined(dir.path()).is_empty());
}

#[test]
fn a_refused_connection_fails_after_one_retry_and_names_the_mirror() {
    // A port nothing listens on: the loopback refuses the connection at once, as a machine
    // without network refuses (or cannot resolve) every server.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/asset.bin");
    let m = one_entry(
        &url,
        "w/asset.bin",
        &format!("sha256 = \"{}\"", sha256(b"x")),
    );
    let mut opts = options(dir.path());
    // Eight attempts with backoff would wait 0.3 + 0.6 + 1.2 + 2 × 4 = 10.1 s.
    opts.retry = Retry {
        attempts: 8,
        first_delay: Duration::from_millis(300),
        max_delay: Duration::from_secs(2),
    };
    let started = Instant::now();
    let err = format!("{:#}", fetch::fetch(&m, &[], &opts).unwrap_err());
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "one retry, not eight: {took:?}"
    );
    for words in [
        "cannot be reached, twice in a row",
        "the connection was refused",
        "--mirror DIR",
        &url,
    ] {
        assert!(err.contains(words), "says `{words}`: {err}");
    }
    assert!(!dir.path().join("w/asset.bin").exists());
}

// ---------------------------------------------------------------- (d) truncation

#[test]
fn a_server_that_keeps_truncating_fails_after_the_bounded_retries() {
    let body = fixture_bytes(10_000, 5);
    let b = body.clone();
    let server = Server::start(
        10,
        Box::new(move |_, req| {
            let from = req
                .range()
                .and_then(|r| r.strip_prefix("bytes="))
                .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
            match from {
                Some(f) => Reply::partial(&b, f).truncated(100),
                None => Reply::ok(&b).truncated(100),
            }
        }),
    );
    let dir = tempfile::tempdir().unwrap();
    let m = one_entry(
        &format!("{}/asset.bin", server.url),
        "w/asset.bin",
        &format!("sha256 = \"{}\"", sha256(&body)),
    );
    let opts = options(dir.path());
    let err = format!("{:#}", fetch::fetch(&m, &[], &opts).unwrap_err());
    let seen = server.finish();
    assert_eq!(seen.len(), 4, "exactly the bounded attempts: {seen:?}");
    assert!(err.contains("gave up after 4 attempts"), "{err}");
    // Each retry resumed where the previous one stopped.
    let ranges: Vec<_> = seen.iter().map(|r| r.range().map(str::to_string)).collect();
    assert_eq!(
        ranges,
        [
            None,
            Some("bytes=100-".into()),
            Some("bytes=200-".into()),
            Some("bytes=300-".into())
        ]
    );
    assert!(!dir.path().join("w/asset.bin").exists(), "nothing lands");
    assert!(!Lock::load(dir.path())
        .unwrap()
        .asset
        .contains_key("asset.bin"));
}

// ---------------------------------------------------------------- (e) archives

/// A tar entry whose name and link target are written byte for byte (the tar crate's safe
/// setters refuse `..`, which is what these tests need).
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    let old = h.as_old_mut();
    old.name[..name.len()].copy_from_slice(name.as_bytes());
    old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

type TarEntry<'a> = (tar::EntryType, &'a str, &'a str, &'a [u8]);

fn tar_bytes(entries: &[TarEntry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name, link, data) in entries {
        raw_entry(&mut b, *kind, name, link, data);
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

enum ZipItem<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

fn zip_bytes(items: &[ZipItem]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default();
    for it in items {
        match it {
            ZipItem::File(n, d) => {
                z.start_file(*n, o).unwrap();
                z.write_all(d).unwrap();
            }
            ZipItem::Symlink(n, t) => z.add_symlink(*n, *t, o).unwrap(),
        }
    }
    z.finish().unwrap().into_inner()
}

/// Writes `bytes` as an archive in a fresh directory and extracts it into `<dir>/dest`.
fn try_extract(bytes: &[u8], kind: ArchiveKind) -> (tempfile::TempDir, anyhow::Result<()>) {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("archive");
    fs::write(&a, bytes).unwrap();
    let dest = dir.path().join("dest");
    let r = archive::extract(&a, kind, &dest, &dir.path().join("scratch"));
    (dir, r)
}

/// The refusal must name the entry, and nothing may exist outside the destination or in it.
fn assert_refused(bytes: &[u8], kind: ArchiveKind, entry: &str, outside: &[&str]) {
    let (dir, r) = try_extract(bytes, kind);
    let err = format!("{:#}", r.expect_err("extraction must be refused"));
    assert!(
        err.contains(&format!("{entry:?}")),
        "names {entry:?}: {err}"
    );
    for o in outside {
        assert!(!Path::new(o).exists(), "{o} was written: {err}");
        assert!(!dir.path().join(o.trim_start_matches('/')).exists(), "{o}");
    }
    assert!(files_under(&dir.path().join("dest")).is_empty(), "{err}");
    let leftovers = files_under(&dir.path().join("scratch"));
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn archives_with_traversal_absolute_paths_or_escaping_links_are_refused() {
    use tar::EntryType::{Char, Regular, Symlink};
    let ok: TarEntry = (Regular, "good.txt", "", b"fine");
    let unique = format!("/tmp/seje-fetch-test-{}-abs.txt", std::process::id());
    let cases: Vec<(Vec<TarEntry>, &str, Vec<&str>)> = vec![
        (
            vec![ok, (Regular, "../evil", "", b"x")],
            "../evil",
            vec!["evil"],
        ),
        (
            vec![ok, (Regular, "a/../../evil", "", b"x")],
            "a/../../evil",
            vec!["evil"],
        ),
        (
            vec![ok, (Regular, &unique, "", b"x")],
            &unique,
            vec![&unique],
        ),
        (
            vec![ok, (Symlink, "link", "../outside", b"")],
            "link",
            vec!["outside"],
        ),
        (vec![ok, (Symlink, "d/link", "/etc", b"")], "d/link", vec![]),
        // A link inside, then a file written through it: refused too.
        (
            vec![ok, (Symlink, "up", ".", b""), (Regular, "up/x", "", b"x")],
            "up/x",
            vec![],
        ),
        (vec![ok, (Char, "dev", "", b"")], "dev", vec![]),
    ];
    for (entries, name, outside) in &cases {
        let t = tar_bytes(entries);
        assert_refused(&t, ArchiveKind::Tar, name, outside);
        assert_refused(&gzip(&t), ArchiveKind::TarGz, name, outside);
    }
    // The link case is refused for the right reason.
    let t = tar_bytes(&[(Symlink, "up", ".", b""), (Regular, "up/x", "", b"x")]);
    let err = format!("{:#}", try_extract(&t, ArchiveKind::Tar).1.unwrap_err());
    assert!(err.contains("goes through the symbolic link up"), "{err}");
    let zips: Vec<(Vec<ZipItem>, &str)> = vec![
        (
            vec![ZipItem::File("ok", b"1"), ZipItem::File("../evil", b"x")],
            "../evil",
        ),
        (vec![ZipItem::File(&unique, b"x")], &unique),
        (vec![ZipItem::Symlink("link", "../../outside")], "link"),
    ];
    for (items, name) in &zips {
        assert_refused(
            &zip_bytes(items),
            ArchiveKind::Zip,
            name,
            &["evil", "outside", &unique],
        );
    }
}

#[test]
fn good_archives_extract_and_merge_into_the_destination() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let entries: Vec<TarEntry> = vec![
        (Directory, "top/", "", b""),
        (Regular, "top/a.txt", "", b"alpha"),
        (Symlink, "top/b.txt", "a.txt", b""),
        (Link, "top/c.txt", "top/a.txt", b""),
        (Regular, "./top/sub/d.txt", "", b"delta"),
    ];
    let t = tar_bytes(&entries);
    let z = zip_bytes(&[
        ZipItem::File("top/a.txt", b"alpha"),
        ZipItem::Symlink("top/b.txt", "a.txt"),
        ZipItem::File("top/sub/d.txt", b"delta"),
    ]);
    for (bytes, kind) in [
        (t.clone(), ArchiveKind::Tar),
        (gzip(&t), ArchiveKind::TarGz),
        (z, ArchiveKind::Zip),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        fs::create_dir_all(dest.join("top")).unwrap();
        fs::write(dest.join("top/kept.txt"), b"mine").unwrap();
        fs::write(dest.join("top/a.txt"), b"old").unwrap();
        let a = dir.path().join("archive");
        fs::write(&a, &bytes).unwrap();
        archive::extract(&a, kind, &dest, &dir.path().join("scratch")).unwrap();
        assert_eq!(
            fs::read(dest.join("top/a.txt")).unwrap(),
            b"alpha",
            "{kind:?}"
        );
        assert_eq!(
            fs::read(dest.join("top/b.txt")).unwrap(),
            b"alpha",
            "{kind:?}"
        );
        assert_eq!(
            fs::read_link(dest.join("top/b.txt")).unwrap(),
            Path::new("a.txt")
        );
        assert_eq!(fs::read(dest.join("top/sub/d.txt")).unwrap(), b"delta");
        assert_eq!(
            fs::read(dest.join("top/kept.txt")).unwrap(),
            b"mine",
            "merged"
        );
        if kind != ArchiveKind::Zip {
            assert_eq!(fs::read(dest.join("top/c.txt")).unwrap(), b"alpha");
        }
        assert!(files_under(&dir.path().join("scratch")).is_empty());
    }
}

// ---------------------------------------------------------------- (f) mirror directory

#[test]
fn a_mirror_directory_is_copied_verified_and_a_rerun_is_a_no_op() {
    let body = fixture_bytes(5_000, 6);
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    fs::create_dir_all(mirror.join("sub")).unwrap();
    fs::write(mirror.join("sub/asset.bin"), &body).unwrap();
    let data = dir.path().join("data");
    let m = one_entry(
        "mirror:sub/asset.bin",
        "recipe1m/asset.bin",
        &format!("sha256 = \"{}\"", sha256(&body)),
    );
    // Without a mirror: a clear error naming where to obtain it.
    let err = format!("{:#}", fetch::fetch(&m, &[], &options(&data)).unwrap_err());
    assert!(err.contains("https://example.org/register"), "{err}");
    assert!(err.contains("--mirror"), "{err}");
    assert!(!data.join("recipe1m/asset.bin").exists());

    let mut opts = options(&data);
    opts.mirror = Some(Mirror::parse(mirror.to_str().unwrap()));
    let out = fetch::fetch(&m, &[], &opts).unwrap();
    assert_eq!(
        out,
        [Outcome::Landed {
            from: mirror.join("sub/asset.bin").display().to_string()
        }]
    );
    assert_eq!(fs::read(data.join("recipe1m/asset.bin")).unwrap(), body);
    fs::remove_file(mirror.join("sub/asset.bin")).unwrap();
    let out = fetch::fetch(&m, &[], &opts).unwrap();
    assert_eq!(
        out,
        [Outcome::Present],
        "a verified file is not fetched again"
    );
}

#[test]
fn a_mirror_url_serves_mirror_entries() {
    let body = fixture_bytes(4_000, 7);
    let b = body.clone();
    let server = Server::start(1, Box::new(move |_, _| Reply::ok(&b)));
    let dir = tempfile::tempdir().unwrap();
    let m = one_entry("mirror:sub/asset.bin", "r/asset.bin", "");
    let mut opts = options(dir.path());
    opts.mirror = Some(Mirror::parse(&format!("{}/base/", server.url)));
    fetch::fetch(&m, &[], &opts).unwrap();
    let seen = server.finish();
    assert_eq!(seen[0].path, "/base/sub/asset.bin");
    assert_eq!(fs::read(dir.path().join("r/asset.bin")).unwrap(), body);
}

#[test]
fn unpinned_files_are_trusted_on_first_use_then_held_to_the_lock() {
    let first = fixture_bytes(3_000, 8);
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    fs::write(mirror.join("asset.bin"), &first).unwrap();
    let data = dir.path().join("data");
    let m = one_entry("mirror:asset.bin", "a/asset.bin", "");
    let mut opts = options(&data);
    opts.mirror = Some(Mirror::Dir(mirror.clone()));
    fetch::fetch(&m, &[], &opts).unwrap();
    let rec = Lock::load(&data).unwrap().asset["asset.bin"].clone();
    assert!(rec.trust_on_first_use);
    assert_eq!(rec.sha256, sha256(&first));
    assert_eq!(rec.size, first.len() as u64);

    // The mirror's copy changes; after the landed file is lost, the new bytes are refused.
    fs::write(mirror.join("asset.bin"), fixture_bytes(3_000, 9)).unwrap();
    fs::remove_file(data.join("a/asset.bin")).unwrap();
    let err = format!("{:#}", fetch::fetch(&m, &[], &opts).unwrap_err());
    assert!(err.contains(&sha256(&first)), "{err}");
    assert!(err.contains("recorded in the lock"), "{err}");
    assert!(!data.join("a/asset.bin").exists());
    assert_eq!(quarantined(&data).len(), 1);
}

#[test]
fn an_archive_entry_is_extracted_once() {
    let t = tar_bytes(&[(tar::EntryType::Regular, "layer1.json", "", b"[]")]);
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    fs::write(mirror.join("layers.tar"), &t).unwrap();
    let data = dir.path().join("data");
    let m = one_entry(
        "mirror:layers.tar",
        "archives/layers.tar",
        &format!(
            "sha256 = \"{}\"\nextract = \"tar\"\nextract_to = \"recipe1m\"",
            sha256(&t)
        ),
    );
    let mut opts = options(&data);
    opts.mirror = Some(Mirror::Dir(mirror));
    fetch::fetch(&m, &[], &opts).unwrap();
    assert_eq!(fs::read(data.join("recipe1m/layer1.json")).unwrap(), b"[]");
    assert_eq!(
        Lock::load(&data).unwrap().asset["asset.bin"]
            .extracted_to
            .as_deref(),
        Some("recipe1m")
    );
    fs::write(data.join("recipe1m/layer1.json"), b"edited").unwrap();
    assert_eq!(fetch::fetch(&m, &[], &opts).unwrap(), [Outcome::Present]);
    assert_eq!(
        fs::read(data.join("recipe1m/layer1.json")).unwrap(),
        b"edited",
        "a recorded extraction is not repeated"
    );
}

// ---------------------------------------------------------------- (g) verify

#[test]
fn verify_detects_a_flipped_byte_and_reports_missing_files() {
    let a = fixture_bytes(2_000, 10);
    let b = fixture_bytes(2_000, 11);
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    fs::create_dir_all(&mirror).unwrap();
    fs::write(mirror.join("a.bin"), &a).unwrap();
    fs::write(mirror.join("b.bin"), &b).unwrap();
    let data = dir.path().join("data");
    let entry = |name: &str, pins: &str| {
        format!(
            "[[entry]]\nname = \"{name}\"\ngroup = \"authors\"\nsource = \"mirror:{name}\"\n\
             dest = \"d/{name}\"\nterms = \"test\"\nused_by = \"tests\"\n{pins}\n"
        )
    };
    let m = Manifest::parse(&format!(
        "{}{}{}",
        entry("a.bin", &format!("sha256 = \"{}\"", sha256(&a))),
        entry("b.bin", ""),
        entry("c.bin", "")
    ))
    .unwrap();
    let mut opts = options(&data);
    opts.mirror = Some(Mirror::Dir(mirror));
    fetch::fetch(&m, &["a.bin".into(), "b.bin".into()], &opts).unwrap();

    let rows = verify::verify(&m, &[], &data).unwrap();
    let status: Vec<_> = rows
        .iter()
        .map(|r| (r.name.as_str(), r.status.clone()))
        .collect();
    assert_eq!(
        status,
        [
            ("a.bin", Status::Ok),
            ("b.bin", Status::UnpinnedRecorded),
            ("c.bin", Status::Missing)
        ]
    );
    verify::fail_on_mismatch(&rows, &data).unwrap();

    for (name, good) in [("a.bin", &a), ("b.bin", &b)] {
        let mut bytes = good.clone();
        bytes[1234] ^= 0x01;
        fs::write(data.join("d").join(name), &bytes).unwrap();
        let rows = verify::verify(&m, &[name.to_string()], &data).unwrap();
        let Status::Mismatch(why) = &rows[0].status else {
            panic!("{name}: a flipped byte must be a mismatch: {rows:?}")
        };
        assert!(
            why.contains(&sha256(good)) && why.contains(&sha256(&bytes)),
            "{why}"
        );
        let table = verify::render(&rows);
        assert!(table.contains("MISMATCH"), "{table}");
        let err = format!("{:#}", verify::fail_on_mismatch(&rows, &data).unwrap_err());
        assert!(err.contains(name), "{err}");
    }
}

// ---------------------------------------------------------------- (h) the committed manifest

#[test]
fn the_committed_manifest_is_complete_and_well_formed() {
    let text = fs::read_to_string(xtask::workspace_root().join("xtask/assets.toml")).unwrap();
    let m = Manifest::parse(&text).unwrap();
    assert!(m.entries.len() >= 20, "{} entries", m.entries.len());
    let mut names = std::collections::BTreeSet::new();
    let is_hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    for e in &m.entries {
        assert!(names.insert(e.name.clone()), "{} twice", e.name);
        assert!(!e.source.trim().is_empty(), "{}", e.name);
        assert!(
            !e.dest.trim().is_empty() && !e.dest.starts_with('/'),
            "{}",
            e.name
        );
        assert!(
            e.licence.as_deref().is_some_and(|l| !l.trim().is_empty())
                || e.terms.as_deref().is_some_and(|t| !t.trim().is_empty()),
            "{}: licence or terms",
            e.name
        );
        for (field, v, len) in [
            ("sha256", &e.sha256, 64),
            ("sha256_prefix", &e.sha256_prefix, 8),
            ("md5", &e.md5, 32),
        ] {
            if let Some(v) = v {
                assert!(v.len() == len && is_hex(v), "{}: {field} {v}", e.name);
                let distinct: std::collections::BTreeSet<_> = v.chars().collect();
                assert!(
                    distinct.len() > 2,
                    "{}: {field} {v} is a placeholder",
                    e.name
                );
            }
        }
        if e.source.starts_with("mirror:") {
            assert!(
                e.page.is_some(),
                "{}: a mirror entry says where to get it",
                e.name
            );
        } else {
            assert!(e.source.starts_with("http"), "{}: {}", e.name, e.source);
        }
    }
    // torchvision writes the first 8 hex digits of the SHA-256 into the file name.
    for e in m.entries.iter().filter(|e| e.name.ends_with(".pth")) {
        let stem = e.name.trim_end_matches(".pth");
        let from_name = stem.rsplit('-').next().unwrap();
        assert_eq!(e.sha256_prefix.as_deref(), Some(from_name), "{}", e.name);
        assert!(e.source.ends_with(&e.name), "{}", e.source);
    }
    let food = m
        .entries
        .iter()
        .find(|e| e.name == "food-101.tar.gz")
        .unwrap();
    assert_eq!(
        food.md5.as_deref(),
        Some("85eeb15f3717b99a5da872d97d918f87")
    );
    for group in ["recipe1m", "food101", "weights", "authors", "bert"] {
        assert!(
            !m.select(&[group.to_string()]).unwrap().is_empty(),
            "{group}"
        );
    }
    // paper/configs/paper.toml reads the ResNeXt weights where fetch puts them.
    let paper =
        fs::read_to_string(xtask::workspace_root().join("paper/configs/paper.toml")).unwrap();
    let rx = m
        .entries
        .iter()
        .find(|e| e.name.starts_with("resnext101"))
        .unwrap();
    assert!(
        paper.contains(&format!("\"../../data/{}\"", rx.dest)),
        "{}",
        rx.dest
    );
    let layers = m
        .entries
        .iter()
        .find(|e| e.name == "recipe1M_layers.tar.gz")
        .unwrap();
    assert!(paper.contains(&format!(
        "\"../../data/{}\"",
        layers.extract_to.as_deref().unwrap()
    )));
}

#[test]
fn the_manifest_parser_refuses_bad_entries() {
    let base = |extra: &str, name: &str| {
        format!(
            "[[entry]]\nname = \"{name}\"\ngroup = \"weights\"\nsource = \"https://h/f\"\n\
             dest = \"w/{name}\"\nlicence = \"l\"\nused_by = \"u\"\n{extra}\n"
        )
    };
    let cases = [
        (
            base(&format!("sha256 = \"{}\"", "0".repeat(64)), "a"),
            "placeholder",
        ),
        (base("sha256 = \"abc\"", "a"), "64 hex digits"),
        (base("md5 = \"zz\"", "a"), "32 hex digits"),
        (
            format!("{}{}", base("", "a"), base("", "a")),
            "appears twice",
        ),
        (
            base("", "a").replace("licence = \"l\"\n", ""),
            "neither `licence` nor `terms`",
        ),
        (base("", "a").replace("w/a", "../a"), "relative path"),
        (
            base("", "a").replace("https://h/f", "ftp://h/f"),
            "neither an http",
        ),
        (base("extract_to = \"x\"", "a"), "without `extract`"),
    ];
    for (text, want) in cases {
        let err = format!("{:#}", Manifest::parse(&text).unwrap_err());
        assert!(err.contains(want), "{want}: {err}");
    }
    let m = Manifest::parse(&base("", "a")).unwrap();
    let err = format!("{:#}", m.select(&["nope".into()]).unwrap_err());
    assert!(err.contains("--only nope"), "{err}");
}

/// An archive that writes `len` zero bytes as one file: compressed, a few kilobytes.
fn zeros_tar(len: usize) -> Vec<u8> {
    let zeros = vec![0u8; len];
    tar_bytes(&[(tar::EntryType::Regular, "zeros.bin", "", &zeros)])
}

#[test]
fn decompression_bombs_stop_at_the_bound_and_leave_nothing() {
    // 32 MiB of zeros: tar.gz and zip of a few tens of kilobytes, far past 16 × their size + 1 MiB.
    let len = 32 << 20;
    let tgz = gzip(&zeros_tar(len));
    let zeros = vec![0u8; len];
    let zip = zip_bytes(&[ZipItem::File("zeros.bin", &zeros)]);
    for (bytes, kind) in [(tgz, ArchiveKind::TarGz), (zip, ArchiveKind::Zip)] {
        assert!(bytes.len() < 200_000, "{kind:?}: {} bytes", bytes.len());
        let bound = archive::Limits::of(kind, bytes.len() as u64).bytes;
        assert!(
            bound < len as u64,
            "{kind:?}: the bound {bound} is below the bomb"
        );
        let (dir, r) = try_extract(&bytes, kind);
        let err = format!("{:#}", r.expect_err("a bomb is refused"));
        assert!(
            err.contains(&format!("more than {bound} bytes")),
            "{kind:?}: {err}"
        );
        assert!(files_under(&dir.path().join("dest")).is_empty(), "{err}");
        assert!(files_under(&dir.path().join("scratch")).is_empty(), "{err}");
    }
    // The same bytes as a plain tar may extract to the tar's own size: they do.
    let (dir, r) = try_extract(&zeros_tar(len), ArchiveKind::Tar);
    r.unwrap();
    assert_eq!(
        fs::metadata(dir.path().join("dest/zeros.bin"))
            .unwrap()
            .len(),
        len as u64
    );
}

#[test]
fn archives_of_too_many_entries_or_bytes_are_refused_for_every_kind() {
    use tar::EntryType::Regular;
    let entries: Vec<TarEntry> = vec![
        (Regular, "a", "", b"1"),
        (Regular, "b", "", b"2"),
        (Regular, "c", "", b"3"),
        (Regular, "d", "", b"4"),
    ];
    let t = tar_bytes(&entries);
    let z = zip_bytes(&[
        ZipItem::File("a", b"1"),
        ZipItem::File("b", b"2"),
        ZipItem::File("c", b"3"),
        ZipItem::File("d", b"4"),
    ]);
    let few = archive::Limits {
        entries: 3,
        bytes: 1 << 20,
    };
    let small = archive::Limits {
        entries: 100,
        bytes: 3,
    };
    for (bytes, kind) in [
        (t.clone(), ArchiveKind::Tar),
        (gzip(&t), ArchiveKind::TarGz),
        (z, ArchiveKind::Zip),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("archive");
        fs::write(&a, &bytes).unwrap();
        for (limits, words) in [(few, "more than 3 entries"), (small, "more than 3 bytes")] {
            let dest = dir.path().join("dest");
            let err = archive::extract_within(&a, kind, &dest, &dir.path().join("scratch"), limits)
                .expect_err("refused");
            let err = format!("{err:#}");
            assert!(err.contains(words), "{kind:?}, {limits:?}: {err}");
            assert!(files_under(&dest).is_empty(), "{err}");
        }
    }
}

#[test]
fn a_link_whose_target_climbs_after_a_folder_is_refused() {
    use tar::EntryType::{Directory, Symlink};
    // `a/l3 -> ..` stays inside; `l2 -> a/l3/../..` reads as inside letter by letter, but through
    // the link `a/l3` it would lead to the destination's parent.
    let entries: Vec<TarEntry> = vec![
        (Directory, "a/", "", b""),
        (Symlink, "a/l3", "..", b""),
        (Symlink, "l2", "a/l3/../..", b""),
    ];
    let t = tar_bytes(&entries);
    assert_refused(&t, ArchiveKind::Tar, "l2", &[]);
    let err = format!("{:#}", try_extract(&t, ArchiveKind::Tar).1.unwrap_err());
    assert!(err.contains("with `..` after a folder name"), "{err}");
    // A leading climb that stays inside is still kept.
    let ok: Vec<TarEntry> = vec![(Directory, "a/", "", b""), (Symlink, "a/up", "../a", b"")];
    let (dir, r) = try_extract(&tar_bytes(&ok), ArchiveKind::Tar);
    r.unwrap();
    assert!(fs::symlink_metadata(dir.path().join("dest/a/up"))
        .unwrap()
        .file_type()
        .is_symlink());
}
