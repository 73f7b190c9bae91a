//! Serves the API stand-in on 127.0.0.1, to watch the daemon work without deleting real
//! videos: `cargo run --example standin -- [PORT] [KEY]` (defaults 8787 and `standin-key`;
//! `--port 0` takes any free port and prints the config line naming it), then run the
//! daemon with `config/standin.toml` and `MEMORIES_API_KEY=standin-key`.
//!
//! `--faults 0.2` makes a fifth of the requests misbehave at random (5xx, 429, `0429`,
//! hangs, resets, bodies that are not JSON, unknown codes, a refused key: `--help` says
//! what the daemon does with each), from `--seed`;
//! `--reject ID` answers `0001` for that id; `--log FILE` writes every request as JSON;
//! `--namespace NS` gives the account a namespace besides `default` (lookups find every
//! video not yet deleted in the account's namespaces, and none elsewhere);
//! `--catalogue N` makes the account hold N videos of varied ages, states and tags
//! instead, spread over its namespaces, for lifecycle rules to find (docs/src/rules-and-holds.md, "Lifecycle
//! rules").

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

// The example uses the stand-in's serving half; the tests use the rest.
#[allow(dead_code)]
#[path = "../tests/it/support/standin.rs"]
mod standin;

#[derive(Parser)]
struct Args {
    /// The port on 127.0.0.1 (as --port too); 0 takes any free one.
    #[arg(default_value_t = 8787)]
    port: u16,
    /// The port on 127.0.0.1, as the positional PORT; 0 takes any free one, and the line
    /// printed at the start names it.
    #[arg(long = "port", value_name = "PORT")]
    port_option: Option<u16>,
    #[arg(default_value = "standin-key")]
    key: String,
    /// Requests per second allowed before answering 0429, as the account limit does.
    #[arg(long, default_value_t = 5)]
    per_second: usize,
    /// The share of requests, 0 to 1, that misbehave at random, each fault as likely:
    /// http-503 (a server error: retried), http-429 and http-429-retry-after (too many:
    /// retried, slower), 0429 (the API's own "too busy": retried, slower), hang (no answer
    /// until --hang: the daemon's api.timeout, then retried), reset (the connection cut
    /// after the deletion: the rows stay in doubt, settled by a lookup or a resend),
    /// not-json (a proxy's page: retried), unknown-code (an undocumented code: retried),
    /// key-refused (the API's 0401: the daemon stops the pass and logs a refused key; this is
    /// the stand-in's fault, not your key: the next pass goes on). These show retries and
    /// backoff; isolation of a refused id needs --reject.
    #[arg(long, default_value_t = 0.0)]
    faults: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Added to every answer, plus up to --jitter.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    latency: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    jitter: Duration,
    /// How long a hung request waits before answering.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    hang: Duration,
    /// Answer 0001 for requests holding this id (repeatable).
    #[arg(long)]
    reject: Vec<String>,
    /// Append every request to this file as a JSON line.
    #[arg(long)]
    log: Option<PathBuf>,
    /// A namespace the account has besides `default` (repeatable): its videos are listed
    /// by `list_videos`; ids queued under any other namespace are not found there.
    #[arg(long)]
    namespace: Vec<String>,
    /// The account holds exactly N videos (VI900000000000000000 on), spread over
    /// `default` and the --namespace ones, uploaded 0 to 399 days ago, a tenth PARSE_ERROR
    /// and a tenth UNPARSE, a seventh tagged "scratch": for lifecycle rules to list. Ids
    /// queued by hand are then not in the account (they end `absent`).
    #[arg(long, value_name = "N")]
    catalogue: Option<usize>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let port = args.port_option.unwrap_or(args.port);
    let standin = match standin::Standin::start_on(&args.key, args.per_second, port).await {
        Ok(standin) => standin,
        Err(e) => {
            eprintln!(
                "standin: cannot listen on 127.0.0.1:{port}: {e}; choose another port: \
                 `--port 0` takes any free one and prints the base_url for the daemon's \
                 config (config/standin.toml names 8787)"
            );
            std::process::exit(1);
        }
    };
    standin.set_faults(Some(standin::Faults {
        seed: args.seed,
        rate: args.faults,
        latency: args.latency,
        jitter: args.jitter,
        hang: args.hang,
    }));
    for id in &args.reject {
        standin.reject(id);
    }
    for namespace in &args.namespace {
        standin.add_namespace(namespace);
    }
    if let Some(n) = args.catalogue {
        let mut namespaces = vec!["default".to_owned()];
        namespaces.extend(args.namespace.iter().cloned());
        let now = chrono::Utc::now().timestamp_millis();
        standin.set_catalogue_with(standin::varied_catalogue(
            &namespaces,
            n,
            900_000_000_000_000_000,
            now,
        ));
    }
    if let Some(path) = &args.log {
        if let Err(e) = standin.log_to(path) {
            eprintln!("standin: cannot write the log {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    println!(
        "stand-in for the Delete Videos API on {} (key {:?}, {} requests/s, faults {}); Ctrl-C to stop",
        standin.base_url(),
        args.key,
        args.per_second,
        args.faults
    );
    if standin.base_url() != "http://127.0.0.1:8787" {
        println!(
            "the daemon's config must name it: [api] base_url = {:?} (config/standin.toml \
             names 8787)",
            standin.base_url()
        );
    }
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let received = standin.received();
        for r in &received[shown..] {
            println!(
                "{} unique_id={} ids={} -> {}",
                r.path,
                r.unique_id.as_deref().unwrap_or("-"),
                r.ids.len(),
                r.answered
            );
        }
        shown = received.len();
    }
}
