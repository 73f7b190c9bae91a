//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the folder's files at
//! compile time, and cargo would not otherwise notice a new one. Packs the daemon's
//! relative relocations where the C library can load them.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    // DT_RELR: the loader reads about 20 KB of packed relocations at every start instead
    // of 1.1 MB of them, which stayed resident (BENCHMARKS.md, "Peak memory"). A binary
    // packed so needs glibc 2.36 or later (it names GLIBC_ABI_DT_RELR, and an older
    // loader refuses it by that name), so only when building for this host's own glibc and
    // that is new enough: a build on an older one runs where it was built.
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target == host && target.ends_with("-linux-gnu") && glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bin=memories-reaper=-Wl,-z,pack-relative-relocs");
    }
}

/// This host's glibc, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .trim()
        .trim_start_matches("glibc ")
        .split('.')
        .map(|part| part.parse::<u32>().ok());
    match (version.next().flatten(), version.next().flatten()) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}
