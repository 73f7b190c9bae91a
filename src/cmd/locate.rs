//! `locate`: where the account holds each video, looked up in every namespace.

use std::collections::{HashMap, HashSet};

use super::open_ids_file;
use crate::api::Listing;
use crate::config::Config;
use crate::ids::{Ids, Read};
use crate::pass::LookupApi;
use crate::progress::Progress;
use crate::video::{Namespace, VideoNo};

/// The most ids `locate` takes: each is looked up in every namespace of the account.
const LOCATE_MAX: usize = 10_000;

/// `locate`: every namespace of the account holding each id, one line per id
/// (`VIDEO_NO<TAB>NAMESPACE[<TAB>NAMESPACE…]`, or `-` when none: a namespace may hold a
/// comma, never a tab, which is escaped). 0 when every id was found,
/// 1 when some were not (or were invalid).
pub async fn locate(
    config: &Config,
    video_nos: &[String],
    file: Option<&str>,
) -> anyhow::Result<u8> {
    let file = open_ids_file(file)?;
    if video_nos.is_empty() && file.is_none() {
        anyhow::bail!("nothing to locate: give video numbers, or --file PATH (- for stdin)");
    }
    let mut reader = Ids::new(&config.batch.video_no_pattern, video_nos, file);
    let mut ids: Vec<VideoNo> = Vec::new();
    let mut seen = HashSet::new();
    let mut rejected = 0u64;
    while let Some(read) = reader.next().map_err(anyhow::Error::msg)? {
        match read {
            Read::Id(id) if seen.insert(id.clone()) => ids.push(id),
            Read::Id(_) => {}
            Read::Rejected(why) => {
                rejected += 1;
                complain!("memories-reaper: rejected {why}");
            }
        }
        if ids.len() > LOCATE_MAX {
            anyhow::bail!(
                "locate takes at most {LOCATE_MAX} distinct ids (each is looked up in every \
                 namespace); split the file"
            );
        }
    }
    let (key, _) = crate::credentials::load(config.api.api_key_file.as_deref())?;
    let lookups = crate::api::Lookups::new(
        config.api.base_url.url(),
        config.lookup.requests_per_second.get(),
    );
    let client = crate::api::Client::new(&config.api, lookups)?;
    let mut namespaces: Vec<String> = client
        .namespaces(&key)
        .await
        .map_err(|why| anyhow::anyhow!("cannot list the account's namespaces: {why}"))?
        .into_iter()
        .collect();
    namespaces.sort();
    let chunks = ids.len().div_ceil(crate::config::API_MAX_BATCH);
    let mut progress = Progress::new("looking up", (namespaces.len() * chunks) as u64);
    let mut found: HashMap<VideoNo, Vec<String>> = HashMap::new();
    let mut looked = 0usize;
    for name in &namespaces {
        // A namespace the API lists but this program would not send to: skipped, said.
        let Ok(namespace) = Namespace::parse(name) else {
            complain!(
                "memories-reaper: skipped namespace {}: not one this program can address",
                crate::printable::quoted(name, crate::printable::QUOTED)
            );
            continue;
        };
        looked += 1;
        for chunk in ids.chunks(crate::config::API_MAX_BATCH) {
            match client.list(&key, &namespace, chunk).await {
                Listing::Listed(listed) => {
                    for id in chunk.iter().filter(|id| listed.contains(id.as_str())) {
                        found.entry(id.clone()).or_default().push(name.clone());
                    }
                }
                Listing::Unavailable(why) => {
                    progress.finish();
                    anyhow::bail!("the lookups in namespace {namespace} cannot be used: {why}");
                }
            }
            progress.step();
        }
    }
    progress.finish();
    let mut missing = 0u64;
    for id in &ids {
        match found.get(id) {
            Some(places) => {
                let places: Vec<String> = places
                    .iter()
                    .map(|p| crate::printable::escaped(p))
                    .collect();
                say!("{id}\t{}", places.join("\t"));
            }
            None => {
                missing += 1;
                say!("{id}\t-");
            }
        }
    }
    complain!(
        "memories-reaper: {} of {} ids found, in {} namespaces looked through; {missing} not found; {rejected} rejected",
        ids.len() as u64 - missing,
        ids.len(),
        looked
    );
    Ok(u8::from(missing + rejected > 0))
}
