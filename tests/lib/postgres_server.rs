//! The PostgreSQL server a test process's PostgreSQL cases run on, for both test crates
//! (the library's conformance suite and `tests/it` include this file):
//!
//! 1. the one `MEMORIES_REAPER_TEST_POSTGRES` names (a role that may create databases;
//!    `MEMORIES_REAPER_TEST_POSTGRES_CA` its CA's certificate, when it has TLS);
//! 2. else, where PostgreSQL's server binaries are installed (Debian's, under
//!    `/usr/lib/postgresql`), a throwaway one started by `tests/lib/postgres.sh` for this
//!    process: the script waits on its standard input, which closes when the process
//!    ends however it ends, and then stops the server and removes its folder;
//! 3. else none: the case is skipped and counted, and the count said when the process
//!    exits, unless `MEMORIES_REAPER_REQUIRE_POSTGRES` is set: then it fails.
//!
//! A server that is installed but does not start fails the case with its log: a plain
//! `cargo test` must not pass by skipping what it could have run.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

const URL_VAR: &str = "MEMORIES_REAPER_TEST_POSTGRES";
const CA_VAR: &str = "MEMORIES_REAPER_TEST_POSTGRES_CA";
const REQUIRE_VAR: &str = "MEMORIES_REAPER_REQUIRE_POSTGRES";

/// A server the cases may create databases on.
pub struct Server {
    /// A superuser's URL, naming the `postgres` database.
    pub url: String,
    /// The certificate of the CA that signed the server's (a server we started has TLS).
    pub ca: Option<String>,
}

/// The script's process, kept for as long as this process lives: its standard input is
/// the server's lifeline.
static LIFELINE: Mutex<Option<Child>> = Mutex::new(None);
static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// The server, started on first use; `None` (counted) when the case is to be skipped.
/// A start that failed fails every case with its log, once tried.
pub fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<Result<Server, String>>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var(URL_VAR) {
            let ca = std::env::var(CA_VAR).ok();
            return Some(Ok(Server { url, ca }));
        }
        installed().then(start)
    });
    let server = match server {
        Some(Err(log)) => panic!("{log}"),
        Some(Ok(server)) => Some(server),
        None => None,
    };
    if server.is_none() {
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set, but {URL_VAR} is not and no PostgreSQL server binaries \
             are under /usr/lib/postgresql (apt install postgresql)"
        );
        if SKIPPED.fetch_add(1, Ordering::SeqCst) == 0 {
            // SAFETY: registers a plain function with no captured state, once.
            unsafe { libc::atexit(say_skipped) };
        }
    }
    server
}

/// At exit, after the harness's summary, on the terminal (the harness captures `eprintln!`).
extern "C" fn say_skipped() {
    let _ = writeln!(
        std::io::stderr(),
        "note: {} PostgreSQL case(s) of this test binary were skipped (counted as passed): \
         install PostgreSQL's server (apt install postgresql) or set {URL_VAR} to a \
         server's URL to run them",
        SKIPPED.load(Ordering::SeqCst)
    );
}

fn installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| {
        versions
            .flatten()
            .any(|v| v.path().join("bin/initdb").exists())
    })
}

/// Starts a throwaway server with `tests/lib/postgres.sh` (TLS on, as root it runs as the
/// `postgres` user) and reads its URL and CA; or why it could not, with the script's output.
fn start() -> Result<Server, String> {
    // The test process's end stops the server, not a signal to its process group; nor a
    // closed pipe (a test killed before reading the URL: the printf would kill bash).
    // A start that fails removes what it made.
    let script = r#"
        trap '' INT TERM HUP PIPE
        source tests/lib/postgres.sh
        pg_start || { pg_stop; rm -rf "${PG_DIR:-/nonexistent-mr-pg}"; exit 1; }
        printf '%s\n%s\n' "$MEMORIES_REAPER_TEST_POSTGRES" "$MEMORIES_REAPER_TEST_POSTGRES_CA"
        read -r _ || true
        pg_stop
    "#;
    let mut child = Command::new("bash")
        .args(["-c", script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run bash for tests/lib/postgres.sh: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("the script's output is not piped")?;
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let (Some(url), Some(ca)) = (lines.next(), lines.next()) else {
        let mut log = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        let _ = child.wait();
        return Err(format!(
            "PostgreSQL's server binaries are installed but tests/lib/postgres.sh could not \
             start a server (set {URL_VAR} to use another one):\n{log}"
        ));
    };
    if let Ok(mut lifeline) = LIFELINE.lock() {
        *lifeline = Some(child);
    }
    Ok(Server { url, ca: Some(ca) })
}
