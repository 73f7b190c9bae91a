//! Serves the API stand-in on 127.0.0.1, to watch the daemon work without deleting real
//! videos: `cargo run --example standin -- [PORT] [KEY]` (defaults 8787 and `standin-key`),
//! then run the daemon with `config/standin.toml` and `MEMORIES_API_KEY=standin-key`.

// The example uses the stand-in's serving half; the tests use the rest.
#[allow(dead_code)]
#[path = "../tests/it/support/standin.rs"]
mod standin;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8787);
    let key = args.next().unwrap_or_else(|| "standin-key".to_owned());
    let standin = standin::Standin::start_on(&key, 5, port).await;
    println!(
        "stand-in for the Delete Videos API on {} (key {key:?}, 5 requests/s); Ctrl-C to stop",
        standin.base_url()
    );
    let mut shown = 0;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
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
