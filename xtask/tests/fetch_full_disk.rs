//! `cargo xtask fetch` on a full file system: an asset whose copy runs out of space fails with an
//! error naming it, the assets fetched before it stay complete and verified, nothing partial
//! reaches the data directory, and once there is room again the same command finishes.
//!
//! A file-size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored so the write returns `EFBIG`) stands
//! in for a full disk. It applies to the whole process, so this binary holds this one test only.
//!
//! Spec: spec/untrusted-input.md (section "Writers on a full disk or killed"),
//! spec/data-assets.md.

use std::fs;
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};
use xtask::assets::Manifest;
use xtask::fetch::{self, Mirror, Options, Outcome, Retry};

fn set_file_size_limit(bytes: u64) {
    // SAFETY: ignoring SIGXFSZ and setting a resource limit affect only this process, which
    // runs this one test.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes;
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

fn entry(name: &str, body: &[u8]) -> String {
    format!(
        "[[entry]]\nname = \"{name}\"\ngroup = \"weights\"\nsource = \"mirror:{name}\"\n\
         dest = \"assets/{name}\"\nlicence = \"test fixture\"\nused_by = \"tests\"\n\
         page = \"https://example.org/register\"\nsha256 = \"{}\"\n",
        hex::encode(Sha256::digest(body))
    )
}

fn options(data: &Path, mirror: &Path) -> Options {
    let mut o = Options::new(data.to_path_buf());
    o.retry = Retry {
        attempts: 2,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
    };
    o.system_proxy = false;
    o.progress = false;
    o.mirror = Some(Mirror::parse(mirror.to_str().unwrap()));
    o
}

#[test]
fn a_fetch_on_a_full_disk_fails_by_name_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let (mirror, data) = (dir.path().join("mirror"), dir.path().join("data"));
    fs::create_dir_all(&mirror).unwrap();
    let small = vec![7u8; 10_000];
    let large: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
    fs::write(mirror.join("small.bin"), &small).unwrap();
    fs::write(mirror.join("large.bin"), &large).unwrap();
    let m = Manifest::parse(&format!(
        "{}{}",
        entry("small.bin", &small),
        entry("large.bin", &large)
    ))
    .unwrap();
    let opts = options(&data, &mirror);

    set_file_size_limit(64 * 1024);
    let err = format!(
        "{:#}",
        fetch::fetch(&m, &[], &opts).expect_err("past the limit")
    );
    assert!(err.contains("large.bin"), "names the asset: {err}");
    assert!(
        err.to_lowercase().contains("file too large"),
        "says why: {err}"
    );
    assert_eq!(
        fs::read(data.join("assets/small.bin")).unwrap(),
        small,
        "the asset fetched before stays, whole"
    );
    assert!(
        !data.join("assets/large.bin").exists(),
        "nothing partial reaches the data directory"
    );

    // Room again: the same command finishes, and the small asset is not fetched twice.
    set_file_size_limit(libc::RLIM_INFINITY);
    let out = fetch::fetch(&m, &[], &opts).unwrap();
    assert_eq!(out[0], Outcome::Present, "{out:?}");
    assert!(matches!(out[1], Outcome::Landed { .. }), "{out:?}");
    assert_eq!(fs::read(data.join("assets/large.bin")).unwrap(), large);
}
